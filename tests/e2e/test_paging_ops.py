"""End to end: maintenance windows from the CLI, escalation, reminders, and acks (CLI and HTTP API)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from tests.e2e.paging_support import kinds, query, tcp_target, venue
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import REPO, NetwatchProcess, http_get, wait_for

OPERATORS = """
operators:
  - {name: lan, role: operator, token: "${NW_LAN_TOKEN}"}
  - {name: viewer1, role: viewer, token: "${NW_VIEWER_TOKEN}"}
  - {name: head, role: admin, password_hash: "pbkdf2_sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$cBg8D2DungRB9k76szThf5ehfyBz991ay6PT8Srwk4M="}
"""
ENV = {"NW_LAN_TOKEN": "lan-secret-token-1", "NW_VIEWER_TOKEN": "viewer-secret-token-2"}


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs netwatch in its default language (Vietnamese), as duty staff do."""
    import os

    base = {k: v for k, v in os.environ.items() if k != "NETWATCH_LANG"}
    return subprocess.run([sys.executable, "-m", "netwatch", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=30, env={**base, **(env or ENV)})


def post(url: str, token: str | None, body: dict[str, object] | None = None,
         basic: tuple[str, str] | None = None) -> tuple[int, dict[str, object]]:
    import base64

    auth = ({"Authorization": f"Bearer {token}"} if token else
            {"Authorization": "Basic " + base64.b64encode(":".join(basic).encode()).decode()} if basic else {})
    req = urllib.request.Request(url, data=json.dumps(body or {}).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **auth})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback only
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_maintenance_silences_then_pages_what_is_still_broken_at_its_end(
        netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], tmp_path: Path) -> None:
    a, b = TcpTarget().up(), TcpTarget().up()
    nw = netwatch_process(venue(sinks, tcp_target("web-a", a.port) + tcp_target("web-b", b.port), extra=OPERATORS),
                          env=ENV)
    store = tmp_path / "netwatch.db"
    wait_for(lambda: len(query(store, "SELECT 1 FROM transitions WHERE to_state='up'")) == 2, 10)
    done = cli("maintenance", "add", "-c", str(nw.config_path), "--target", "web-a", "--target", "web-b",
               "--for", "5s", "--by", "lan", "--reason", "swap the uplink")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Đã thêm khung bảo trì 1: ")
    # The window's own end as stored (the command's start + 5 s), not an estimate taken after it returned.
    (end_text,), = query(store, 'SELECT "end" FROM maintenance')
    window_end = dt.datetime.fromisoformat(end_text).timestamp()
    wait_for(lambda: len(query(store, "SELECT 1 FROM transitions WHERE to_state='maintenance'")) == 2, 5,
             what="both checks in maintenance within 2 s")
    a.down()
    b.down()
    time.sleep(2.0)
    b.up()                               # b's problem starts and ends inside the window: never paged
    wait_for(lambda: sinks["chat"].received, 12, what="the page after the window")
    first = sinks["chat"].received[0]
    assert first.at >= window_end
    assert "web-a/tcp" in first.body["title"]
    time.sleep(1.5)
    assert all("web-b" not in r.body["title"] for r in sinks["chat"].received)
    states = [s for (s,) in query(store, "SELECT to_state FROM transitions WHERE check_id='web-a/tcp' ORDER BY id")]
    assert states == ["up", "maintenance", "down"]
    assert query(store, "SELECT COUNT(*) FROM events WHERE kind='state_in_maintenance'")[0][0] >= 2
    audit = query(store, "SELECT who, action, source FROM audit")
    assert audit[0][0] == "lan" and audit[0][1] == "maintenance_add" and audit[0][2].startswith("cli:")
    refused = cli("maintenance", "add", "-c", str(nw.config_path), "--target", "web-a", "--for", "1m",
                  "--by", "viewer1")
    assert refused.returncode == 2
    assert "tài khoản 'viewer1' có vai trò viewer; thao tác này cần vai trò operator" in refused.stderr
    refused = cli("--lang", "en", "maintenance", "add", "-c", str(nw.config_path), "--target", "web-a", "--for", "1m",
                  "--by", "viewer1")
    assert refused.returncode == 2 and "operator 'viewer1' is a viewer; this needs operator" in refused.stderr


