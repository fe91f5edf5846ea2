"""The store on SQLite and PostgreSQL: migrations, results and rollups, transitions, runs, restart restore."""

from __future__ import annotations

import sqlite3

import pytest

from netwatch.config.store import StoreSpec
from netwatch.model import Transition
from netwatch.model import Event, Outcome, Result, State
from netwatch.store import Store
from netwatch.store.rollup import BUCKET_SECONDS, Rollup, bucket_start, decode_hist, encode_hist, quantile, rollup_rows
from netwatch.store.schema import MIGRATIONS


def result(check: str, ts: float, ok: bool = True, rtt: float = 0.01) -> Result:
    return Result(check, check.split("/")[0], "icmp", ts, rtt,
                  Outcome(ok=ok, error=None if ok else "timeout", measurements={"rtt_avg_seconds": rtt}))


def test_migrations_apply_once_and_are_recorded(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    assert store.schema_version() == sorted(name for name, _ in MIGRATIONS)
    assert store.migrate() == []
    assert {"results", "rollups", "transitions", "incidents", "outbox", "baselines"} <= store.db.tables()
    store.close()
    if store_spec.path is not None:
        conn = sqlite3.connect(store_spec.path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_stored_result_touches_no_per_check_index(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # An index on (check_id, ts) made every result dirty a random page of its own check (issue 18): the only
    # indexes on raw results go by time, which appends.
    path = str(tmp_path / "netwatch.db")
    Store.open(path).close()
    conn = sqlite3.connect(path)
    indexed = {tuple(r[2] for r in conn.execute(f"PRAGMA index_info({name!r})"))
               for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='results'")}
    assert indexed == {("ts",)}
    conn.close()


def test_results_fold_into_rollups_across_restarts(store_spec: StoreSpec) -> None:
    path = store_spec
    base = 1_800_000_000.0 - (1_800_000_000.0 % BUCKET_SECONDS)
    store = Store.open(path)
    store.record_results([result("a/icmp", base + i, rtt=0.001 * (i + 1)) for i in range(10)],
                         [0.001 * (i + 1) for i in range(10)])
    store.close()
    store = Store.open(path)  # a restart mid-bucket must add to the bucket, not overwrite it
    store.record_results([result("a/icmp", base + 20, ok=False)], [None])
    rows = store.rollups_between(base, base + BUCKET_SECONDS)
    assert len(rows) == 1
    check, start, count, ok, degraded, lat_n, lat_sum, lat_max, hist = rows[0]
    assert (check, start, count, ok, degraded, lat_n) == ("a/icmp", base, 11, 10, 0, 10)
    assert lat_sum == pytest.approx(0.055) and lat_max == pytest.approx(0.010)
    assert 0.004 < quantile(hist, 0.5) < 0.008  # true median 5.5 ms; log buckets are coarse
    assert len(store.results_for("a/icmp", base, base + 60)) == 11


def test_histogram_roundtrip_and_quantiles() -> None:
    hist = [0] * 27
    hist[5], hist[20] = 90, 10
    assert decode_hist(encode_hist(hist)) == hist
    assert quantile(hist, 0.5) < quantile(hist, 0.95)
    assert quantile([0] * 27, 0.5) is None


def test_rollup_rows_match_the_rollup_of_each_bucket() -> None:
    # (check, ts, duration, ok, degraded, error, latency): several results per bucket, buckets of two checks,
    # failed and degraded ones, no latency, negative and NaN latency, two results in one histogram bin.
    rows = [("a", 10.0, 0.1, 1, 0, None, 0.002), ("a", 20.0, 0.1, 1, 0, None, 0.002),
            ("a", 30.0, 0.1, 1, 1, None, 0.5), ("a", 40.0, 0.1, 0, 0, "timeout", None),
            ("a", 50.0, 0.1, 0, 1, "timeout", 0.3), ("a", BUCKET_SECONDS + 1, 0.1, 1, 0, None, 1e-5),
            ("b", 10.0, 0.1, 1, 0, None, None), ("b", 11.0, 0.1, 1, 0, None, -1.0),
            ("b", 12.0, 0.1, 1, 0, None, float("nan")), ("c", 5.0, 0.1, 1, 0, None, 250.0)]
    expected: dict[tuple[str, float], Rollup] = {}
    for check_id, ts, _, ok, degraded, _, latency in rows:
        key = (check_id, bucket_start(ts))
        expected.setdefault(key, Rollup(*key)).add(bool(ok), bool(degraded), latency)
    assert rollup_rows(rows) == {key: r.row() for key, r in expected.items()}
    assert rollup_rows([]) == {}


def test_transitions_runs_and_last_states(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    run_id = store.start_run("0.1.0", 123, 1000.0)
    store.record_transition(Transition("a/icmp", "a", 1010.0, 1010.0, State.UNKNOWN, State.UP), run_id)
    store.record_transition(Transition("a/icmp", "a", 1040.0, 1020.0, State.UP, State.DOWN, "timeout",
                                       "no reply"), run_id)
    store.record_transition(Transition("b/tcp", "b", 1015.0, 1015.0, State.UNKNOWN, State.UP), run_id)
    store.touch_run(run_id, 1050.0)
    last = store.last_states()
    assert last["a/icmp"].state is State.DOWN and last["a/icmp"].since == 1020.0
    assert last["a/icmp"].error == "timeout" and last["b/tcp"].state is State.UP
    assert store.runs_between(0, 2000) == [(1000.0, 1050.0)]
    assert [t.to_state for t in store.transitions_between(1000, 1041)] == [State.UP, State.UP, State.DOWN]


def test_events_and_retention(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    store.record_events([(100.0, "r/snmp", "r", Event("reboot", "sysUpTime went back", {"uptime_seconds": 3}))])
    assert store.events_between(0, 200) == [(100.0, "r/snmp", "r", "reboot", "sysUpTime went back",
                                             {"uptime_seconds": 3})]
    store.record_results([result("a/icmp", 10.0), result("a/icmp", 5000.0)], [0.01, 0.01])
    store.prune(now=6000.0, results_seconds=3000.0, rollups_seconds=10 * 86400)
    assert [ts for ts, _, _ in store.results_for("a/icmp", 0, 10_000)] == [5000.0]
    assert store.events_between(0, 200)  # events are kept for reports


def test_wait_for_change_wakes_on_commits_here_and_elsewhere(store_spec: StoreSpec) -> None:
    """Idle readers sleep until a commit: this process's, or another connection's (the CLI's `ack`)."""
    import threading
    import time

    store = Store.open(store_spec)
    other = Store.open(store_spec)   # another connection, as another process would have
    try:
        store.wait_for_change(0.05)  # the first call may start listening and report "maybe changed"
        began = time.monotonic()
        assert store.wait_for_change(0.4) is False
        assert time.monotonic() - began >= 0.35

        marker = store.db.change_marker()
        store.record_events([(1.0, None, None, Event("note", "here"))])
        began = time.monotonic()
        assert store.wait_for_change(5.0, since=marker) is True   # committed before the wait: not missed
        assert time.monotonic() - began < 0.5
        store.wait_for_change(0.1)   # a late copy of the same commit's notification, if any

        for writer in (store, other):
            timer = threading.Timer(0.3, writer.record_events, [[(2.0, None, None, Event("note", "later"))]])
            timer.start()
            began = time.monotonic()
            assert store.wait_for_change(5.0) is True
            waited = time.monotonic() - began
            timer.join()
            store.wait_for_change(0.05)   # drain what the same commit may have left
            assert 0.2 < waited < 2.0, (writer is other, waited)   # SQLite looks once a second
    finally:
        other.close()
        store.close()


def test_seen_marker_moves_at_once_for_this_process_and_for_another_once_a_look_saw_it(store_spec: StoreSpec) -> None:
    """seen_marker (no I/O: the paging tick's test of whether to read the store again) moves at once for a commit of
    this process, and for another connection's only once a look at the store saw it (the outbox watch's round:
    wait_for_change, then change_marker), and stays moved."""
    store = Store.open(store_spec)
    other = Store.open(store_spec)
    try:
        store.wait_for_change(0.05)   # the first call may start listening
        seen = store.db.seen_marker()
        store.record_events([(1.0, None, None, Event("note", "here"))])
        assert store.db.seen_marker() != seen
        store.wait_for_change(0.1)   # a late copy of the commit's notification, if any
        marker, seen = store.db.change_marker(), store.db.seen_marker()
        other.record_events([(2.0, None, None, Event("note", "elsewhere"))])
        assert store.db.seen_marker() == seen   # nobody looked yet
        assert store.wait_for_change(5.0, since=marker) is True
        store.db.change_marker()   # the watch's next marker must not take back what its wait saw
        assert store.db.seen_marker() != seen
    finally:
        other.close()
        store.close()


def test_two_processes_creating_the_schema_at_once(store_spec: StoreSpec) -> None:
    """The daemon and a CLI command starting together on a new database both open it."""
    from concurrent.futures import ThreadPoolExecutor

    def open_and_close(_: int) -> list[str]:
        store = Store.open(store_spec)
        try:
            return store.schema_version()
        finally:
            store.close()

    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(open_and_close, range(4)))
    assert versions == [sorted(name for name, _ in MIGRATIONS)] * 4


def test_a_batch_adds_the_same_rollup_rows_as_one_rollup_per_result() -> None:
    """rollup_rows (the store writer's fold of a batch, without an object per result) against Rollup.add."""
    import random

    from netwatch.store.rollup import Rollup, bucket_start, rollup_rows

    rng = random.Random(18)
    rows = []
    for _ in range(5000):
        latency = rng.choice([None, -1.0, 0.0, 1e-7, 500.0, rng.random() * 10 ** rng.uniform(-6, 2)])
        rows.append((f"c{rng.randrange(40)}", 1.7e9 + rng.random() * 3 * BUCKET_SECONDS, 0.1, rng.randrange(2),
                     rng.randrange(2), None, latency))
    expected: dict[tuple[str, float], Rollup] = {}
    for check_id, ts, _, ok, degraded, _, latency in rows:
        key = (check_id, bucket_start(ts))
        expected.setdefault(key, Rollup(*key)).add(bool(ok), bool(degraded), latency)
    assert rollup_rows(rows) == {key: r.row() for key, r in expected.items()}


@pytest.mark.parametrize("n", [0, 1, 2, 63, 64, 65, 130, 500])
def test_results_of_any_batch_size_are_stored_exactly_once_in_order(store_spec: StoreSpec, n: int) -> None:
    """A batch of any size is stored as given (`late` left to its default): no row lost, doubled or changed."""
    store = Store.open(store_spec)
    try:
        rows = [(f"c{i % 7}/icmp", 1000.0 + i, 0.001 * i, i % 2, int(i % 3 == 0), None if i % 2 else f"e{i}",
                 None if i % 5 == 0 else 1e-4 * i) for i in range(n)]
        store.record_rows(rows)   # type: ignore[arg-type]
        with store.db.read() as c:
            stored = c.fetchall("SELECT check_id, ts, duration_seconds, ok, degraded, error, latency_seconds, late "
                                "FROM results ORDER BY ts")
        assert stored == [(*row, 0) for row in rows]
        with store.db.read() as c:
            assert c.fetchone("SELECT SUM(count) FROM rollups")[0] == (n or None)   # type: ignore[index]
    finally:
        store.close()


def test_one_batch_of_rollup_rows_adds_two_rows_of_one_key(store_spec: StoreSpec) -> None:
    """The rollup upsert adds, never replaces: two rows of one key in one batch add up."""
    store = Store.open(store_spec)
    try:
        row = ("a/icmp", 0.0, 300.0, 1, 1, 0, 1, 0.5, 0.5, "3:1")
        with store.transaction() as c:
            Store._write_rollups(c, [row, (*row[:7], 0.25, 0.25, "2:1"), (*row[:1], 300.0, *row[2:])])
        assert [(r[0], r[1], r[2], r[3], r[6], r[7]) for r in store.rollups_between(0, 600)] == [
            ("a/icmp", 0.0, 2, 2, 0.75, 0.5), ("a/icmp", 300.0, 1, 1, 0.5, 0.5)]
        assert store.rollups_between(0, 300)[0][8] == decode_hist("3:1,2:1")
    finally:
        store.close()


def test_result_writes_wake_no_watcher_but_decisions_and_other_processes_do(store_spec: StoreSpec) -> None:
    """The writer commits results every second: that must not wake the outbox watch (and delivery behind it)
    each time. A commit that can change the outbox here, or any commit of another process (the CLI's ack),
    still wakes it."""
    store = Store.open(store_spec)
    other = Store.open(store_spec)   # another connection, as the CLI would have
    try:
        run_id = store.start_run("t", 1, 5.0)
        store.wait_for_change(0.05)   # the first call may start listening and report "maybe changed"
        marker = store.db.change_marker()
        store.record_results([result("a/icmp", 10.0)], [0.01])
        store.touch_run(run_id, 7.0)
        store.record_results([result("a/icmp", 20.0)], [0.01])
        store.prune(now=30.0, results_seconds=86400.0, rollups_seconds=86400.0)
        assert store.db.change_marker() == marker
        assert store.wait_for_change(0.3, since=marker) is False

        store.record_events([(1.0, None, None, Event("note", "here"))])   # a notifying write of this process
        assert store.wait_for_change(2.0, since=marker) is True
        marker = store.db.change_marker()
        other.record_transition(Transition("a/icmp", "a", 40.0, 40.0, State.UP, State.DOWN, "timeout"))
        assert store.wait_for_change(5.0, since=marker) is True
    finally:
        other.close()
        store.close()
