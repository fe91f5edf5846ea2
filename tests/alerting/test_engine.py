"""The paging engine in process: results in, transitions, incidents and outbox rows out (real SQLite store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netwatch.app import Monitor
from netwatch.config import loads
from netwatch.model import Outcome, Result
from netwatch.store import Store
from netwatch.store.maintenance import add_window

CONFIG = """
store: "{store}"
zones: [{{id: hall, name: Hall}}]
channels:
  chat: {{urls: ["json://127.0.0.1:9/chat"]}}
  sms: {{urls: ["json://127.0.0.1:9/sms"], sms: {{strip_diacritics: true}}}}
escalation:
  warning:
    - {{after: 0s, notify: [chat]}}
  critical:
    - {{after: 0s, notify: [chat, sms]}}
    - {{after: 5m, notify: [sms]}}
defaults:
  interval: 10s
  alert: {{fail_after: 2, recover_after: 1}}
targets:
  - {{id: router, host: 127.0.0.1, zone: hall, checks: [{{kind: tcp, port: 1}}]}}
  - id: sw
    host: 127.0.0.1
    zone: hall
    depends_on: [router, router2]
    checks:
      - {{kind: tcp, port: 2}}
      - {{kind: tcp, port: 3, id: sw-quiet, alert: {{notify: []}}}}
  - {{id: router2, host: 127.0.0.1, checks: [{{kind: tcp, port: 4}}]}}
"""


def monitor(tmp_path: Path) -> Monitor:
    config = loads(CONFIG.format(store=tmp_path / "nw.db"))
    return Monitor(config, Store.open(config.store))


def feed(m: Monitor, check_id: str, ts: float, ok: bool, degraded: str | None = None) -> None:
    check = m.config.check(check_id)
    assert check is not None
    outcome = Outcome(ok=True, degraded=degraded) if ok else Outcome.fail("refused", "no")
    m.path.handle(check, Result(check.id, check.target.id, check.kind, ts, 0.01, outcome))


def rows(m: Monitor, sql: str) -> list[tuple[object, ...]]:
    with m.store.lock:
        return m.store.conn.execute(sql).fetchall()


async def test_redundant_parents_degraded_and_record_only(tmp_path: Path) -> None:
    m = monitor(tmp_path)
    for ts in (1.0, 2.0):
        for cid in ("router/tcp", "router2/tcp", "sw/tcp", "sw-quiet"):
            feed(m, cid, ts, True)
    for ts in (3.0, 4.0):                # one of two uplinks down: the switch still pages
        feed(m, "router2/tcp", ts, True)  # the other one answering since the switch broke
        feed(m, "router/tcp", ts, False)
        feed(m, "sw/tcp", ts, False)
        feed(m, "sw-quiet", ts, False)
    await m.recorder.flush()
    down = rows(m, "SELECT check_id, to_state, cause FROM transitions WHERE to_state IN ('down','unreachable') "
                   "ORDER BY id")
    assert down == [("router/tcp", "down", None), ("sw/tcp", "down", None), ("sw-quiet", "down", None)]
    told = rows(m, "SELECT i.check_id, o.channel FROM outbox o JOIN incidents i ON i.id = o.incident_id ORDER BY o.id")
    assert told == [("router/tcp", "chat"), ("router/tcp", "sms"), ("sw/tcp", "chat"), ("sw/tcp", "sms")]
    # the record-only check failed with sw/tcp: one fault of the switch, it is a member of that incident
    assert rows(m, "SELECT i.check_id, m.how FROM incident_checks m JOIN incidents i ON i.id = m.incident_id "
                   "WHERE m.check_id='sw-quiet'") == [("sw/tcp", "grouped")]
    facts = json.loads(str(rows(m, "SELECT facts FROM outbox ORDER BY id LIMIT 1")[0][0]))
    assert facts["dependants"] == 1 and facts["zone_name"] == "Hall" and facts["since"] == 3.0
    escalates = rows(m, "SELECT next_escalation_at IS NOT NULL FROM incidents WHERE check_id='router/tcp'")
    assert escalates == [(1,)]
    feed(m, "router2/tcp", 5.0, True, degraded="rtt above 50ms")
    feed(m, "router2/tcp", 6.0, True, degraded="rtt above 50ms")
    await m.recorder.flush()
    warn = rows(m, "SELECT severity, category, notify FROM incidents WHERE check_id='router2/tcp'")
    assert warn == [("warning", "performance", '["chat"]')]
    m.store.close()


async def test_both_parents_down_makes_child_unreachable_and_restart_keeps_state(tmp_path: Path) -> None:
    m = monitor(tmp_path)
    for cid in ("router/tcp", "router2/tcp", "sw/tcp"):
        feed(m, cid, 1.0, True)
    for ts in (2.0, 3.0):
        for cid in ("router/tcp", "router2/tcp", "sw/tcp"):
            feed(m, cid, ts, False)
    await m.recorder.flush()
    assert rows(m, "SELECT to_state, cause FROM transitions WHERE check_id='sw/tcp' ORDER BY id") == [
        ("up", None), ("unreachable", "router,router2")]
    view = m.live.views["sw/tcp"]
    assert m.live.display_state(view, 3.5).value == "unreachable"
    assert rows(m, "SELECT COUNT(*) FROM incidents WHERE check_id='sw/tcp'") == [(0,)]
    m.store.stop_run(m.recorder.run_id, 4.0)
    m.store.close()
    again = monitor(tmp_path)           # a restart: the unreachable switch resumes as recorded
    feed(again, "router/tcp", 5.0, False)
    feed(again, "router2/tcp", 5.0, False)
    for ts in (5.0, 6.0):
        feed(again, "sw/tcp", ts, False)
    await again.recorder.flush()
    assert rows(again, "SELECT COUNT(*) FROM transitions WHERE check_id='sw/tcp'") == [(2,)]
    assert rows(again, "SELECT COUNT(*) FROM incidents") == [(2,)]    # the two routers, opened before
    again.store.close()


HOLD_CONFIG = """
store: "{store}"
channels:
  chat: {{urls: ["json://127.0.0.1:9/chat"]}}
