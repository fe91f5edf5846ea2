"""The recorder and the outbox write under a lease the database checks in the same transaction (private PostgreSQL).

The old holder's clock is frozen, so it still believes it holds its leases: only the database can refuse it,
which is the case that matters (a node that has not noticed a takeover yet).
"""

from __future__ import annotations

import time
from typing import Iterator

import pytest

from netwatch.alerting.decide import Change, Decision
from netwatch.cluster.leases import LeaseTiming
from netwatch.cluster.membership import Membership
from netwatch.cluster.node import ClusterNode
from netwatch.model import Outcome, Result
from netwatch.notify.outbox import Delivery
from netwatch.recorder import Recorder
from netwatch.store import FencedWrite, Store
from netwatch.store.cluster import ClusterStore, StaleLease
from tests.alerting.test_record import CONFIG_, down, page, q
from tests.peers import postgres

SLOTS = 8
TIMING = LeaseTiming(ttl_seconds=1.0, renew_seconds=0.25, margin_seconds=0.2)


@pytest.fixture
def database(pg_cluster: postgres.Cluster) -> Iterator[str]:
    name = pg_cluster.create_database("fence")
    try:
        yield name
    finally:
        pg_cluster.drop_database(name)


def cluster_store(pg: postgres.Cluster, database: str) -> ClusterStore:
    store = ClusterStore(pg.url(database), pg.password, pg.url(database))
    store.ensure_schema(SLOTS)
    return store


def frozen_node(pg: postgres.Cluster, database: str, name: str) -> tuple[ClusterNode, ClusterStore]:
    """A node whose monotonic clock never moves: its own fence never closes, only the database's can."""
    db = cluster_store(pg, database)
    writer = cluster_store(pg, database)
    node = ClusterNode(Membership(db, name, "dc", "h", TIMING, SLOTS, clock=lambda: 100.0), writer)
    node.membership.tick()
    return node, db


def outage() -> Decision:
    t = down("router/tcp", 1000.0)
    return Decision((Change(t, page("router/tcp", t, 1000.0)),))


def result(check_id: str, ts: float) -> Result:
    return Result(check_id, check_id.split("/")[0], "tcp", ts, 0.01, Outcome(ok=False, error="refused"))


def take_over(pg: postgres.Cluster, database: str) -> ClusterStore:
    """Another node takes every lease once the first one's have run out in database time."""
    other = cluster_store(pg, database)
    other.join("dc-2", "dc", "h", 6)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        other.claim("dc-2", "dc", SLOTS, 6.0)
        if other.coordinate("dc-2", 6.0) is not None and set(other.owners("dc").values()) == {"dc-2"}:
            return other
        time.sleep(0.1)
    raise AssertionError("the takeover did not happen")


async def test_a_takeover_between_decide_and_commit_refuses_the_old_coordinators_decision(
        pg_cluster: postgres.Cluster, database: str) -> None:
    history = Store.open(pg_cluster.spec(database))
    old, old_db = frozen_node(pg_cluster, database, "dc-1")
    other: ClusterStore | None = None
    try:
        old_db.ensure_incident_indexes()
        assert old.coordinating() and old.membership.coordinator_epoch == 1
        recorder = Recorder(history, history.start_run("t", 1, 1000.0), {}, 86400.0, 86400.0, clock=lambda: 1000.5)
        # decided under epoch 1 ...
        recorder.add_decision(outage(), old.coordinator_fence())
        # ... and before the commit, the lease runs out in database time and dc-2 takes over
        other = take_over(pg_cluster, database)
        assert old.coordinating()                       # the old node has not noticed
        assert await recorder.flush()                   # not an error to retry: dropped
        assert recorder.fenced_total["decisions"] == 1 and recorder.pending_decisions() == []
        assert q(history, "SELECT count(*) FROM transitions") == [(0,)]
        assert q(history, "SELECT count(*) FROM incidents") == [(0,)]
        assert q(history, "SELECT count(*) FROM outbox") == [(0,)]
        # the new coordinator decides the same outage: exactly one incident and one outbox row per channel
        new = ClusterNode(Membership(other, "dc-2", "dc", "h", TIMING, SLOTS, clock=lambda: 100.0), other)
        new.membership.coordinator_epoch = 2
        recorder.add_decision(outage(), new.coordinator_fence())
        assert await recorder.flush()
        assert q(history, "SELECT count(*) FROM incidents") == [(1,)]
        assert q(history, "SELECT count(*) FROM outbox") == [(1,)]
        # the old coordinator's outbox marks are refused too (its delivery loop stops; dc-2 delivers)
        with pytest.raises(FencedWrite):
            with history.transaction() as tx:
                old.coordinator_guard(tx)
        with history.transaction() as tx:
            new.coordinator_guard(tx)
        # a decision made while not coordinating at all is refused without asking the database for a lease
        old.membership.coordinator_epoch = None
        recorder.add_decision(outage(), old.coordinator_fence())
        assert await recorder.flush() and recorder.fenced_total["decisions"] == 2
        assert q(history, "SELECT count(*) FROM incidents") == [(1,)]
    finally:
        for s in (old_db, old.writer, other):
            if s is not None:
                s.close()
        history.close()


