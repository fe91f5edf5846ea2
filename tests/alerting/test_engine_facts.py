"""What the engine puts into a notice's facts: numbers of a degraded check, who is told, security channel."""

from __future__ import annotations

import json
from pathlib import Path

from netwatch.app import Monitor
from netwatch.config import loads
from netwatch.model import Outcome, Result
from netwatch.store import Store
from tests.alerting.test_engine import CONFIG, rows

SECURITY = CONFIG.replace("escalation:", "paging: {{security_notify: [sec]}}\nescalation:").replace(
    "channels:\n", "channels:\n  sec: {{urls: [\"json://127.0.0.1:9/sec\"]}}\n")


def feed(m: Monitor, check_id: str, ts: float, outcome: Outcome) -> None:
    check = m.config.check(check_id)
    assert check is not None
    m.path.handle(check, Result(check.id, check.target.id, check.kind, ts, 0.01, outcome))


async def test_security_incident_also_reaches_the_security_channel(tmp_path: Path) -> None:
    config = loads(SECURITY.format(store=tmp_path / "nw.db"))
    m = Monitor(config, Store.open(config.store))
    for ts in (1.0, 2.0):
        feed(m, "router/tcp", ts, Outcome(ok=True))
        feed(m, "router2/tcp", ts, Outcome(ok=True))
    for ts in (3.0, 4.0):
        feed(m, "router/tcp", ts, Outcome.fail("config_drift", "config differs (+3 -1 lines)"))
        feed(m, "router2/tcp", ts, Outcome.fail("timeout", "no TCP answer"))
    await m.recorder.flush()
    told = rows(m, "SELECT i.check_id, o.channel FROM outbox o JOIN incidents i ON i.id = o.incident_id ORDER BY o.id")
    assert told == [("router/tcp", "chat"), ("router/tcp", "sms"), ("router/tcp", "sec"),
                    ("router2/tcp", "chat"), ("router2/tcp", "sms")]
    facts = json.loads(str(rows(m, "SELECT facts FROM outbox ORDER BY id LIMIT 1")[0][0]))
    assert facts["category"] == "security" and facts["told"] == ["chat", "sms", "sec"]
    assert facts["target_name"] == "router" and facts["check_kind"] == "tcp"
    m.store.close()


async def test_degraded_notice_keeps_the_measured_detail(tmp_path: Path) -> None:
    config = loads(CONFIG.format(store=tmp_path / "nw.db"))
    m = Monitor(config, Store.open(config.store))
    slow = Outcome(ok=True, degraded="warn_response_seconds", detail="200 OK in 0.606s, slower than 0.3s")
    for ts in (1.0, 2.0):
        feed(m, "router2/tcp", ts, Outcome(ok=True))
    for ts in (3.0, 4.0):
        feed(m, "router2/tcp", ts, slow)
    await m.recorder.flush()
    facts = json.loads(str(rows(m, "SELECT facts FROM outbox ORDER BY id LIMIT 1")[0][0]))
    assert facts["degraded"] == "warn_response_seconds"
    assert facts["measured"] == "200 OK in 0.606s, slower than 0.3s"
    from zoneinfo import ZoneInfo

    from netwatch.notify import templates
    _, body = templates.chat([facts], "vi", "text", ZoneInfo("Asia/Ho_Chi_Minh"))
    assert "phản hồi 0,606 s, ngưỡng 0,3 s" in body
    m.store.close()
