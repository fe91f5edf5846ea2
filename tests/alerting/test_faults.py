"""One incident per target fault: the pure fold rules as tables (time injected), then written on both back ends."""

from __future__ import annotations

import json

import pytest

from netwatch.alerting import incidents
from netwatch.alerting.decide import Change, Decision, Fold, OpenFault, Page, fault_rank, fold_failure, fold_recovery
from netwatch.alerting.incidents import PagingCommands
from netwatch.config import loads
from netwatch.config.store import StoreSpec
from netwatch.model import State, Transition
from netwatch.recorder import Recorder
from netwatch.store import Store

SEC, DOWN, SLOW = (0, 0), (1, 0), (2, 0)


def fault(opened_at: float = 1000.0, severity: str = "critical", rank: tuple[int, int] = (1, 0),
          failing: tuple[str, ...] = ("portal/http",)) -> OpenFault:
    return OpenFault(opened_at, severity, rank, frozenset(failing))


@pytest.mark.parametrize("open_, check, rank, severity, now, wait, expected", [
    # nothing open: the check opens the target's incident and names it
    (None, "portal/http", DOWN, "critical", 1000.0, 1.0, Fold("open", True)),
    # within the grouping window: grouped; a worse check (security > down > degraded) names it
    (fault(), "portal/web_integrity", SEC, "critical", 1000.9, 1.0, Fold("group", True)),
    (fault(rank=SEC, failing=("portal/web_integrity",)), "portal/http", DOWN, "critical", 1001.0, 1.0,
     Fold("group", False)),
    (fault(), "portal/tls", (1, 2), "critical", 1000.5, 1.0, Fold("group", False)),       # same class, later in order
    (fault(rank=(1, 2)), "portal/http", (1, 0), "critical", 1000.5, 1.0, Fold("group", True)),   # earlier in order
    (fault(severity="warning", rank=SLOW), "portal/http", DOWN, "critical", 1000.2, 1.0, Fold("group", True)),
    # after the window: joins (noted, not paged); a member failing on is the same fault
    (fault(), "portal/web_integrity", SEC, "critical", 1001.1, 1.0, Fold("join")),
    (fault(), "portal/http", DOWN, "critical", 1300.0, 1.0, Fold("same")),
    (fault(failing=("portal/http", "portal/tls")), "portal/http", SLOW, "critical", 1300.0, 1.0, Fold("same")),
    # a window of 0 groups nothing later than the same instant
    (fault(), "portal/tls", DOWN, "critical", 1000.0, 0.0, Fold("group", False)),
    (fault(), "portal/tls", DOWN, "critical", 1000.01, 0.0, Fold("join")),
    # more severe after the window: a new incident pages and replaces the old one
    (fault(severity="warning", rank=SLOW, failing=("dvc/http",)), "dvc/tcp", DOWN, "critical", 1100.0, 1.0,
     Fold("replace", True)),
    (fault(severity="warning", rank=SLOW, failing=("dvc/http",)), "dvc/http", DOWN, "critical", 1100.0, 1.0,
     Fold("replace", True)),
    # the one failing check turning less severe replaces too; with others failing it stays
    (fault(failing=("dvc/http",)), "dvc/http", SLOW, "warning", 1100.0, 1.0, Fold("replace", True)),
    (fault(failing=("dvc/http", "dvc/tcp")), "dvc/http", SLOW, "warning", 1100.0, 1.0, Fold("same")),
    (fault(failing=("dvc/tcp",)), "dvc/http", SLOW, "warning", 1100.0, 1.0, Fold("join")),
])
def test_fold_failure(open_: OpenFault | None, check: str, rank: tuple[int, int], severity: str, now: float,
                      wait: float, expected: Fold) -> None:
    assert fold_failure(open_, check, rank, severity, now, wait) == expected


