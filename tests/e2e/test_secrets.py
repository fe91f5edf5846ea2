"""Secrets never leak: a real `netwatch run` at DEBUG with failing gateways and checks, then every output is searched."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable

from tests.peers.sinks import HttpSink
from tests.peers.trapsend import send_link_down
from tests.support import REPO, NetwatchProcess, free_port, http_get, wait_for

SECRETS = {
    "CHAT_TOKEN": "chatTok9f3a1c7e55d2",
    "CHAT_PASS": "chatPw4b8e2d6a91c0",
    "CHAT_HEADER": "hdrVal7d1c9e3b2a64",
    "GOTIFY_TOKEN": "gotTokA1b2C3d4E5f6",
    "XML_PASS": "xmlPw8c7b6a5d4e3f2",
    "SMS_TOKEN": "smsTok5e4d3c2b1a09",
    "HTTP_HEADER": "httpHdr3f2e1d0c9b8a",
    "HTTP_QUERY": "httpQry9a8b7c6d5e4f",
    "SNMP_COMMUNITY": "snmpComm6b5a4f3e2d1c",
    "SSH_PASS": "sshPw2c1b0a9f8e7d6",
    "OP_TOKEN": "opTokenE1d2c3b4a5f6a7",
    "AM_TOKEN": "amTokenF7e6d5c4b3a2a1",
    "HEARTBEAT_ID": "hbIdD4c3b2a1f0e9d8",
    "TRAP_COMMUNITY": "trapComm1a2b3c4d5e6f",
}
# Written into a channel URL literally, not through ${ENV}: only the whole URL is a known secret, so the
# token alone must never be printed by anyone (urllib3 logs request paths at DEBUG).
LITERAL_TOKEN = "mmLiteralTok0a9b8c7d6e5"


def _config(refused: int, gw500: HttpSink, gw403: HttpSink, site: HttpSink, tcp_refused: int,
            snmp_port: int, ssh_port: int, trap_port: int, known_hosts: Path) -> str:
    return f"""
listen: "{{listen}}"
store: "{{store}}"
site: {{name: secrets-test}}
zones: [{{id: hall, name: Hall}}]
traps: {{listen: 127.0.0.1, port: {trap_port}, communities: ["${{TRAP_COMMUNITY}}"]}}
channels:
  chat500: {{urls: ["json://bot:${{CHAT_PASS}}@127.0.0.1:{gw500.port}/send?:token=${{CHAT_TOKEN}}&+X-Key=${{CHAT_HEADER}}"], lang: en, group_wait: 0s}}
  sms403: {{urls: ["json://127.0.0.1:{gw403.port}/api/send?:token=${{SMS_TOKEN}}&:to=0900000000"], lang: en, group_wait: 0s,
            sms: {{strip_diacritics: true, max_segments: 1}}}}
  refused: {{urls: ["jsons://127.0.0.1:{refused}/hook?token=${{SMS_TOKEN}}"], lang: en, group_wait: 0s}}
  gotify500: {{urls: ["gotify://127.0.0.1:{gw500.port}/${{GOTIFY_TOKEN}}"], lang: en, group_wait: 0s}}
  mmost500: {{urls: ["mmost://127.0.0.1:{gw500.port}/{LITERAL_TOKEN}"], lang: en, group_wait: 0s}}
  xmlrefused: {{urls: ["xml://user:${{XML_PASS}}@127.0.0.1:{refused}/x?:token=${{CHAT_TOKEN}}"], lang: en,
               group_wait: 0s}}
operators:
  - {{name: an, role: operator, token: "${{OP_TOKEN}}"}}
paging:
  backoff_initial: 200ms
  backoff_max: 1s
  heartbeat: {{url: "http://127.0.0.1:{refused}/ping/${{HEARTBEAT_ID}}", every: 1s, timeout: 1s}}
  alertmanager: {{token: "${{AM_TOKEN}}"}}
defaults:
  interval: 500ms
  timeout: 400ms
  alert: {{fail_after: 1, recover_after: 1, notify: [chat500, sms403, refused, gotify500, mmost500, xmlrefused]}}
targets:
  - id: gone
    host: 127.0.0.1
    zone: hall
    checks:
      - {{kind: tcp, port: {tcp_refused}}}
      - kind: http
        url: "http://127.0.0.1:{site.port}/status?key=${{HTTP_QUERY}}"
        headers: {{Authorization: "Bearer ${{HTTP_HEADER}}"}}
        expect_status: [200]
      - {{kind: snmp, community: "${{SNMP_COMMUNITY}}", port: {snmp_port}, timeout: 300ms, retries: 0}}
      - {{kind: ssh, port: {ssh_port}, known_hosts: "{known_hosts}", username: backup, password: "${{SSH_PASS}}",
          interval: 2s, timeout: 1s}}
