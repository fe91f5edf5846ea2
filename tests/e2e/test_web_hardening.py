"""The HTTP endpoints under hostile requests: malformed or huge bodies get 4xx (never 500), the relay needs a
token beyond loopback, and the listening sockets stay on loopback by default."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.support import REPO, NetwatchProcess, free_port, http_get, wait_for

OP_TOKEN = "operator-token-0123456789"
VIEWER_TOKEN = "viewer-token-0123456789abcdef"

CONFIG = f"""
listen: "{{listen}}"
store: "{{store}}"
site: {{name: web-hardening}}
zones: [{{id: hall, name: Hall}}]
operators:
  - {{name: an, role: operator, token: "{OP_TOKEN}"}}
defaults: {{interval: 1s, timeout: 500ms}}
targets:
  - {{id: web1, host: 127.0.0.1, checks: []}}
"""


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def test_bad_bodies_and_ids_are_client_errors(netwatch_process: Callable[..., NetwatchProcess]) -> None:
    nw = netwatch_process(CONFIG)
    relay = nw.base_url + "/api/v1/alertmanager"
    json_type = {"Content-Type": "application/json"}
    for body in (b"{", b"\xff\xfe{}", b"[1]", b"null", b'{"version": "4", "alerts": {}}'):
        assert post(relay, body, json_type)[0] == 400, body
    # Alerts of the wrong shape are skipped, not a crash.
    odd = {"version": "4", "alerts": [{"labels": "LinkDown"}, {"labels": ["a"]}, {"annotations": 5}, 7]}
    assert post(relay, json.dumps(odd).encode(), json_type) == (200, '{"opened": 0, "resolved": 0}')
    assert post(relay, b'{"version": "4", "alerts": []' + b" " * (2 << 20) + b"}", json_type)[0] == 413

    op = {"Authorization": f"Bearer {OP_TOKEN}", **json_type}
    ack = nw.base_url + "/api/v1/incidents/{}/ack"
    assert post(ack.format(1), b"{", op)[0] == 400
    assert post(ack.format(1), b"\xff", op)[0] == 400
    assert post(ack.format(1), b"{}", op)[0] == 404
    assert post(ack.format("9" * 30), b"{}", op)[0] == 400   # beyond SQLite's 64-bit integers
    assert post(ack.format("-1"), b"{}", op)[0] == 400
    assert post(ack.format(1), b'{"note": "' + b"x" * (2 << 20) + b'"}', op)[0] == 413
    assert post(ack.format(1), b"{}", {"Authorization": "Bearer wrong-token-000000", **json_type})[0] == 401

    status, body = http_get(nw.base_url + "/api/v1/incidents?state=open,')%3B%20DROP%20TABLE%20incidents%3B--")
    assert status == 200 and json.loads(body) == {"incidents": [], "next": None}   # nothing more to page through
    assert http_get(nw.base_url + "/healthz")[0] == 200
    assert "Traceback" not in nw.log()


def test_default_sockets_listen_on_loopback_only(netwatch_process: Callable[..., NetwatchProcess],
                                                 tmp_path: Path) -> None:
    trap_port = free_port(socket.SOCK_DGRAM)
    config = CONFIG.replace('listen: "{listen}"\n', 'listen: "{listen}"\ntraps: {port: %d}\n' % trap_port)
    nw = netwatch_process(config)
    wait_for(lambda: "receiving SNMP traps" in nw.log(), 10, 0.1, "the trap receiver")
    pid = nw.proc.pid
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    bound: list[str] = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if inode in inodes and (table.startswith("udp") or state == "0A"):  # 0A: LISTEN
                bound.append(f"{table} {local}")
    assert len(bound) >= 2, bound
    loopback = ("0100007F:",) + ("00000000000000000000000001000000:",)
    assert all(entry.split()[1].startswith(loopback) for entry in bound), bound


NS = f"nwt_relay_{os.getpid()}"
ADDRESS = "10.77.0.1"  # exists only on the veth inside the test's own netns NS


@pytest.fixture
def namespace() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2")
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        for cmd in ("ip link set lo up", "ip link add nw0 type veth peer name nw1",
                    f"ip addr add {ADDRESS}/24 dev nw0", "ip link set nw0 up", "ip link set nw1 up"):
            subprocess.run(["ip", "netns", "exec", NS, *cmd.split()], check=True)
        yield NS
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)


CLIENT = """
import json, sys, urllib.request
data = None if len(sys.argv) > 2 else json.dumps({"version": "4", "alerts": [
    {"status": "firing", "labels": {"alertname": "X", "instance": "i"}}]}).encode()