def test_escalation_after_ack_timeout_and_none_after_ack(
        netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], tmp_path: Path) -> None:
    one, two = TcpTarget().up(), TcpTarget().up()
    escalation = OPERATORS + """
escalation:
  critical:
    - {after: 0s, notify: [chat]}
    - {after: 3s, notify: [sms]}
"""
    nw = netwatch_process(venue(sinks, tcp_target("web1", one.port) + tcp_target("web2", two.port), extra=escalation,
                                alert="{fail_after: 2, recover_after: 2, remind_every: 2s}"), env=ENV)
    store = tmp_path / "netwatch.db"
    wait_for(lambda: len(query(store, "SELECT 1 FROM transitions WHERE to_state='up'")) == 2, 10)
    two.down()
    wait_for(lambda: query(store, "SELECT id FROM incidents WHERE check_id='web2/tcp'"), 10)
    (web2_incident,), = query(store, "SELECT id FROM incidents WHERE check_id='web2/tcp'")
    base = nw.base_url + f"/api/v1/incidents/{web2_incident}/ack"
    assert post(base, None)[0] == 401
    assert post(base, ENV["NW_VIEWER_TOKEN"])[0] == 403
    status, body = post(base, ENV["NW_LAN_TOKEN"], {"note": "on my way"})
    assert status == 200 and body["acked_by"] == "lan"
    assert post(base, ENV["NW_LAN_TOKEN"])[0] == 409
    one.down()
    wait_for(lambda: query(store, "SELECT id FROM incidents WHERE check_id='web1/tcp'"), 10)
    (web1_incident,), = query(store, "SELECT id FROM incidents WHERE check_id='web1/tcp'")
    sms = sinks["sms"].wait_count(1, 8)
    assert f"#{web1_incident}" in sms[0].body["message"] and "ESCALATED" in sms[0].body["message"]
    wait_for(lambda: "reminder" in kinds(sinks["chat"]), 5, what="a reminder")
    done = cli("ack", "-c", str(nw.config_path), str(web1_incident), "--by", "lan", "--note", "rebooting")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Đã xác nhận sự cố #{web1_incident} (người xác nhận: lan)\n"
    wait_for(lambda: "ack" in kinds(sinks["chat"])[kinds(sinks["chat"]).index("reminder"):], 5, what="ack notice")
    settled_chat, settled_sms = len(sinks["chat"].received), len(sinks["sms"].received)
    time.sleep(4.5)                      # two reminder periods and past any escalation
    assert len(sinks["chat"].received) == settled_chat, kinds(sinks["chat"])
    assert len(sinks["sms"].received) == settled_sms
    assert all(f"#{web2_incident}" not in r.body["message"] for r in sinks["sms"].received)
    _, text = http_get(nw.base_url + "/api/v1/incidents")
    acked = {i["id"]: i for i in json.loads(text)["incidents"]}
    assert acked[web1_incident]["acked_by"] == "lan" and acked[web1_incident]["state"] == "acked"
    assert acked[web2_incident]["ack_note"] == "on my way"
    sources = sorted(s.split(":")[0] for (s,) in query(store, "SELECT source FROM audit WHERE action='ack'"))
    assert sources == ["cli", "http"]
    assert ENV["NW_LAN_TOKEN"] not in nw.log()
    web1_ack = nw.base_url + f"/api/v1/incidents/{web1_incident}/ack"
    assert post(web1_ack, None, basic=("head", "wrong"))[0] == 401
    assert post(web1_ack, None, basic=("head", "correct horse"))[0] == 409     # known operator; already acked
    assert post(nw.base_url + "/api/v1/incidents/999/ack", ENV["NW_LAN_TOKEN"])[0] == 404
