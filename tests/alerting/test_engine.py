"""The paging engine in process: results in, transitions, incidents and outbox rows out (real SQLite store)."""

from __future__ import annotations

import json
from pathlib import Path

from netwatch.app import Monitor
from netwatch.config import loads
from netwatch.model import Outcome, Result
from netwatch.store import Store

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
    m.handle(check, Result(check.id, check.target.id, check.kind, ts, 0.01, outcome))


def rows(m: Monitor, sql: str) -> list[tuple[object, ...]]:
    with m.store.lock:
        return m.store.conn.execute(sql).fetchall()


async def test_redundant_parents_degraded_and_record_only(tmp_path: Path) -> None:
    m = monitor(tmp_path)
    for ts in (1.0, 2.0):
        for cid in ("router/tcp", "router2/tcp", "sw/tcp", "sw-quiet"):
            feed(m, cid, ts, True)
    for ts in (3.0, 4.0):                # one of two uplinks down: the switch still pages
        feed(m, "router/tcp", ts, False)
        feed(m, "sw/tcp", ts, False)
        feed(m, "sw-quiet", ts, False)
    await m.recorder.flush()
    down = rows(m, "SELECT check_id, to_state, cause FROM transitions WHERE to_state IN ('down','unreachable') "
                   "ORDER BY id")
    assert down == [("router/tcp", "down", None), ("sw/tcp", "down", None), ("sw-quiet", "down", None)]
    told = rows(m, "SELECT i.check_id, o.channel FROM outbox o JOIN incidents i ON i.id = o.incident_id ORDER BY o.id")
    assert told == [("router/tcp", "chat"), ("router/tcp", "sms"), ("sw/tcp", "chat"), ("sw/tcp", "sms")]
    assert rows(m, "SELECT COUNT(*) FROM incidents WHERE check_id='sw-quiet'") == [(1,)]   # recorded, not paged
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
    m.store.stop_run(m.run_id, 4.0)
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