async def test_the_outbox_sent_mark_of_a_deposed_coordinator_is_refused(
        pg_cluster: postgres.Cluster, database: str) -> None:
    history = Store.open(pg_cluster.spec(database))
    old, old_db = frozen_node(pg_cluster, database, "dc-1")
    other: ClusterStore | None = None
    try:
        recorder = Recorder(history, history.start_run("t", 1, 1000.0), {}, 86400.0, 86400.0, clock=lambda: 1000.5)
        recorder.add_decision(outage(), old.coordinator_fence())
        assert await recorder.flush()
        delivery = Delivery(history, lambda: CONFIG_.paging, lambda: CONFIG_.site.tz, lambda text: text,
                            guard=old.coordinator_guard)
        rows = delivery._load("chat")
        assert len(rows) == 1
        other = take_over(pg_cluster, database)
        with pytest.raises(StaleLease):
            delivery._finish(rows, "sent", None)
        assert q(history, "SELECT state FROM outbox") == [("pending",)]   # the next coordinator sends it
    finally:
        for s in (old_db, old.writer, other):
            if s is not None:
                s.close()
        history.close()


async def test_results_queued_before_a_takeover_are_refused_by_the_database(
        pg_cluster: postgres.Cluster, database: str) -> None:
    history = Store.open(pg_cluster.spec(database))
    old, old_db = frozen_node(pg_cluster, database, "dc-1")
    other: ClusterStore | None = None
    try:
        assert len(old.membership.owned_slots()) == SLOTS
        recorder = Recorder(history, history.start_run("t", 1, 1000.0), {}, 86400.0, 86400.0,
                            fence_results=old.fence_results)
        checks = [f"t{i}/tcp" for i in range(20)]
        now = time.time()   # recent: the recorder's retention prune keeps them
        for cid in checks:
            recorder.add_result(result(cid, now))
        assert await recorder.flush(), recorder.last_error
        assert recorder.fenced_total["results"] == 0
        assert q(history, "SELECT count(*) FROM results") == [(20,)]
        for cid in checks:
            recorder.add_result(result(cid, now + 10))
        other = take_over(pg_cluster, database)
        assert all(old.may_write(cid) for cid in checks)     # the old node still believes it owns them
        assert await recorder.flush()
        assert q(history, "SELECT count(*) FROM results") == [(20,)]
        assert recorder.fenced_total["results"] == 20 and old.results_fenced == 20
        # the old owner's single-vantage decision is refused as well
        recorder.add_decision(outage(), old.slot_fence("router/tcp"))
        assert await recorder.flush() and recorder.fenced_total["decisions"] == 1
        assert q(history, "SELECT count(*) FROM incidents") == [(0,)]
        names = {m.name for m in recorder.metrics()}
        assert "netwatch_store_fenced_writes" in names
    finally:
        for s in (old_db, old.writer, other):
            if s is not None:
                s.close()
        history.close()