"""


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    # Every write route takes JSON only (docs/security.md).
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback only
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _store_texts(store: Path) -> list[tuple[str, str, str]]:
    """(table, column, value) for every text or blob cell of every table."""
    conn = sqlite3.connect(store, timeout=10)
    out: list[tuple[str, str, str]] = []
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')]
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                for col, value in zip(cols, row):
                    if isinstance(value, bytes):
                        value = value.decode("utf-8", "replace")
                    if isinstance(value, str):
                        out.append((table, col, value))
    finally:
        conn.close()
    return out


def _leaks(where: str, text: str) -> list[str]:
    return [f"{where}: {name}" for name, value in {**SECRETS, "LITERAL_TOKEN": LITERAL_TOKEN}.items()
            if value in text]


def test_no_secret_reaches_any_output(netwatch_process: Callable[..., NetwatchProcess], tmp_path: Path) -> None:
    gw500 = HttpSink(status=500).start()
    gw403 = HttpSink(status=403).start()
    site = HttpSink(status=500).start()
    try:
        known_hosts = tmp_path / "known_hosts"
        ssh_port = free_port()
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "hostkey")], check=True)
        known_hosts.write_text(f"[127.0.0.1]:{ssh_port} " + (tmp_path / "hostkey.pub").read_text())
        trap_port = free_port(socket.SOCK_DGRAM)
        text = _config(free_port(), gw500, gw403, site, free_port(), free_port(socket.SOCK_DGRAM), ssh_port,
                       trap_port, known_hosts)
        proc = netwatch_process(text, env=SECRETS, args=("--log-level", "DEBUG", "run"))
        base = proc.base_url
        # Every check has failed and every channel has been tried (and failed) at least twice.
        wait_for(lambda: len(gw500.attempts) >= 4 and len(gw403.attempts) >= 1 and len(site.attempts) >= 2,
                 30, 0.2, "failed deliveries and checks")
        wait_for(lambda: all(f"channel {name}: delivery failed" in proc.log() for name in
                             ("chat500", "sms403", "refused", "gotify500", "mmost500", "xmlrefused")), 30, 0.2,
                 "delivery failures logged for every channel")
        wait_for(lambda: all(c["error"] for c in json.loads(http_get(base + "/api/v1/checks")[1])["checks"]),
                 20, 0.2, "every check failing")
        for community in (SECRETS["TRAP_COMMUNITY"], "wrong" + SECRETS["TRAP_COMMUNITY"]):
            send_link_down(trap_port, community)
        # Authenticated and unauthenticated calls to the state-changing endpoints.
        incidents = json.loads(http_get(base + "/api/v1/incidents")[1])["incidents"]
        assert incidents, "the failing checks opened incidents"
        assert _post(f"{base}/api/v1/incidents/{incidents[0]['id']}/ack", b'{"note": "on it"}',
                     {"Authorization": f"Bearer {SECRETS['OP_TOKEN']}", "Content-Type": "application/json"}) == 200
        assert _post(f"{base}/api/v1/incidents/{incidents[-1]['id']}/ack", b"{}",
                     {"Authorization": f"Bearer wrong{SECRETS['OP_TOKEN']}"}) == 401
        assert _post(base + "/api/v1/alertmanager", b'{"version": "4", "alerts": []}',
                     {"Authorization": f"Bearer wrong{SECRETS['AM_TOKEN']}"}) == 401
        time.sleep(1.5)  # a few more rounds of retries, heartbeats and failing probes at DEBUG

        leaks: list[str] = []
        for path in ("/metrics", "/api/v1/checks", "/api/v1/incidents?state=open,acked,resolved", "/api/v1/board",
                     "/board"):
            leaks += _leaks(path, http_get(base + path)[1])
        env = {**os.environ, **SECRETS}
        check = subprocess.run([sys.executable, "-m", "netwatch", "check", "-c", str(proc.config_path)],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr
        leaks += _leaks("netwatch check", check.stdout + check.stderr)
        for fmt in ("", "--json"):
            probe = subprocess.run([sys.executable, "-m", "netwatch", "--log-level", "DEBUG", "probe", "-c",
                                    str(proc.config_path), *([fmt] if fmt else [])], cwd=REPO, env=env,
                                   capture_output=True, text=True, timeout=120)
            assert "gone/http" in probe.stdout, probe.stderr
            leaks += _leaks(f"netwatch probe {fmt}", probe.stdout + probe.stderr)
        assert proc.stop() == 0
        for fmt in ("json", "md", "csv", "html"):
            out = tmp_path / f"report.{fmt}"
            report = subprocess.run([sys.executable, "-m", "netwatch", "report", "-c", str(proc.config_path),
                                     "--lang", "en", "--from", "2020-01-01T00:00", "--to", "2099-01-01T00:00", "-o", str(out)], cwd=REPO, env=env, capture_output=True,
                                    text=True, timeout=120)
            assert report.returncode == 0, report.stderr
            leaks += _leaks(f"netwatch report {fmt}", out.read_text(errors="replace") + report.stdout + report.stderr)
        log = proc.log_path.read_text(errors="replace")
        assert "DEBUG" in log
        leaks += _leaks("log", log)
        for table, col, value in _store_texts(tmp_path / "netwatch.db"):
            leaks += _leaks(f"store {table}.{col}", value)
        assert not leaks, sorted(set(leaks))
    finally:
        for sink in (gw500, gw403, site):
            sink.stop()
