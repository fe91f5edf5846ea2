"""Membership against a private PostgreSQL: fair share on join, takeover after a kill, self-fencing on a cut."""

from __future__ import annotations

import time
from typing import Iterator

import pytest

from netwatch.cluster.leases import LeaseTiming
from netwatch.cluster.membership import Membership
from netwatch.store.cluster import ClusterStore, StaleLease
from tests.cluster.proxy import Relay
from tests.peers import postgres

SLOTS = 48
TIMING = LeaseTiming(ttl_seconds=3.0, renew_seconds=0.5, margin_seconds=1.0)


@pytest.fixture
def database(pg_cluster: postgres.Cluster) -> Iterator[str]:
    name = pg_cluster.create_database("mb")
    ClusterStore(pg_cluster.url(name), pg_cluster.password, "db").ensure_schema(SLOTS)
    try:
        yield name
    finally:
        pg_cluster.drop_database(name)


def member(pg: postgres.Cluster, database: str, node: str, site: str = "dc", config_hash: str = "h",
           port: int | None = None, timing: LeaseTiming = TIMING) -> Membership:
    url = pg.url(database) if port is None else f"postgresql://{postgres.USER}@127.0.0.1:{port}/{database}"
    store = ClusterStore(url, pg.password, "db", statement_timeout_seconds=timing.statement_timeout_seconds,
                         connect_timeout_seconds=1)
    return Membership(store, node, site, config_hash, timing, SLOTS, max_moves=8)


def test_join_takes_fair_share_and_every_slot_stays_owned(pg_cluster: postgres.Cluster, database: str) -> None:
    a, b = member(pg_cluster, database, "dc-1"), member(pg_cluster, database, "dc-2")
    try:
        a.tick()
        assert len(a.owned_slots()) == SLOTS and a.coordinating()
        rounds = 0
        while len(b.owned_slots()) < SLOTS // 2 and rounds < 20:
            rounds += 1
            b.tick()
            a.tick()
            assert not set(a.owned_slots()) & set(b.owned_slots())
        b.tick()
        assert len(a.owned_slots()) == len(b.owned_slots()) == SLOTS // 2
        assert rounds <= 4                                  # 8 moves per renew: 24 slots in 3-4 renews
        assert a.coordinating() and not b.coordinating()    # the coordinator lease does not move on a join
        owners = ClusterStore(pg_cluster.url(database), pg_cluster.password, "db").owners("dc")
        assert all(owners[s] == "dc-1" for s in a.owned_slots()) and None not in owners.values()
        lease = next(a.owns(f"check-{i}", "dc") for i in range(200) if a.owns(f"check-{i}", "dc"))
        assert lease.epoch >= 1
    finally:
        a.stop()
        b.stop()


def test_a_killed_node_is_replaced_within_ttl_plus_two_renews(pg_cluster: postgres.Cluster, database: str) -> None:
    a, b = member(pg_cluster, database, "dc-1"), member(pg_cluster, database, "dc-2")
    try:
        a.tick()
        for _ in range(6):
            b.tick()
            a.tick()
        assert a.coordinating() and len(b.owned_slots()) == SLOTS // 2
        killed = time.monotonic()                           # a stops renewing: like kill -9
        while len(b.owned_slots()) < SLOTS or not b.coordinating():
            assert time.monotonic() - killed < TIMING.ttl_seconds + 2 * TIMING.renew_seconds + 1.0
            time.sleep(TIMING.renew_seconds)
            b.tick()
        took = time.monotonic() - killed
        print(f"\nkill -> all slots and the coordinator re-owned: {took:.2f} s (TTL {TIMING.ttl_seconds:g} s)")
        assert took <= TIMING.ttl_seconds + 2 * TIMING.renew_seconds, took
        assert b.coordinator_epoch == 2
    finally:
        a.stop(leave=False)
        b.stop()


