"""Config history in the store (SQLite and PostgreSQL): versions, freezes, phase freezes, read-only use, and old stores."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from netwatch.configbackup import diff
from netwatch.config import StoreSpec
from netwatch.configbackup.repo import Repository, digest
from netwatch.store import Store


@dataclass(frozen=True)
class Phase:
    id: str
    start: float
    end: float


def test_versions_are_distinct_in_a_row(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    repo = Repository(store.db)
    a1 = repo.observe("r1", "a\n", 10.0)
    a2 = repo.observe("r1", "a\n", 20.0)
    b = repo.observe("r1", "b\n", 30.0)
    a3 = repo.observe("r1", "a\n", 40.0)
    other = repo.observe("r2", "a\n", 40.0)
    assert (a1.new, a2.new, b.new, a3.new, other.new) == (True, False, True, True, True)
    assert a2.current.id == a1.current.id and a2.current.ts == 10.0 and a2.current.last_seen_at == 20.0
    assert b.previous is not None and b.previous.id == a1.current.id
    assert a3.versions == 3 and other.versions == 1
    assert [v.sha256 for v in repo.versions("r1")] == [digest("a\n"), digest("b\n"), digest("a\n")]
    assert repo.latest("r1").last_seen_at == 40.0  # type: ignore[union-attr]
    store.close()
    ro = Repository.open_readonly(store_spec)   # `netwatch probe`: compares, records nothing
    assert ro is not None
    seen = ro.observe("r1", "z\n", 50.0)
    assert seen.new and seen.current.id == 0 and seen.versions == 4 and len(ro.versions("r1")) == 3
    ro.close()


def test_freeze_clear_and_phase_freeze_once(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    phase = Phase("during", 100.0, 200.0)
    repo = Repository(store.db, phase_at=lambda ts: phase if phase.start <= ts < phase.end else None)
    v1 = repo.observe("r1", "a\n", 50.0, freeze_at_phase="during")
    assert not v1.frozen_now and v1.baseline is None
    manual = repo.freeze("r1", v1.current.id, 60.0)
    assert manual.version is not None and repo.baseline("r1").id == v1.current.id  # type: ignore[union-attr]
    v2 = repo.observe("r1", "b\n", 110.0, freeze_at_phase="during")
    assert v2.frozen_now and v2.baseline is not None and v2.baseline.id == v2.current.id
    v3 = repo.observe("r1", "c\n", 120.0, freeze_at_phase="during")
    assert not v3.frozen_now and v3.baseline is not None and v3.baseline.text == "b\n"
    assert repo.observe("r1", "c\n", 130.0, freeze_at_phase="setup").baseline.text == "b\n"  # type: ignore[union-attr]
    repo.freeze("r1", None, 140.0)
    assert repo.baseline("r1") is None
    assert repo.freeze_of("r1").reason == "manual"  # type: ignore[union-attr]
    store.close()


def test_readonly_and_pre_migration_stores(tmp_path: Path) -> None:
    assert Repository.open_readonly(str(tmp_path / "missing.db")) is None
    assert not (tmp_path / "missing.db").exists()
    conn = sqlite3.connect(str(tmp_path / "old.db"))
    conn.execute("CREATE TABLE results (x)")
    conn.close()
    ro = Repository.open_readonly(str(tmp_path / "old.db"))
    assert ro is not None
    obs = ro.observe("r1", "a\n", 1.0)
    assert obs.new and obs.versions == 1 and obs.baseline is None and obs.current.id == 0
    assert ro.versions("r1") == []
    ro.close()


def test_diff_helpers() -> None:
    lines = diff.unified("a\nb\nc\n", "a\nB\nc\nd\n")
    assert lines[:2] == ["--- baseline", "+++ current"]
    assert diff.changed_lines(lines) == (2, 1)
    assert diff.head(lines) == "@@ -1,3 +1,4 @@\n a\n-b\n+B\n c\n+d"
    assert diff.unified("x\n", "x\n") == []
