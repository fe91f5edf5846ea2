"""Done-when of issue 19: a 300-device venue from a CSV and two profiles, checked, run and reported on."""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import zoneinfo
from pathlib import Path

import pytest

from tests.support import free_port, http_get, wait_for

REPO = Path(__file__).resolve().parents[2]
TZ = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")

VENUE = """\
# A 300-device venue: the devices are in inventory.csv, what to check on them in two profiles.
site: {{name: "Trung tâm Hội nghị tỉnh", timezone: Asia/Ho_Chi_Minh}}
listen: "127.0.0.1:{port}"
store: {store}
defaults: {{interval: 2s, timeout: 1s, alert: {{fail_after: 2, recover_after: 1}}}}
zones:
  - {{id: core, name: "Phòng máy chủ"}}
  - {{id: hall, name: "Hội trường"}}
  - {{id: press, name: "Trung tâm báo chí"}}
  - {{id: hotel, name: "Nơi ăn nghỉ"}}
profiles:
  device:                 # every device in the CSV names it
    checks:
      - {{kind: icmp, count: 1}}
  server:                 # applied to every device whose role is server
    match_labels: {{role: server}}
    labels: {{system: portal}}
    checks:
      - {{kind: tcp, port: {service_port}, id: service}}
targets:
  - id: core-router       # in the CSV too: this adds to its row and overrides the profile
    checks:
      - {{kind: icmp, count: 1, interval: 1s}}
"""


def _inventory() -> str:
    # Excel's "CSV UTF-8" on a Vietnamese Windows: BOM, `;` separators, CRLF.
    rows = ["id;name;host;zone;role;profile;parent",
            "core-router;Bộ định tuyến lõi;127.0.10.1;core;router;device;"]
    zones = ["hall", "press", "hotel"]
    for s in range(1, 20):
        rows.append(f"sw-{s:02d};Switch {s};127.0.11.{s};{zones[s % 3]};switch;device;core-router")
    for n in range(1, 281):
        switch = f"sw-{n % 19 + 1:02d}"
        role = "server" if n <= 10 else "ap"
        rows.append(f"dev-{n:03d};Thiết bị {n};127.0.{12 + n // 200}.{n % 200 + 1};{zones[n % 3]};{role};device;"
                    f"{switch}")
    return "\ufeff" + "\r\n".join(rows) + "\r\n"


def _netwatch(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NETWATCH_LANG": "en"}
    return subprocess.run([sys.executable, "-m", "netwatch", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="ICMP to 300 loopback addresses needs a raw socket (root)")
def test_300_devices_from_a_csv_and_two_profiles(tmp_path: Path) -> None:
    # The ten servers' service port: one listener per server address, accepting and closing.
    port = free_port()
    listeners = []
    for n in range(1, 11):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((f"127.0.12.{n + 1}", port))
        sock.listen(64)
        sock.setblocking(False)
        listeners.append(sock)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            ready, _, _ = select.select(listeners, [], [], 0.2)
            for sock in ready:
                try:
                    sock.accept()[0].close()
                except BlockingIOError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        _run_venue(tmp_path, port)
    finally:
        stop.set()
        thread.join(timeout=5)
        for sock in listeners:
            sock.close()


def _run_venue(tmp_path: Path, service_port: int) -> None:
    (tmp_path / "inventory.csv").write_bytes(_inventory().encode("utf-8"))
    port = free_port()
    venue = tmp_path / "venue.yaml"
    venue.write_text(VENUE.format(port=port, store=tmp_path / "data" / "netwatch.db", service_port=service_port),
                     encoding="utf-8")

    imported = _netwatch("import", "inventory.csv", "-c", "venue.yaml", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "300 devices from inventory.csv (1 merged" in imported.stdout
    text = venue.read_text(encoding="utf-8")
    assert text.rstrip().endswith("inventory: inventory.csv")
    assert len(text.splitlines()) < 50

    checked = _netwatch("check", "-c", "venue.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "Targets: 300" in checked.stdout
    assert "Checks: 311 (icmp 300, tcp 11)" not in checked.stdout  # the router is no server
    assert "Checks: 310 (icmp 300, tcp 10)" in checked.stdout

    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "run", "-c", "venue.yaml"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NETWATCH_LANG": "en"})
    try:
        def all_up() -> bool:
            try:
                status, body = http_get(f"http://127.0.0.1:{port}/api/v1/checks")
            except OSError:
                return False
            checks = json.loads(body)["checks"] if status == 200 else []
            return len(checks) == 310 and all(c["state"] == "up" for c in checks)

        wait_for(all_up, 60, interval_seconds=0.5, what="all 310 checks up")
        by_id = {c["check"]: c for c in json.loads(http_get(f"http://127.0.0.1:{port}/api/v1/checks")[1])["checks"]}
        assert by_id["dev-001/service"]["kind"] == "tcp"
        assert by_id["core-router/icmp"]["zone"] == "core"
        time.sleep(2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]

    today = dt.datetime.fromtimestamp(started, TZ).strftime("%d/%m/%Y")
    out = tmp_path / "report.json"
    reported = _netwatch("report", "-c", "venue.yaml", "--from", today, "--to", today, "--format", "json",
                         "-o", str(out), cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert {c["target"] for c in report["checks"]} == {"core-router"} | {f"sw-{s:02d}" for s in range(1, 20)} | {
        f"dev-{n:03d}" for n in range(1, 281)}
    assert {z["zone"] for z in report["zones"]} == {"core", "hall", "press", "hotel"}
    assert report["outages"] == []
    core = next(c for c in report["checks"] if c["check"] == "core-router/icmp")
    assert core["availability_ratio"] == 1.0