@pytest.mark.parametrize("failing, check, expected", [
    (("portal/http", "portal/web_integrity"), "portal/http", "note"),      # another still failing: noted
    (("portal/web_integrity",), "portal/web_integrity", "resolve"),        # the last one: one recovery
    (("portal/web_integrity",), "portal/http", "none"),                    # already recovered, or never in it
    ((), "portal/http", "none"),
])
def test_fold_recovery(failing: tuple[str, ...], check: str, expected: str) -> None:
    assert fold_recovery(frozenset(failing), check) == expected


@pytest.mark.parametrize("category, state, order, expected", [
    ("security", "down", 3, (0, 3)), ("availability", "down", 0, (1, 0)), ("performance", "degraded", 0, (2, 0)),
    ("security", "degraded", 1, (0, 1)),
])
def test_fault_rank(category: str, state: str, order: int, expected: tuple[int, int]) -> None:
    assert fault_rank(category, state, order) == expected


# -- written ----------------------------------------------------------------------------------------
CONFIG = loads("""
store: /nonexistent.db
channels:
  chat: {urls: ["json://127.0.0.1:9/chat"], group_wait: 1s}     # example: never contacted
  sms: {urls: ["json://127.0.0.1:9/sms"], group_wait: 1s}       # example
  sec: {urls: ["json://127.0.0.1:9/sec"]}                       # example
escalation:
  critical: [{after: 0s, notify: [chat, sms]}]
  warning: [{after: 0s, notify: [chat]}]
targets:
  - id: portal
    host: 127.0.0.1
    checks: [{kind: http, url: "http://127.0.0.1:9/"}, {kind: web_integrity, url: "http://127.0.0.1:9/"},
             {kind: tcp, port: 9}]
""")


def page(check_id: str, t: Transition, category: str = "availability", severity: str = "critical",
         channels: tuple[str, ...] = ("chat", "sms"), error: str | None = "http_status") -> Page:
    check = CONFIG.check(check_id)
    assert check is not None
    order = [c.id for c in CONFIG.checks].index(check_id)
    return Page(check, severity, category, channels, False, 0,
                {"check": check_id, "target": "portal", "target_name": "Cổng thông tin", "since": t.since,
                 "state": t.to_state.value, "error": error}, None, None, order, 1.0)


def tr(check_id: str, ts: float, to: State, frm: State = State.UP) -> Transition:
    return Transition(check_id, "portal", ts, ts - 10, frm, to, "x" if to is State.DOWN else None)


def q(store: Store, sql: str) -> list[tuple[object, ...]]:
    with store.db.read() as tx:
        return tx.fetchall(sql)


async def decide(store: Store, now: list[float], at: float, *changes: Change) -> None:
    now[0] = at
    recorder = Recorder(store, 1, {}, 86400.0, 86400.0, clock=lambda: now[0])
    recorder.add_decision(Decision(changes))
    assert await recorder.flush()


