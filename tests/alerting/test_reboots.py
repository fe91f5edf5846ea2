"""Reboot pages: the decider's rules as a table with injected time, then the notice written without an incident."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from netwatch.alerting.decide import Decider, Decision, RebootNotice
from netwatch.alerting.state import CheckState
from netwatch.config import loads
from netwatch.config.store import StoreSpec
from netwatch.model import Check, Outcome, Result, State
from netwatch.recorder import Recorder
from netwatch.store import Store

CONFIG = """
store: /nonexistent.db
zones: [{id: core, name: Phòng máy chủ}]
channels:
  chat: {urls: ["json://127.0.0.1:9/chat"]}     # example: never contacted
  sms: {urls: ["json://127.0.0.1:9/sms"]}       # example
%s
targets:
  - {id: core-router, name: Bộ định tuyến lõi, zone: core, host: 127.0.0.1,
     checks: [{kind: snmp, community: public, port: 9}, {kind: tcp, port: 9}]}
  - {id: sw, host: 127.0.0.1, checks: [{kind: tcp, port: 9, alert: {notify: [chat]}}]}
"""
T0 = 1_765_674_000.0
DAY = 86400.0


@dataclass
class View:
    check: Check
    state: CheckState
    result: Result | None


def decider(extra: str = "") -> Decider:
    return Decider(loads(CONFIG % extra), {})


def views(d: Decider, polled_at: float | None = None, uptime: float | None = None) -> dict[str, View]:
    out = {}
    for c in d.config.checks:
        result = None
        if polled_at is not None and c.kind == "snmp":
            result = Result(c.id, c.target.id, c.kind, polled_at, 0.01,
                            Outcome(ok=True, measurements={"uptime_seconds": uptime or 0.0}))
        out[c.id] = View(c, CheckState(State.UP, T0 - DAY), result)
    return out


def notices(decision: Decision) -> list[RebootNotice]:
    return [i for i in decision.items if isinstance(i, RebootNotice)]


@pytest.mark.parametrize("sightings, pages", [
    # (target, seen at, uptime then, source): the trap at boot and the next poll's uptime reset are one reboot
    ([("core-router", T0 + 5, 5.0, "trap"), ("core-router", T0 + 40, 40.0, "poll")], [True, False]),
    ([("core-router", T0 + 40, 40.0, "poll"), ("core-router", T0 + 42, 2.0, "trap")], [True, False]),
    # a trap without sysUpTime and a poll 30 s later: still within the tolerance
    ([("core-router", T0 + 5, None, "trap"), ("core-router", T0 + 35, 30.0, "poll")], [True, False]),
    # a second reboot ten minutes later is its own
    ([("core-router", T0 + 5, 5.0, "trap"), ("core-router", T0 + 605, 5.0, "trap")], [True, True]),
    # two devices rebooting together: each pages
    ([("core-router", T0 + 5, 5.0, "trap"), ("sw", T0 + 5, 5.0, "trap")], [True, True]),
    # a device not in the config (a trap from an unknown sender is refused before this) pages nothing
    ([("ghost", T0 + 5, 5.0, "trap")], [False]),
])
def test_each_reboot_pages_once(sightings: list[tuple[str, float, float | None, str]], pages: list[bool]) -> None:
    d = decider()
    got = [bool(notices(d.on_reboot(t, at, up, None, src, views(d), at))) for t, at, up, src in sightings]
    assert got == pages


def test_the_notice_says_when_it_restarted_and_how_long_it_had_run() -> None:
    d = decider()
    # the last poll, an hour before the reboot, saw 3 days 3 hours of uptime
    polled = T0 - 3600
    (n,) = notices(d.on_reboot("core-router", T0 + 40, 40.0, None, "trap", views(d, polled, 3 * DAY + 3 * 3600), T0))
    assert n.channels == ("chat", "sms")
    assert n.facts["at"] == T0 and n.facts["uptime_before"] == 3 * DAY + 4 * 3600
    assert (n.facts["target_name"], n.facts["zone_name"], n.facts["source"]) == ("Bộ định tuyến lõi",
                                                                                   "Phòng máy chủ", "trap")
    (n,) = notices(d.on_reboot("sw", T0, 1.0, 7200.0, "poll", views(d), T0))
    assert n.channels == ("chat",) and n.facts["uptime_before"] == 7200.0       # the check's own notify list


@pytest.mark.parametrize("extra", [
    "paging: {reboots: false}",
    "maintenance: [{start: '2025-12-13T00:00', end: '2025-12-15T00:00', targets: [core-router], reason: firmware}]",
])
def test_reboots_off_or_in_maintenance_page_nothing(extra: str) -> None:
    d = decider(extra)
    assert not notices(d.on_reboot("core-router", T0 + 5, 5.0, None, "trap", views(d), T0 + 5))


def test_a_reboot_never_changes_a_state_or_opens_an_outage() -> None:
    d = decider()
    decision = d.on_reboot("core-router", T0 + 5, 5.0, None, "trap", views(d), T0 + 5)
    assert decision.transitions == [] and decision.overlays == () and d.eff == {}


async def test_a_reboot_notice_is_written_without_an_incident(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    recorder = Recorder(store, store.start_run("test", 1, T0), {}, DAY, DAY, clock=lambda: T0 + 5)
    d = decider()
    recorder.add_decision(d.on_reboot("core-router", T0 + 5, 5.0, None, "trap", views(d), T0 + 5))
    assert await recorder.flush()
    with store.db.read() as c:
        assert c.fetchall("SELECT COUNT(*) FROM incidents") == [(0,)]
        rows = c.fetchall("SELECT incident_id, channel, kind, dedup_key FROM outbox ORDER BY id")
    assert rows == [(None, "chat", "reboot", f"reboot-core-router-{int(T0)}"),
                    (None, "sms", "reboot", f"reboot-core-router-{int(T0)}")]
    store.close()


def test_a_trap_after_the_reboots_silence_still_says_how_long_it_had_run() -> None:
    """The polls during the silence fail and carry no uptime: the last poll that answered is what counts."""
    d = decider()
    check = d.config.check("core-router/snmp")
    assert check is not None
    vs = views(d)
    ok = Result(check.id, "core-router", "snmp", T0 - 60, 0.01,
                Outcome(ok=True, measurements={"uptime_seconds": 202 * DAY + 5 * 3600 - 60}))
    d.on_result(check, ok, None, vs, T0 - 60)
    for at in (T0 - 5, T0 + 5, T0 + 15):      # silent while it restarts
        d.on_result(check, Result(check.id, "core-router", "snmp", at, 2.0, Outcome.fail("timeout")), None, vs, at)
    (n,) = notices(d.on_reboot("core-router", T0 + 22, 2.0, None, "trap", vs, T0 + 22))
    assert n.facts["at"] == T0 + 20 and n.facts["uptime_before"] == 202 * DAY + 5 * 3600 + 20


def outbox_reboots(store: Store) -> list[tuple[str, str]]:
    with store.db.read() as c:
        return [(str(ch), str(key)) for ch, key in
                c.fetchall("SELECT channel, dedup_key FROM outbox WHERE kind = 'reboot' ORDER BY id")]


async def test_one_reboot_seen_on_two_nodes_and_after_a_handover_pages_once(store_spec: StoreSpec) -> None:
    """A cluster: each node has its own decider over the one shared history. The slot owner sees the poll
    (sysUpTime back), the coordinator the trap, and after a handover a new coordinator (empty memory) hears the
    trap again: one notice per channel. Each decider alone would page its own sighting."""
    import time
    t0 = float(int(time.time()))    # real time: the recorder prunes claims older than a day by the wall clock
    stores = [Store.open(store_spec) for _ in range(3)]     # three nodes, three connections
    try:
        recorders = [Recorder(s, s.start_run("test", 1, t0), {}, DAY, DAY, clock=lambda: t0 + 60) for s in stores]
        owner, coordinator, next_coordinator = decider(), decider(), decider()
        recorders[0].add_decision(owner.on_reboot("core-router", t0 + 40, 38.0, None, "poll", views(owner), t0 + 40))
        recorders[1].add_decision(coordinator.on_reboot("core-router", t0 + 5, 5.0, None, "trap", views(coordinator),
                                                        t0 + 5))
        recorders[2].add_decision(next_coordinator.on_reboot("core-router", t0 + 95, 95.0, None, "trap",
                                                             views(next_coordinator), t0 + 95))
        for r in recorders:
            assert await r.flush()
        assert outbox_reboots(stores[0]) == [("chat", f"reboot-core-router-{int(t0 + 2)}"),
                                             ("sms", f"reboot-core-router-{int(t0 + 2)}")]
        # the device reboots again ten minutes later: its own notice, whichever node sees it
        recorders[1].add_decision(coordinator.on_reboot("core-router", t0 + 605, 5.0, None, "trap",
                                                        views(coordinator), t0 + 605))
        recorders[0].add_decision(owner.on_reboot("core-router", t0 + 630, 30.0, None, "poll", views(owner), t0 + 630))
        for r in recorders:
            assert await r.flush()
        assert [key for _, key in outbox_reboots(stores[0])].count(f"reboot-core-router-{int(t0 + 600)}") == 2
        assert len(outbox_reboots(stores[0])) == 4
    finally:
        for s in stores:
            s.close()


@pytest.mark.parametrize("first, second, same", [
    (T0, T0 + 119.0, True),
    (T0 + 239.0, T0 + 241.0, True),       # across a cell edge of one grid: the other grid holds both
    (T0 + 119.0, T0 + 121.0, True),       # across an edge of the other grid
    (T0, T0 + 240.0, False),              # two reboots 4 minutes apart page twice
    (T0, T0 + 600.0, False),
])
def test_a_reboots_claim_covers_sightings_closer_than_the_tolerance(store_spec: StoreSpec, first: float,
                                                                     second: float, same: bool) -> None:
    from netwatch.alerting.decide import REBOOT_SAME_SECONDS
    from netwatch.store.outbox import claim_reboot

    first, second = first - T0 % 240.0, second - T0 % 240.0   # moments relative to a cell edge of grid 0
    store = Store.open(store_spec)
    try:
        with store.transaction() as c:
            assert claim_reboot(c, "sw", first, REBOOT_SAME_SECONDS, T0)
        with store.transaction() as c:
            assert claim_reboot(c, "sw", second, REBOOT_SAME_SECONDS, T0) is not same
            assert claim_reboot(c, "other", second, REBOOT_SAME_SECONDS, T0)     # another device is its own
        with store.db.read() as c:
            # a refused claim leaves nothing behind (half of it would widen the next reboot's shadow)
            assert c.fetchall("SELECT count(*) FROM reboots_paged WHERE target_id = 'sw'") == [(2 if same else 4,)]
    finally:
        store.close()


def test_two_nodes_claiming_one_reboot_at_once_page_it_once(store_spec: StoreSpec) -> None:
    """No read-then-insert: the second claim waits on the first transaction's key, then finds it taken."""
    import threading

    from netwatch.store.outbox import claim_reboot

    if store_spec.backend != "postgresql":
        pytest.skip("concurrent writers: PostgreSQL (SQLite serialises whole transactions)")
    one, two = Store.open(store_spec), Store.open(store_spec)
    got: list[bool] = []
    try:
        with one.transaction() as c:
            assert claim_reboot(c, "sw", T0, 120.0, T0)
            waiter = threading.Thread(target=lambda: got.append(_claim(two, T0 + 3.0)))
            waiter.start()
            waiter.join(1.0)
            assert waiter.is_alive()            # blocked on the uncommitted key, not deciding from a read
        waiter.join(10)
        assert got == [False]
    finally:
        one.close()
        two.close()


def _claim(store: Store, at: float) -> bool:
    from netwatch.store.outbox import claim_reboot
    with store.transaction() as c:
        return claim_reboot(c, "sw", at, 120.0, T0)