defaults:
  interval: 10s
  timeout: 5s
  alert: {{fail_after: 2, recover_after: 1}}
targets:
  - {{id: router, host: 127.0.0.1, checks: [{{kind: tcp, port: 1}}]}}
  - id: sw
    host: 127.0.0.1
    depends_on: [router]
    checks: [{{kind: tcp, port: 2, alert: {{fail_after: 1}}}}]
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def held_monitor(tmp_path: Path) -> tuple[Monitor, Clock]:
    clock = Clock()
    config = loads(HOLD_CONFIG.format(store=tmp_path / "nw.db"))
    m = Monitor(config, Store.open(config.store), clock=clock)
    feed(m, "router/tcp", 1000.0, True)
    feed(m, "sw/tcp", 1001.0, True)
    return m, clock


async def settle(m: Monitor) -> None:
    await m.recorder.flush()
    await m.paging.tick()
    await m.recorder.flush()    # what the clock decided (a released hold) is recorded like any decision


async def test_child_confirmed_before_its_parent_is_unreachable_without_a_page(tmp_path: Path) -> None:
    m, clock = held_monitor(tmp_path)
    clock.now = 1010.2
    feed(m, "sw/tcp", 1010.0, False)        # refused at once; the router's probe is still timing out
    await settle(m)
    assert rows(m, "SELECT to_state, since FROM transitions WHERE check_id='sw/tcp' ORDER BY id") == [
        ("up", 1001.0), ("down", 1010.0)]    # history is not delayed
    assert rows(m, "SELECT COUNT(*) FROM incidents") == [(0,)]
    clock.now = 1015.0
    feed(m, "router/tcp", 1010.0, False)    # suspect
    feed(m, "sw/tcp", 1020.0, False)
    await settle(m)
    assert rows(m, "SELECT COUNT(*) FROM incidents") == [(0,)]
    clock.now = 1025.0
    feed(m, "router/tcp", 1020.0, False)    # confirmed: the child is unreachable, only the router pages
    await settle(m)
    assert rows(m, "SELECT to_state, cause FROM transitions WHERE check_id='sw/tcp' ORDER BY id") == [
        ("up", None), ("down", None), ("unreachable", "router")]
    assert rows(m, "SELECT check_id, dependants FROM incidents") == [("router/tcp", 1)]
    clock.now = 1100.0                      # long past the bound: nothing more
    await settle(m)
    assert rows(m, "SELECT COUNT(*) FROM outbox") == [(1,)]
    m.store.close()


