"""Decisions written to the store on SQLite and PostgreSQL: one transaction each, held pages as rows, clocks."""

from __future__ import annotations

from netwatch.alerting import incidents
from netwatch.alerting.decide import Change, Decision, Page, Release
from netwatch.alerting.incidents import PagingCommands, held_pages, sweep
from netwatch.config import loads
from netwatch.config.store import StoreSpec
from netwatch.model import State, Transition
from netwatch.recorder import Recorder
from netwatch.store import Store

CONFIG = """
store: /nonexistent.db
channels:
  chat: {urls: ["json://127.0.0.1:9/chat"]}
  sms: {urls: ["json://127.0.0.1:9/sms"]}
escalation:
  critical:
    - {after: 0s, notify: [chat]}
    - {after: 5m, notify: [sms]}
defaults: {alert: {remind_every: 30m}}
targets:
  - {id: router, host: 127.0.0.1, checks: [{kind: tcp, port: 1}]}
  - {id: sw, host: 127.0.0.1, depends_on: [router], checks: [{kind: tcp, port: 2}]}
"""
CONFIG_ = loads(CONFIG)


def page(check_id: str, t: Transition, now: float, next_escalation_at: float | None = None) -> Page:
    check = CONFIG_.check(check_id)
    assert check is not None
    return Page(check, "critical", "availability", ("chat",), False, 0,
                {"check": check_id, "target": check.target.id, "since": t.since, "state": t.to_state.value},
                next_escalation_at, None)


def down(check_id: str, ts: float) -> Transition:
    return Transition(check_id, check_id.split("/")[0], ts, ts - 10, State.UP, State.DOWN, "refused", "no")


def up(check_id: str, ts: float) -> Transition:
    return Transition(check_id, check_id.split("/")[0], ts, ts, State.DOWN, State.UP)


def q(store: Store, sql: str) -> list[tuple[object, ...]]:
    with store.db.read() as tx:
        return tx.fetchall(sql)


async def test_a_decision_commits_its_transition_incident_and_outbox_together(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    recorder = Recorder(store, store.start_run("test", 1, 1000.0), {}, 86400.0, 86400.0, clock=lambda: 1000.5)
    t = down("router/tcp", 1000.0)
    recorder.add_decision(Decision((Change(t, page("router/tcp", t, 1000.0, next_escalation_at=1300.0)),)))
    assert await recorder.flush()
    (tid,), = q(store, "SELECT id FROM transitions")
    assert q(store, "SELECT check_id, transition_id, opened_at, state FROM incidents") == [
        ("router/tcp", tid, 1000.5, "open")]
    # The key is the check and its outage's start in ms: known before the incident exists (pages from memory).
    assert q(store, "SELECT channel, kind, dedup_key FROM outbox") == [("chat", "problem", "nw-router/tcp-990000-problem")]
    recorder.add_decision(Decision((Change(up("router/tcp", 1010.0), page("router/tcp", up("router/tcp", 1010.0),
                                                                            1010.0)),)))
    assert await recorder.flush()
    assert q(store, "SELECT state FROM incidents") == [("resolved",)]
    assert q(store, "SELECT dedup_key FROM outbox WHERE kind='resolved'") == [("nw-router/tcp-990000-resolved",)]
    assert [k for k, in q(store, "SELECT kind FROM outbox ORDER BY id")] == ["problem", "resolved"]
    store.close()


async def test_held_pages_are_rows_released_only_while_their_transition_is_the_latest(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    recorder = Recorder(store, store.start_run("test", 1, 1000.0), {}, 86400.0, 86400.0, clock=lambda: 1000.0)
    t = down("sw/tcp", 1000.0)
    recorder.add_decision(Decision((Change(t, hold_until=1025.0, suspect=("router",)),)))
    assert await recorder.flush()
    assert q(store, "SELECT check_id, deadline FROM held_pages") == [("sw/tcp", 1025.0)]
    assert q(store, "SELECT COUNT(*) FROM incidents") == [(0,)]
    assert held_pages(store) == [(t, False)]                 # what a restart reads back
    recorder.add_decision(Decision((Release("sw/tcp", page("sw/tcp", t, 1001.0)),)))
    assert await recorder.flush()
    assert q(store, "SELECT check_id FROM incidents") == [("sw/tcp",)] and q(store, "SELECT * FROM held_pages") == []

    t2 = down("sw/tcp", 1100.0)
    recorder.add_decision(Decision((Change(up("sw/tcp", 1050.0), page("sw/tcp", up("sw/tcp", 1050.0), 1050.0)),)))
    recorder.add_decision(Decision((Change(t2, hold_until=1125.0),)))
    recorder.add_decision(Decision((Change(up("sw/tcp", 1101.0)),)))        # recovered while held
    recorder.add_decision(Decision((Release("sw/tcp", page("sw/tcp", t2, 1102.0)),)))
    assert await recorder.flush()
    assert q(store, "SELECT * FROM held_pages") == []
    assert q(store, "SELECT COUNT(*) FROM incidents") == [(1,)]             # the stale release paged nobody
    store.close()


async def test_the_clock_writes_only_when_an_escalation_or_reminder_is_due(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    recorder = Recorder(store, store.start_run("test", 1, 1000.0), {}, 86400.0, 86400.0, clock=lambda: 1000.0)
    t = down("router/tcp", 1000.0)
    recorder.add_decision(Decision((Change(t, page("router/tcp", t, 1000.0, next_escalation_at=1300.0)),)))
    assert await recorder.flush()
    before = store.db.change_marker()
    assert sweep(store, 1299.0, set(), CONFIG_) == (1, False)
    assert store.db.change_marker() == before                               # no write transaction at all
    assert sweep(store, 1300.0, {"router/tcp"}, CONFIG_)[0] == 1             # quiet: in maintenance
    assert q(store, "SELECT level FROM incidents") == [(0,)]
    assert sweep(store, 1300.0, set(), CONFIG_) == (1, True)
    assert q(store, "SELECT level, next_escalation_at FROM incidents") == [(1, None)]
    assert q(store, "SELECT channel, kind FROM outbox ORDER BY id") == [("chat", "problem"), ("sms", "escalation")]
    commands = PagingCommands(store, lambda: CONFIG_)
    (iid,), = q(store, "SELECT id FROM incidents")
    assert commands.ack(int(iid), "lan", "on my way", "test", 1400.0) is None
    assert "already acknowledged by lan" in (commands.ack(int(iid), "lan", "", "test", 1401.0) or "")
    (listed,) = commands.list()
    assert listed["acked_by"] == "lan" and listed["state"] == "acked"
    assert q(store, "SELECT who, action FROM audit") == [("lan", "ack")]
    assert incidents.find_open(store.conn, check_id="router/tcp") == (int(iid), "critical", "acked")
    store.close()
