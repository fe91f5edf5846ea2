"""End to end: a real Alertmanager posts to the relay; alerts page through the same channels."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Callable

import pytest

from tests.e2e.paging_support import kinds, query, venue
from tests.peers.sinks import HttpSink
from tests.support import NetwatchProcess, free_port, http_get, wait_for

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
TOKEN = "relay-token-0123456789"
DEVICE_TEXT = ("<b>interface Gi0/1 *flapping*</b> & `rm -rf /` \x1b[31m" + "Lỗi thiết bị đ " * 400)[:5120]


def relay_config(sinks: dict[str, HttpSink]) -> str:
    return venue(sinks, "  - {id: web1, host: 127.0.0.1, checks: []}",
                 extra=f'  alertmanager: {{token: "{TOKEN}"}}')


def post_json(url: str, payload: object, token: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback only
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_relay_dedups_ha_duplicates_and_caps_hostile_text(
        netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], tmp_path: Path) -> None:
    nw = netwatch_process(relay_config(sinks))
    alert = {"status": "firing", "labels": {"alertname": "LinkDown", "instance": "sw-hall:9100",
                                            "severity": "critical", "zone": "hall"},
             "annotations": {"summary": DEVICE_TEXT}, "startsAt": "2026-12-14T08:00:00.123456789+07:00",
             "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc123"}
    payload = {"version": "4", "status": "firing", "receiver": "netwatch", "groupKey": "{}:{}", "alerts": [alert]}
    url = nw.base_url + "/api/v1/alertmanager"
    assert post_json(url, payload)[0] == 401
    assert post_json(url, {"version": "3"}, TOKEN)[0] == 400
    for _ in range(2):                   # the same alert from both HA Alertmanagers
        assert post_json(url, payload, TOKEN)[0] == 200
    chat = sinks["chat"].wait_count(1, 10)
    sms = sinks["sms"].wait_count(1, 10)
    body = chat[0].body["message"]
    assert "LinkDown sw-hall:9100" in chat[0].body["title"]
    assert "\x1b" not in body and len(body) < 1500
    assert "(Hall)" in chat[0].body["title"] and "08:00:00 14/12" in body
    assert len(sms[0].body["message"]) <= 160 and sms[0].body["message"].startswith("PROBLEM #1: LinkDown sw-hall")
    assert all(ord(ch) < 128 for ch in sms[0].body["message"])
    resolved = {**payload, "status": "resolved", "alerts": [{**alert, "status": "resolved"}]}
    assert post_json(url, resolved, TOKEN)[0] == 200
    sinks["chat"].wait_count(2, 10)
    time.sleep(0.5)
    assert [k for k in kinds(sinks["chat"])] == ["problem", "resolved"]
    # The fingerprint and the alert's start in ms: a re-fired alert (a later startsAt) is a new page, not a repeat.
    keys = [str(r.body["dedup_key"]) for r in sinks["chat"].received]
    assert keys[0].startswith("am-abc123-") and keys[0].removesuffix("-problem") == keys[1].removesuffix("-resolved")
    assert [r.body["type"] for r in sinks["chat"].received] == ["failure", "success"]


@pytest.mark.skipif(not shutil.which(ALERTMANAGER), reason="prometheus-alertmanager is not installed")
def test_real_alertmanager_pages_through_the_relay(
        netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], tmp_path: Path) -> None:
    nw = netwatch_process(relay_config(sinks))
    port = free_port()
    (tmp_path / "am.yml").write_text(f"""
route:
  receiver: netwatch
  group_by: [alertname, instance]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: netwatch
    webhook_configs:
      - url: {nw.base_url}/api/v1/alertmanager
        send_resolved: true
        http_config:
          authorization: {{credentials: {TOKEN}}}
""")
    (tmp_path / "am-data").mkdir()
    log = open(tmp_path / "alertmanager.log", "wb")
    am = subprocess.Popen([ALERTMANAGER, f"--config.file={tmp_path / 'am.yml'}",
                           f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{port}",
                           "--cluster.listen-address="], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: http_get(f"http://127.0.0.1:{port}/-/ready", 1)[0] == 200, 20, 0.1, "alertmanager ready")
        now = dt.datetime.now(dt.timezone.utc)
        alert = {"labels": {"alertname": "DiskFull", "instance": "portal:9100", "severity": "warning"},
                 "annotations": {"summary": "/var at 97%"}, "startsAt": now.isoformat()}
        assert post_json(f"http://127.0.0.1:{port}/api/v2/alerts", [alert])[0] == 200
        chat = sinks["chat"].wait_count(1, 15)
        assert "DiskFull portal:9100" in chat[0].body["title"] and "/var at 97%" in chat[0].body["message"]
        ended = {**alert, "endsAt": dt.datetime.now(dt.timezone.utc).isoformat()}
        assert post_json(f"http://127.0.0.1:{port}/api/v2/alerts", [ended])[0] == 200
        sinks["chat"].wait_count(2, 20)
        assert sinks["chat"].received[1].body["type"] == "success"
        rows = query(tmp_path / "netwatch.db", "SELECT source, severity, state FROM incidents")
        assert rows == [("alertmanager", "warning", "resolved")]
    finally:
        am.terminate()
        try:
            am.wait(10)
        except subprocess.TimeoutExpired:
            am.kill()
            am.wait()
        log.close()