async def test_held_page_released_when_parent_answers_or_hold_expires(tmp_path: Path) -> None:
    m, clock = held_monitor(tmp_path)
    clock.now = 1010.2
    feed(m, "sw/tcp", 1010.0, False)
    await settle(m)
    assert rows(m, "SELECT COUNT(*) FROM incidents") == [(0,)]
    clock.now = 1012.0
    feed(m, "router/tcp", 1011.0, True)     # the parent answered after the switch broke: page now
    await settle(m)
    assert rows(m, "SELECT i.check_id, t.to_state FROM incidents i JOIN transitions t ON t.id = i.transition_id"
                   ) == [("sw/tcp", "down")]
    assert rows(m, "SELECT channel FROM outbox") == [("chat",)]
    feed(m, "sw/tcp", 1020.0, True)         # recovers: resolved as usual
    await settle(m)
    assert rows(m, "SELECT state FROM incidents") == [("resolved",)]

    clock.now = 1030.2
    feed(m, "sw/tcp", 1030.0, False)        # breaks again; the router is failing but never confirmed
    clock.now = 1031.0
    feed(m, "router/tcp", 1031.0, False)
    await settle(m)
    assert rows(m, "SELECT COUNT(*) FROM incidents WHERE state='open'") == [(0,)]
    clock.now = 1030.2 + 10 * 2 + 5 - 0.1   # bound: the router's interval * fail_after + timeout
    await settle(m)
    assert rows(m, "SELECT COUNT(*) FROM incidents WHERE state='open'") == [(0,)]
    clock.now = 1030.2 + 10 * 2 + 5
    await settle(m)
    assert rows(m, "SELECT check_id FROM incidents WHERE state='open'") == [("sw/tcp",)]
    m.store.close()


async def test_page_held_at_a_restart_is_held_again_then_paged(tmp_path: Path) -> None:
    m, clock = held_monitor(tmp_path)
    clock.now = 1010.2
    feed(m, "sw/tcp", 1010.0, False)
    await settle(m)
    m.store.stop_run(m.recorder.run_id, 1011.0)
    m.store.close()
    config = loads(HOLD_CONFIG.format(store=tmp_path / "nw.db"))
    again = Monitor(config, Store.open(config.store), clock=clock)
    clock.now = 1012.0
    await settle(again)                     # the router has not reported since the restart: still held
    assert rows(again, "SELECT COUNT(*) FROM incidents") == [(0,)]
    feed(again, "sw/tcp", 1012.0, False)
    feed(again, "router/tcp", 1013.0, True)
    await settle(again)
    assert rows(again, "SELECT check_id, since FROM incidents") == [("sw/tcp", 1010.0)]
    assert rows(again, "SELECT COUNT(*) FROM transitions WHERE check_id='sw/tcp'") == [(2,)]
    again.store.close()