def test_a_partitioned_node_fences_itself_before_its_leases_expire(pg_cluster: postgres.Cluster,
                                                                   database: str) -> None:
    relay = Relay(pg_cluster.port)
    a = member(pg_cluster, database, "dc-1", port=relay.port)
    watcher = ClusterStore(pg_cluster.url(database), pg_cluster.password, "db")
    try:
        a.tick()
        owned = a.owned_slots()
        assert len(owned) == SLOTS and not a.fenced()
        slot, epoch = next(iter(owned.items()))
        relay.cut.set()
        cut = time.monotonic()
        a.start()                                           # the renew loop keeps trying through the cut
        while not a.fenced():
            time.sleep(0.02)
            assert time.monotonic() - cut < TIMING.ttl_seconds
        fenced_after = time.monotonic() - cut
        print(f"\ncut -> fenced: {fenced_after:.2f} s (deadline TTL - margin = "
              f"{TIMING.ttl_seconds - TIMING.margin_seconds:g} s after the last renew was sent)")
        # fenced while the database still counts its leases as live: nobody else could own them yet
        owners = watcher.owners("dc")
        assert all(owners[s] == "dc-1" for s in owned), "the node fenced itself only after its leases expired"
        assert a.owns("anything") is None and not a.coordinating()
        assert fenced_after <= TIMING.ttl_seconds - TIMING.margin_seconds + 0.1
        # once the leases run out in database time, a write with the old epoch is refused by the database
        time.sleep(TIMING.ttl_seconds - fenced_after + 0.3)
        with pytest.raises(StaleLease):
            watcher.record_step("dc-1", slot, epoch, "c", "dc", False, 1.0, 1, 1)
        relay.cut.clear()
        deadline = time.monotonic() + 10
        while a.fenced() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not a.fenced()                               # the cut heals: the node claims again
    finally:
        a.stop()
        watcher.close()
        relay.close()


def test_a_node_whose_config_differs_takes_no_work(pg_cluster: postgres.Cluster, database: str) -> None:
    a = member(pg_cluster, database, "dc-1", config_hash="aaa")
    b = member(pg_cluster, database, "dc-2", config_hash="bbb")
    try:
        a.tick()
        b.tick()
        b.tick()
        assert b.refused and "differs from the cluster's" in b.refused and b.owned_slots() == {}
        status = ClusterStore(pg_cluster.url(database), pg_cluster.password, "db").status()
        assert {n.node: n.refused is not None for n in status.nodes} == {"dc-1": False, "dc-2": True}
        b.config_hash = "aaa"
        b.tick()
        assert b.refused is None
        # a node that held slots and the coordinator lease gives both back when its config diverges
        a.config_hash = "zzz"
        a.tick()
        assert a.refused and a.owned_slots() == {} and not a.coordinating()
        b.tick()
        assert len(b.owned_slots()) == SLOTS and b.coordinating()
    finally:
        a.stop()
        b.stop()


def test_a_coordinator_that_cannot_deliver_hands_the_lease_over(pg_cluster: postgres.Cluster, database: str) -> None:
    """Its waiting message has failed every send past `handover_after`: it stops starting sends, waits out
    the sends in flight (TTL - margin - renew), gives the lease back and keeps off it; the other node
    coordinates at its next renew. Alone, a coordinator keeps the lease and goes on trying."""
    now = [1000.0]
    undelivered = [0.0]
    a, b = member(pg_cluster, database, "dc-1"), member(pg_cluster, database, "dc-2")
    for m in (a, b):
        m.clock = lambda: now[0]
        m.handover_after_seconds = 30.0
    a.undelivered = lambda: undelivered[0]
    try:
        a.tick()
        assert a.coordinating()
        undelivered[0] = 45.0                   # nobody else live yet: a keeps trying
        a.tick()
        assert a.coordinating() and not a.handing_over()
        b.tick()
        a.tick()
        assert a.handing_over() and a.coordinating()          # no new send starts; the lease is still held
        now[0] += TIMING.ttl_seconds - TIMING.margin_seconds - TIMING.renew_seconds
        a.tick()
        assert not a.coordinating() and a.handovers_total == 1
        b.tick()
        assert b.coordinating() and b.coordinator_epoch == 2
        undelivered[0] = 0.0
        now[0] += TIMING.renew_seconds
        a.tick()                                # inside its yield period a does not even ask
        assert not a.coordinating()
        now[0] += TIMING.ttl_seconds + 2 * TIMING.renew_seconds
        b.tick()
        a.tick()                                # b holds it: a does not take it back
        assert b.coordinating() and not a.coordinating()
        history = ClusterStore(pg_cluster.url(database), pg_cluster.password, "db").ownership_history()
        assert [(prev, node) for _, node, prev, _, reason in history if reason == "coordinator"] == [("dc-1", "dc-2")]
    finally:
        a.stop()
        b.stop()
