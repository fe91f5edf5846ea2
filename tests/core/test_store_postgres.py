"""PostgreSQL specifics: a server restart costs one counted write error and loses nothing; exact types."""

from __future__ import annotations

from netwatch.model import Event, Outcome, Result, State, Transition
from netwatch.recorder import Recorder
from netwatch.store import Store
from tests.peers.postgres import Cluster


async def test_a_server_restart_is_one_counted_write_error_and_nothing_is_lost(pg_cluster: Cluster) -> None:
    import time

    t0 = time.time()   # recent: the recorder prunes results older than the retention on its first flush
    name = pg_cluster.create_database("restart")
    store = Store.open(pg_cluster.spec(name))
    try:
        recorder = Recorder(store, store.start_run("test", 1, t0), {}, 86400.0, 86400.0)
        recorder.add_result(Result("a/tcp", "a", "tcp", t0, 0.01, Outcome(ok=True)))
        assert await recorder.flush()
        pg_cluster.restart()   # immediate stop: every connection is cut, as in a crash
        recorder.add_transition(Transition("a/tcp", "a", t0 + 10, t0 + 5, State.UP, State.DOWN, "refused"))
        recorder.add_result(Result("a/tcp", "a", "tcp", t0 + 10, 0.01, Outcome(ok=False, error="refused")))
        recorder.add_event(t0 + 10, "a/tcp", "a", Event("note", "during the restart"))
        assert not await recorder.flush()          # the cut connection fails once ...
        assert recorder.errors_total == 1
        metrics = {m.name: m for m in recorder.metrics()}
        assert metrics["netwatch_store_write_errors"].samples[0].value == 1
        assert await recorder.flush()              # ... and the next flush reconnects and writes it all
        assert [t.to_state for t in store.transitions_between(t0 - 1, t0 + 20)] == [State.DOWN]
        assert [ok for _, ok, _ in store.results_for("a/tcp", t0 - 1, t0 + 20)] == [True, False]
        assert [e[4] for e in store.events_between(t0 - 1, t0 + 20)] == ["during the restart"]
    finally:
        store.close()
        pg_cluster.drop_database(name)


def test_types_come_back_as_stored(pg_cluster: Cluster) -> None:
    """Floats stay floats (timestamps), integers stay integers (counts, ids), bytes stay bytes."""
    name = pg_cluster.create_database("types")
    store = Store.open(pg_cluster.spec(name))
    try:
        store.record_results([Result("a/icmp", "a", "icmp", 1_800_000_000.0, 0.5, Outcome(ok=True))], [0.001])
        [row] = store.rollups_between(1_800_000_000.0, 1_800_000_300.0)
        check, start, count, ok, degraded, lat_n, lat_sum, lat_max, hist = row
        assert type(start) is float and type(count) is int and type(lat_sum) is float and type(hist) is list
        big = 2 ** 63 - 1   # a Counter64 that wrapped past int64 would not fit: BIGINT holds the full int64 range
        with store.db.transaction() as tx:
            tx.execute("INSERT INTO audit (ts, who, action, what, source) VALUES (?,?,?,?,?)",
                       (1.5, "x", "y", str(big), "z"))
            rid = tx.insert("INSERT INTO runs (started_at, last_seen_at, version, pid) VALUES (?,?,?,?)",
                            (1.0, 2.0, "v", big))
            assert tx.fetchone("SELECT pid FROM runs WHERE id=?", (rid,)) == (big,)
            tx.execute("INSERT INTO baselines (target_id, url, taken_at, body, fingerprints) VALUES (?,?,?,?,?)",
                       ("t", "u", 3.0, b"\x00\xff", "{}"))
            assert tx.fetchone("SELECT body, taken_at FROM baselines") == (b"\x00\xff", 3.0)
            # `%` in SQL text is not a placeholder: LIKE patterns work as on SQLite.
            assert tx.fetchone("SELECT COUNT(*) FROM audit WHERE what LIKE '92%' AND who = ?", ("x",)) == (1,)
    finally:
        store.close()
        pg_cluster.drop_database(name)


def test_bulk_upsert_after_a_rolled_back_one(pg_cluster: Cluster) -> None:
    """Many-row upserts go through a staging table made in the transaction: a rollback takes it along."""
    import pytest

    name = pg_cluster.create_database("stage")
    store = Store.open(pg_cluster.spec(name))
    rows = [(f"c{i}", 300.0, 300.0, 1, 1, 0, 0, 0.0, 0.0, "") for i in range(60)]
    upsert = ("INSERT INTO rollups (check_id, bucket_start, bucket_seconds, count, ok_count, degraded_count, "
              "latency_count, latency_sum, latency_max, latency_hist) VALUES (?,?,?,?,?,?,?,?,?,?) "
              "ON CONFLICT (check_id, bucket_start) DO UPDATE SET count=excluded.count")
    try:
        with pytest.raises(RuntimeError):
            with store.db.transaction() as tx:
                tx.executemany(upsert, rows)
                raise RuntimeError("abandon")
        with store.db.transaction() as tx:
            tx.executemany(upsert, rows)
            tx.executemany(upsert, [(*r[:3], 5, *r[4:]) for r in rows])
        assert store.db.session.fetchall("SELECT COUNT(*), MIN(count), MAX(count) FROM rollups") == [(60, 5, 5)]
    finally:
        store.close()
        pg_cluster.drop_database(name)
