"""Reports of a cluster: time with no live lease is unknown, and a handover's two rollups merge exactly."""

from __future__ import annotations

import time
from typing import Any

from netwatch.model import Outcome, Result, State
from netwatch.report.summary import CheckInfo, History, Period, build
from netwatch.report.timeline import Change, Coverage, LeaseEvent, lease_spans
from netwatch.store import Store
from netwatch.store.cluster import ClusterStore
from netwatch.store.reports import ReportReader
from tests.peers import postgres

END = 1_000_000


def test_lease_spans_end_at_expiry_not_at_the_takeover() -> None:
    events = [LeaseEvent("dc", 3, "dc-1", 0),
              LeaseEvent("dc", 3, "dc-2", 20_000, previous_expires_ms=12_000),   # dc-1 died; expired at 12 s
              LeaseEvent("dc", 3, None, 30_000),                                  # dc-2 gave it back
              LeaseEvent("dc", 3, "dc-1", 31_000),
              LeaseEvent("venue", 3, "venue-1", 5_000)]
    spans = lease_spans(events, {("dc", 3): 50_000, ("venue", 3): None}, END)
    assert spans[("dc", 3)] == [(0, 12_000), (20_000, 30_000), (31_000, 50_000)]   # still held until its expiry
    assert spans[("venue", 3)] == [(5_000, END)]


def test_coverage_intersection() -> None:
    runs = Coverage([(0, 100), (200, 300)])
    lease = Coverage([(50, 250), (280, 400)])
    assert runs.intersect(lease).spans == ((50, 100), (200, 250), (280, 300))
    assert runs.intersect(Coverage([])).spans == ()


def history(check_coverage: dict[str, Coverage]) -> History:
    info = CheckInfo("web/tcp", "web", "web", "hall", "tcp", 99.9, False)
    return History(site="lab", timezone="UTC", event="", from_ms=0, to_ms=100_000,
                   periods=[Period("all", "all", 0, 100_000)], zone_names={"hall": "Hall"}, checks=[info],
                   changes={"web/tcp": [Change(0, 0, State.UP)]}, coverage=Coverage([(0, 100_000)]),
                   check_coverage=check_coverage)


def test_time_without_a_live_lease_is_unknown_never_up() -> None:
    [row] = build(history({})).rows
    assert row.numbers.ms[State.UP] == 100_000
    [row] = build(history({"web/tcp": Coverage([(0, 40_000), (55_000, 100_000)])})).rows
    assert (row.numbers.ms[State.UP], row.numbers.ms[State.UNKNOWN]) == (85_000, 15_000)
    assert row.numbers.availability == 1.0          # unknown is left out, not counted as up


def test_lease_history_records_when_an_expired_lease_ran_out(pg_cluster: postgres.Cluster) -> None:
    name = pg_cluster.create_database("leases")
    spec = pg_cluster.spec(name)
    a = ClusterStore(pg_cluster.url(name), pg_cluster.password, "a")
    b = ClusterStore(pg_cluster.url(name), pg_cluster.password, "b")
    try:
        a.ensure_schema(4)
        a.join("dc-1", "dc", "h", 0.5)
        b.join("dc-2", "dc", "h", 30)
        assert a.claim("dc-1", "dc", 4, 0.5)
        time.sleep(1.5)                               # dc-1 dies: its leases run out in database time
        assert len(b.claim("dc-2", "dc", 4, 30)) == 4
        reader = ReportReader(spec)
        try:
            found = reader.lease_history()
        finally:
            reader.close()
        assert found is not None
        slots, rows, live = found
        assert slots == 4 and len(live) == 4
        takeovers = [r for r in rows if r[2] == "dc-2"]
        claims = {r[1]: r[3] for r in rows if r[2] == "dc-1"}
        assert len(takeovers) == 4
        for site, slot, node, at, previous_expires in takeovers:
            assert previous_expires is not None and claims[slot] + 0.4 < previous_expires < at - 0.5
        spans = lease_spans([LeaseEvent(s, sl, n, int(t * 1000), int(p * 1000) if p else None)
                             for s, sl, n, t, p in rows], {}, int(time.time() * 1000) + 1000)
        [(first_start, first_end), (second_start, _)] = spans[("dc", 0)]
        assert second_start - first_end >= 500        # the gap nobody held the slot is not covered
    finally:
        a.close()
        b.close()
        pg_cluster.drop_database(name)


def results(ts: list[float], ok: bool = True) -> list[Result]:
    return [Result("web/tcp", "web", "tcp", t, 0.01, Outcome(ok=ok)) for t in ts]


def rollup_rows(store: Store) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.rollups_between(0, 10 ** 10, ["web/tcp"])]


def test_two_owners_rollups_of_one_check_merge_exactly(store_spec: Any, tmp_path: Any) -> None:
    """A handover inside one 5-minute bucket: the old owner's late writes and the new owner's ones add up."""
    base = 1_800_000_000.0                      # a bucket boundary (multiple of 300 s)
    old, new = Store.open(store_spec), Store.open(store_spec)
    try:
        old.record_results(results([base + 1, base + 2]), [0.010, 0.020])
        new.record_results(results([base + 3]), [0.030])                     # takes over, reads the row
        old.record_results(results([base + 4], ok=False), [None])           # the old owner's queued result
        new.record_results(results([base + 5, base + 6]), [0.040, 0.500])
        old.flush_rollups()
        new.flush_rollups()
        merged = rollup_rows(new)
    finally:
        old.close()
        new.close()
    one = Store.open(str(tmp_path / "one.db"))
    try:
        one.record_results(results([base + 1, base + 2]), [0.010, 0.020])
        one.record_results(results([base + 3]), [0.030])
        one.record_results(results([base + 4], ok=False), [None])
        one.record_results(results([base + 5, base + 6]), [0.040, 0.500])
        one.flush_rollups()
        single = rollup_rows(one)
    finally:
        one.close()
    assert len(merged) == len(single) == 1
    assert merged[0][:6] == single[0][:6] and abs(merged[0][6] - single[0][6]) < 1e-9
    assert merged[0][7:] == single[0][7:]


def test_a_closed_bucket_is_compacted(store_spec: Any) -> None:
    base = 1_800_000_000.0
    store = Store.open(store_spec)
    try:
        for i in range(5):
            store.record_results(results([base + i]), [0.010])       # five batches: five joined fragments
        with store.db.read() as tx:
            [(joined,)] = tx.fetchall("SELECT latency_hist FROM rollups WHERE bucket_start = ?", (base,))
        assert joined.count(",") == 4
        store.record_results(results([base + 300]), [0.010])         # the next bucket: the first is closed
        with store.db.read() as tx:
            rows = tx.fetchall("SELECT bucket_start, count, latency_hist FROM rollups ORDER BY bucket_start")
        assert [(r[0], r[1], "," in r[2]) for r in rows] == [(base, 5, False), (base + 300, 1, False)]
        first, second = rollup_rows(store)
        assert sum(first[8]) == 5 and sum(second[8]) == 1 and first[8].index(5) == second[8].index(1)
    finally:
        store.close()


def test_too_few_fresh_votes_is_unknown_time() -> None:
    """The coordinator records 'unknown' when too few fresh votes can decide: reports never count it as up."""
    h = history({})
    h.changes["web/tcp"] = [Change(0, 0, State.UP), Change(30_000, 30_000, State.UNKNOWN),
                            Change(50_000, 50_000, State.UP)]
    [row] = build(h).rows
    assert (row.numbers.ms[State.UP], row.numbers.ms[State.UNKNOWN]) == (80_000, 20_000)