async def test_single_node_recorder_shows_no_fencing_metric(tmp_path: object) -> None:
    store = Store.open(f"{tmp_path}/h.db")
    try:
        recorder = Recorder(store, store.start_run("t", 1, 1000.0), {}, 86400.0, 86400.0)
        assert "netwatch_store_fenced_writes" not in {m.name for m in recorder.metrics()}
    finally:
        store.close()


async def test_votes_are_written_in_batches_in_order_and_a_stale_row_costs_only_itself(
        pg_cluster: postgres.Cluster, database: str) -> None:
    from netwatch.config import loads
    from netwatch.store.cluster import Step
    node, db = frozen_node(pg_cluster, database, "dc-1")
    other: ClusterStore | None = None
    try:
        config = loads("""
store: /nonexistent.db
defaults: {alert: {fail_after: 3, recover_after: 2}}
targets:
  - {id: a, host: 127.0.0.1, checks: [{kind: tcp, port: 1}]}
  - {id: b, host: 127.0.0.1, checks: [{kind: tcp, port: 2}]}
""")
        a, b = config.check("a/tcp"), config.check("b/tcp")
        assert a is not None and b is not None
        for ts in (1.0, 2.0, 3.0):                    # three failures of a in one batch: counted in order
            node.queue_vote(a, result("a/tcp", ts))
        node.queue_vote(b, result("b/tcp", 1.0))
        node.flush_votes()
        assert node.votes_written == 4 and node.votes_refused == 0
        streaks = node.streaks(["a/tcp", "b/tcp"])
        assert (streaks["a/tcp"].fails, streaks["a/tcp"].down, streaks["a/tcp"].first_failure) == (3, True, 1.0)
        assert (streaks["b/tcp"].fails, streaks["b/tcp"].down) == (1, False)
        votes = node.writer.votes(["a/tcp", "b/tcp"])
        assert [(s, d, since) for s, d, _, since in votes["a/tcp"]] == [("dc", True, 1.0)]
        # a batch in which one row's lease moved: the rest is still written
        lease = node.membership.owns("a/tcp")
        assert lease is not None
        other = cluster_store(pg_cluster, database)
        written, refused = other.record_steps("dc-1", "dc", [
            Step("b/tcp", node.membership.owns("b/tcp").slot, node.membership.owns("b/tcp").epoch, True, 5.0, 3, 2),
            Step("a/tcp", lease.slot, lease.epoch + 7, True, 5.0, 3, 2)])
        assert (written, refused) == (1, 1)
        assert other.streaks("dc", ["b/tcp"])["b/tcp"].oks == 1
    finally:
        for s in (db, node.writer, other):
            if s is not None:
                s.close()


async def test_results_of_a_slot_given_back_by_a_rebalance_are_still_written(
        pg_cluster: postgres.Cluster, database: str) -> None:
    """A node stops probing a slot before it gives it back: what it probed under that lease is history."""
    from netwatch.config import loads
    history = Store.open(pg_cluster.spec(database))
    node, db = frozen_node(pg_cluster, database, "dc-1")
    other: ClusterStore | None = None
    try:
        config = loads("store: /nonexistent.db\ntargets:\n" + "".join(
            f"  - {{id: t{i}, host: 127.0.0.1, checks: [{{kind: tcp, port: 1}}]}}\n" for i in range(20)))
        recorder = Recorder(history, history.start_run("t", 1, 1000.0), {}, 86400.0, 86400.0,
                            fence_results=node.fence_results)
        now = time.time()
        for check in config.checks:
            r = result(check.id, now)
            node.queue_vote(check, r)      # remembers the lease the result was probed under
            recorder.add_result(r)
        assert db.release("dc-1", list(range(SLOTS))) == list(range(SLOTS))
        with node.membership._lock:
            node.membership._owned = {}       # as the membership does when it gives slots back
        other = cluster_store(pg_cluster, database)
        other.join("dc-2", "dc", "h", 6)
        assert len(other.claim("dc-2", "dc", SLOTS, 6.0)) == SLOTS
        assert await recorder.flush()
        assert q(history, "SELECT count(*) FROM results") == [(20,)] and recorder.fenced_total["results"] == 0
    finally:
        for s in (db, node.writer, other):
            if s is not None:
                s.close()
        history.close()