async def test_maintenance_end_after_a_recovery_inside_it_sends_no_reminder(tmp_path: Path) -> None:
    start = 1767200400.0                 # 2026-01-01T00:00+07:00, the window below
    text = CONFIG.format(store=tmp_path / "nw.db").replace(
        "alert: {fail_after: 2, recover_after: 1}", "alert: {fail_after: 2, recover_after: 1, remind_every: 1m}")
    text += ('maintenance:\n  - {start: "2026-01-01T00:00+07:00", end: "2026-01-01T01:00+07:00", '
             'checks: [router/tcp]}\n')
    config = loads(text)
    now = [start - 600.0]
    m = Monitor(config, Store.open(config.store), clock=lambda: now[0])
    for ts in (start - 600, start - 590):
        feed(m, "router/tcp", ts, True)
    for ts in (start - 300, start - 290):         # DOWN before the window: paged, reminders every minute
        feed(m, "router/tcp", ts, False)
    await m.recorder.flush()
    assert rows(m, "SELECT state FROM incidents WHERE check_id='router/tcp'") == [("open",)]
    now[0] = start + 1                            # the window opens: reminders wait
    await m.paging.tick()
    await m.recorder.flush()
    now[0] = start + 1800
    feed(m, "router/tcp", start + 1800, True)      # recovers inside the window
    await m.recorder.flush()
    now[0] = start + 3601                         # the window ends: re-evaluated as up, resolved, no reminder
    await m.paging.tick()
    await m.recorder.flush()
    await m.paging.tick()
    await m.recorder.flush()
    kinds = [k for (k,) in rows(m, "SELECT kind FROM outbox ORDER BY id")]
    assert "reminder" not in kinds, kinds
    assert rows(m, "SELECT state FROM incidents WHERE check_id='router/tcp'") == [("resolved",)]
    states = rows(m, "SELECT ts, to_state FROM transitions WHERE check_id='router/tcp' ORDER BY id")
    assert [s for _, s in states] == ["up", "down", "maintenance", "up"]
    assert [t for t, _ in states] == sorted(t for t, _ in states)   # history in time order


async def test_a_tick_reads_the_store_only_after_it_changed_and_a_due_escalation_still_goes_out(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Twice a second the tick needs the windows and the earliest follow-up: read in one worker-thread hop when the
    store changed since the last read (this process's commits at once, another's once the watch saw it) or
    REREAD_SECONDS passed, else taken from the last read (no hop); the sweep's hop (a write) only when an
    escalation or reminder is due, which then goes out as before."""
    import asyncio

    import netwatch.alerting.engine as engine

    now = [10_000.0]
    config = loads(CONFIG.format(store=tmp_path / "nw.db"))
    m = Monitor(config, Store.open(config.store), clock=lambda: now[0])
    hops: list[str] = []
    real = asyncio.to_thread

    async def counted(func: object, *args: object) -> object:
        hops.append(getattr(func, "__name__", str(func)))
        return await real(func, *args)   # type: ignore[arg-type]
    monkeypatch.setattr(engine.asyncio, "to_thread", counted)
    await m.paging.tick()
    assert hops == ["_reads"]
    await m.paging.tick()
    assert hops == ["_reads"]   # nothing committed since: no hop
    for ts in (now[0] - 20, now[0] - 10):   # router down: critical, escalates to level 1 after 5 minutes
        feed(m, "router/tcp", ts, False)
    await m.recorder.flush()
    hops.clear()
    await m.paging.tick()
    assert hops == ["_reads"] and m.paging.open_incidents == 1
    now[0] += 301
    await m.paging.tick()
    assert hops == ["_reads", "sweep"]   # due by the last read: swept without reading again first
    assert rows(m, "SELECT level FROM incidents WHERE check_id='router/tcp'") == [(1,)]
    await m.paging.tick()
    assert hops == ["_reads", "sweep", "_reads"]   # the sweep wrote: read again

    # Another process's commit (the CLI adding a maintenance window) is read once a look at the store saw it.
    hops.clear()
    other = Store.open(config.store)
    with other.transaction() as c:
        add_window(c, now[0], "2026-01-01T00:00+07:00", "2026-01-01T01:00+07:00", "none", None, "[]", "[]",
                   '["web/tcp"]', "cli", "duty")
    other.close()
    await m.paging.tick()
    assert hops == []   # not seen yet
    await real(m.store.wait_for_change, 2.0, m.store.db.seen_marker())   # what the outbox watch does
    await m.paging.tick()
    assert hops == ["_reads"] and [w.checks for w in m.paging.decider.db_windows] == [("web/tcp",)]

    # Unseen changes are read at the latest REREAD_SECONDS after the last read.
    monkeypatch.setattr(engine, "REREAD_SECONDS", 0.0)
    await m.paging.tick()
    assert hops == ["_reads", "_reads"]
    m.store.close()