async def test_a_defaced_portal_is_one_incident_one_page_one_recovery(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    store.start_run("test", 1, 1000.0)
    now = [1000.0]
    http, integ = "portal/http", "portal/web_integrity"
    await decide(store, now, 1000.0, Change(d := tr(http, 1000.0, State.DOWN), page(http, d)))
    await decide(store, now, 1000.8, Change(d := tr(integ, 1000.8, State.DOWN), page(
        integ, d, "security", channels=("chat", "sms", "sec"), error="content_changed")))
    # one incident, named by the security check, the http check grouped in
    assert q(store, "SELECT id, check_id, category, state FROM incidents") == [(1, integ, "security", "open")]
    assert q(store, "SELECT check_id, how FROM incident_checks ORDER BY check_id") == [(http, "grouped"),
                                                                                       (integ, "named")]
    rows = q(store, "SELECT channel, kind, facts FROM outbox ORDER BY id")
    assert [(ch, k) for ch, k, _ in rows] == [("chat", "problem"), ("sms", "problem"), ("sec", "problem")]
    for _, _, raw in rows:   # the waiting first page says what it is now, and what else failed with it
        f = json.loads(raw)
        assert (f["check"], f["category"], f["error"]) == (integ, "security", "content_changed")
        assert [a["check"] for a in f["also"]] == [http]
    # the http check recovers first: noted in the incident, not paged
    await decide(store, now, 1040.0, Change(u := tr(http, 1040.0, State.UP, State.DOWN), page(http, u)))
    assert q(store, "SELECT state FROM incidents") == [("open",)]
    assert q(store, "SELECT check_id FROM incident_checks WHERE recovered_at IS NOT NULL") == [(http,)]
    # the last one recovers: one recovery per channel told
    await decide(store, now, 1050.0, Change(u := tr(integ, 1050.0, State.UP, State.DOWN), page(integ, u)))
    assert q(store, "SELECT state FROM incidents") == [("resolved",)]
    assert [r for r in q(store, "SELECT channel, kind FROM outbox ORDER BY id") if r[1] == "resolved"] == [
        ("chat", "resolved"), ("sms", "resolved"), ("sec", "resolved")]
    store.close()


async def test_a_check_failing_later_joins_the_open_incident_unpaged(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    store.start_run("test", 1, 1000.0)
    now = [1000.0]
    await decide(store, now, 1000.0, Change(d := tr("portal/http", 1000.0, State.DOWN), page("portal/http", d)))
    await decide(store, now, 1030.0, Change(d := tr("portal/tcp", 1030.0, State.DOWN), page("portal/tcp", d)))
    assert q(store, "SELECT COUNT(*) FROM incidents") == [(1,)]
    assert q(store, "SELECT check_id, how FROM incident_checks ORDER BY check_id") == [
        ("portal/http", "named"), ("portal/tcp", "joined")]
    assert q(store, "SELECT COUNT(*) FROM outbox") == [(2,)]              # the first page only (chat, sms)
    # acknowledging the incident acknowledges the fault: both checks find it acked
    assert PagingCommands(store, lambda: CONFIG).ack(1, "lan", "", "test", 1031.0) is None
    with store.db.read() as c:
        assert incidents.find_open(c, check_id="portal/tcp") == (1, "critical", "acked")
        assert incidents.find_open(c, check_id="portal/http") == (1, "critical", "acked")
    (listed,) = PagingCommands(store, lambda: CONFIG).list()
    assert [m["check"] for m in listed["checks"]] == ["portal/http", "portal/tcp"]
    # the named check recovers first: still open; the joined one last: resolved once
    await decide(store, now, 1040.0, Change(u := tr("portal/http", 1040.0, State.UP, State.DOWN),
                                            page("portal/http", u)))
    assert q(store, "SELECT state FROM incidents") == [("acked",)]
    await decide(store, now, 1050.0, Change(u := tr("portal/tcp", 1050.0, State.UP, State.DOWN),
                                            page("portal/tcp", u)))
    assert q(store, "SELECT state FROM incidents") == [("resolved",)]
    assert [k for k, in q(store, "SELECT kind FROM outbox ORDER BY id")].count("resolved") == 2   # chat, sms
    store.close()


async def test_a_more_severe_fault_replaces_the_incident_without_a_false_recovery(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    store.start_run("test", 1, 1000.0)
    now = [1000.0]
    slow = tr("portal/http", 1000.0, State.DEGRADED)
    await decide(store, now, 1000.0, Change(slow, page("portal/http", slow, "performance", "warning", ("chat",))))
    await decide(store, now, 1100.0, Change(d := tr("portal/tcp", 1100.0, State.DOWN), page("portal/tcp", d)))
    assert q(store, "SELECT id, check_id, severity, state, ack_note FROM incidents ORDER BY id") == [
        (1, "portal/http", "warning", "resolved", "superseded by #2"), (2, "portal/tcp", "critical", "open", None)]
    assert q(store, "SELECT incident_id, check_id, how FROM incident_checks WHERE recovered_at IS NULL "
                    "ORDER BY check_id") == [(2, "portal/http", "joined"), (2, "portal/tcp", "named")]
    assert [k for k, in q(store, "SELECT kind FROM outbox ORDER BY id")] == ["problem", "problem", "problem"]
    store.close()


def test_the_migration_folds_open_incidents_of_one_target_into_the_oldest(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    with store.transaction() as tx:     # the table as it was before 0006, with two open incidents of one target
        tx.execute("DROP TABLE incident_checks")
        tx.execute("DELETE FROM migrations WHERE name='0006_incident_checks'")
        sql = ("INSERT INTO incidents (key, source, check_id, target_id, severity, category, state, since, "
               "opened_at) VALUES (?, 'check', ?, ?, ?, 'availability', ?, 1, ?)")
        tx.execute(sql, ("nw-1", "portal/http", "portal", "critical", "open", 10.0))
        tx.execute(sql, ("nw-2", "portal/web_integrity", "portal", "critical", "acked", 11.0))
        tx.execute(sql, ("nw-3", "dvc/http", "dvc", "warning", "open", 12.0))
        tx.execute(sql, ("nw-4", "dvc/tcp", "dvc", "critical", "resolved", 5.0))
    assert store.migrate() == ["0006_incident_checks"]
    assert q(store, "SELECT id, state, ack_note FROM incidents ORDER BY id") == [
        (1, "open", None), (2, "resolved", "folded into the open incident of its target"), (3, "open", None),
        (4, "resolved", None)]
    assert q(store, "SELECT incident_id, check_id, how, state FROM incident_checks ORDER BY incident_id, check_id") == [
        (1, "portal/http", "named", "down"), (1, "portal/web_integrity", "joined", "down"),
        (3, "dvc/http", "named", "degraded")]
    store.close()


async def test_a_check_removed_by_a_reload_leaves_the_fault_without_closing_it(store_spec: StoreSpec) -> None:
    store = Store.open(store_spec)
    store.start_run("test", 1, 1000.0)
    now = [1000.0]
    await decide(store, now, 1000.0, Change(d := tr("portal/http", 1000.0, State.DOWN), page("portal/http", d)))
    await decide(store, now, 1000.5, Change(d := tr("portal/tcp", 1000.5, State.DOWN), page("portal/tcp", d)))
    # the named check is removed: the fault stays open while its other check still fails
    with store.transaction() as c:
        assert incidents.close_removed(c, {"portal/web_integrity", "portal/tcp"}, {"portal"}, 1100.0) == []
    assert q(store, "SELECT state FROM incidents") == [("open",)]
    assert q(store, "SELECT check_id FROM incident_checks WHERE recovered_at IS NULL") == [("portal/tcp",)]
    # now the other one goes too: nothing is left failing, it closes (no recovery notice: nothing recovered)
    with store.transaction() as c:
        assert incidents.close_removed(c, {"portal/web_integrity"}, {"portal"}, 1200.0) == [1]
    assert q(store, "SELECT state FROM incidents") == [("resolved",)]
    assert [k for k, in q(store, "SELECT kind FROM outbox")].count("resolved") == 0
    store.close()


async def test_a_flapping_check_settling_up_leaves_the_fault_open_for_the_others(store_spec: StoreSpec) -> None:
    from netwatch.alerting.decide import FlapNotice
    store = Store.open(store_spec)
    store.start_run("test", 1, 1000.0)
    now = [1000.0]
    await decide(store, now, 1000.0, Change(d := tr("portal/http", 1000.0, State.DOWN), page("portal/http", d)))
    await decide(store, now, 1000.5, Change(d := tr("portal/tcp", 1000.5, State.DOWN), page("portal/tcp", d)))
    settled = FlapNotice("stop", page("portal/tcp", tr("portal/tcp", 1100.0, State.UP, State.DOWN)), State.UP)
    await decide(store, now, 1100.0, settled)      # type: ignore[arg-type]
    assert q(store, "SELECT state FROM incidents") == [("open",)]
    assert q(store, "SELECT check_id FROM incident_checks WHERE recovered_at IS NULL") == [("portal/http",)]
    store.close()
