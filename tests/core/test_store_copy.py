"""`netwatch store copy`: a SQLite history copied into the config's store reports exactly the same."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from netwatch.cli import main
from netwatch.config import StoreSpec
from netwatch.model import State, Transition
from netwatch.report.cli import make_report, make_scope, render
from netwatch.store import Store
from tests.report.history import venue
from tests.report.test_report import NOW, write_history


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--lang", "en", *argv])
    return code, out.getvalue(), err.getvalue()


def test_copied_history_reports_the_same_and_a_second_copy_is_refused(
        tmp_path: Path, store_spec: StoreSpec, store_yaml: str) -> None:
    old = tmp_path / "old-venue.db"
    write_history(old)
    config = venue(tmp_path, store_yaml)
    code, out, err = run("store", "copy", "-c", str(tmp_path / "venue.yaml"), "--from", str(old))
    assert code == 0, err
    assert "copying results: " in err and "copying incidents: 1/1" in err   # progress on stderr
    assert out.startswith("copied ") and str(store_spec) in out

    scope = make_scope(config, "all", None, None, (), (), NOW)
    for fmt in ("json", "csv"):
        assert render(make_report(config, store_spec, scope), fmt, "vi") == \
            render(make_report(config, str(old), scope), fmt, "vi"), fmt
    report = json.loads(render(make_report(config, store_spec, scope), "json", "vi"))
    assert report["paging_data"] is True and report["audit"]

    # Ids are kept and new rows follow them (the identity sequence moved past the copied ids).
    store = Store.open(store_spec)
    try:
        copied_max = store.db.session.fetchone("SELECT MAX(id) FROM transitions")[0]  # type: ignore[index]
        new_id = store.record_transition(Transition("core/icmp", "core", NOW, NOW, State.UP, State.DOWN))
        assert new_id == copied_max + 1
    finally:
        store.close()

    code, _, err = run("store", "copy", "-c", str(tmp_path / "venue.yaml"), "--from", str(old))
    assert code == 1 and "already holds history" in err


def test_copy_needs_an_existing_source(tmp_path: Path) -> None:
    venue(tmp_path)
    code, _, err = run("store", "copy", "-c", str(tmp_path / "venue.yaml"), "--from", str(tmp_path / "nope.db"))
    assert code == 1 and "no SQLite history file" in err


def test_results_after_the_sources_last_rollup_pass_are_in_the_copied_rollups(
        tmp_path: Path, store_spec: StoreSpec, store_yaml: str) -> None:
    """The source's daemon died between two rollup passes (Store.defer_rollups): the copy adds what it had not."""
    from netwatch.store.copy import copy_history
    old = str(tmp_path / "old-venue.db")
    source = Store.open(old)
    source.defer_rollups(3600.0)
    base = 1_800_000_000.0
    source.record_rows([("a/icmp", base + 1, 0.01, 1, 0, None, 0.002)])          # a pass: none ran yet
    source.record_rows([("a/icmp", base + 11, 0.01, 1, 0, None, 0.004),
                        ("a/icmp", base + 400, 0.01, 0, 0, "timeout", None)])    # deferred, then killed:
    source.db.close()
    target = Store.open(store_spec)
    try:
        copy_history(old, target, lambda *_: None)
        rows = {r[1]: r[2:6] for r in target.rollups_between(0, 10 ** 10)}
        assert rows == {base: (2, 2, 0, 2), base + 300: (1, 0, 0, 0)}
    finally:
        target.close()