headers = {"Content-Type": "application/json"}
if len(sys.argv) > 2 and sys.argv[2]:
    headers["Authorization"] = "Bearer " + sys.argv[2]
req = urllib.request.Request(sys.argv[1], data=data, method="POST" if data else "GET", headers=headers)
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
"""


@pytest.mark.root
def test_beyond_loopback_the_relay_and_the_json_api_need_tokens(namespace: str, tmp_path: Path) -> None:
    config = tmp_path / "venue.yaml"
    config.write_text(CONFIG.replace("{listen}", f"{ADDRESS}:9800").replace("{store}", str(tmp_path / "n.db"))
                      + f'board: {{viewer_token: "{VIEWER_TOKEN}"}}\n')
    log = open(tmp_path / "netwatch.log", "wb")
    proc = subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-m", "netwatch", "run", "-c",
                             str(config)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

    def client(url: str, *get_with_token: str) -> str:
        return subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", CLIENT, url, *get_with_token],
                              capture_output=True, text=True, timeout=30).stdout.strip()

    try:
        wait_for(lambda: client(f"http://{ADDRESS}:9800/api/v1/alertmanager") not in ("", "000"), 20, 0.3,
                 "netwatch in the namespace")
        assert client(f"http://{ADDRESS}:9800/api/v1/alertmanager") == "403"
        assert client("http://127.0.0.1:9800/api/v1/alertmanager") == ""  # not listening on loopback there
        # Read-only JSON wants the viewer token (or an operator's) here too, like the board.
        for path in ("/api/v1/checks", "/api/v1/incidents", "/api/v1/board"):
            assert client(f"http://{ADDRESS}:9800{path}", "") == "401", path
            assert client(f"http://{ADDRESS}:9800{path}", VIEWER_TOKEN) == "200", path
        assert client(f"http://{ADDRESS}:9800/api/v1/incidents", OP_TOKEN) == "200"
        assert client(f"http://{ADDRESS}:9800/metrics", "") == "200"   # Prometheus scrapes it as before
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
    assert "Traceback" not in (tmp_path / "netwatch.log").read_text()


def test_password_guessing_does_not_stall_the_event_loop(netwatch_process: Callable[..., NetwatchProcess]) -> None:
    import base64
    import threading

    from netwatch.alerting.operators import hash_password

    slow_hash = hash_password("the-right-password", iterations=2_000_000)   # ~0.5 s of PBKDF2 per guess
    nw = netwatch_process(CONFIG.replace(f'token: "{OP_TOKEN}"}}', f'token: "{OP_TOKEN}"}}\n'
                                         f'  - {{name: binh, role: operator, password_hash: "{slow_hash}"}}'))
    guess = {"Authorization": "Basic " + base64.b64encode(b"binh:a-wrong-guess").decode(),
             "Content-Type": "application/json"}
    statuses: list[int] = []

    def attempt() -> None:
        statuses.append(post(nw.base_url + "/api/v1/incidents/1/ack", b"{}", guess)[0])

    threads = [threading.Thread(target=attempt) for _ in range(14)]
    for t in threads:
        t.start()
    slowest = 0.0
    while any(t.is_alive() for t in threads):
        started = time.monotonic()
        assert http_get(nw.base_url + "/healthz", 10)[0] == 200
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert set(statuses) <= {401, 429} and 401 in statuses, statuses
    assert 429 in statuses, statuses           # beyond the queue: refused at once, not computed
    # On the event loop, 14 guesses would hold /healthz for seconds; generous for a loaded 2-core machine.
    assert slowest < 1.0, slowest
