"""End to end: a resolver that never answers holds back no page and is named in the degraded notice (issue 13)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.paging_support import tcp_target, venue
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import REPO, free_port, http_get, parse_metrics, wait_for

SILENT_DNS = "127.0.0.77"     # a loopback address where a UDP socket takes queries and never answers


@pytest.mark.root
def test_never_answering_resolver_beside_an_ip_only_outage(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare")
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind((SILENT_DNS, 53))
    stop = threading.Event()

    def swallow() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                silent.recvfrom(4096)
            except OSError:
                pass

    threading.Thread(target=swallow, daemon=True).start()
    sms, chat = HttpSink().start(), HttpSink().start()
    room = TcpTarget().up()
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver {SILENT_DNS}\noptions timeout:5 attempts:2\n")
    named = "".join(f"  - {{id: named{i}, host: nx{i}.netwatch.test, checks: [{{kind: tcp, port: 80}}]}}\n"
                    for i in range(12))
    listen = f"127.0.0.1:{free_port()}"
    config = tmp_path / "venue.yaml"
    config.write_text(venue({"chat": chat, "sms": sms}, tcp_target("room1", room.port) + named)
                      .replace("lang: en", "lang: vi").replace("{listen}", listen)
                      .replace("{store}", str(tmp_path / "netwatch.db")))
    log = open(tmp_path / "netwatch.log", "wb")
    script = f"mount --bind {resolv} /etc/resolv.conf && exec {sys.executable} -m netwatch run -c {config}"
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script], cwd=REPO,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: http_get(f"http://{listen}/healthz", 1)[0] == 200, 20, 0.1, "netwatch ready")
        started = time.time()
        # The stalled resolver is named within 10 s of the first lookups, in Vietnamese.
        wait_for(lambda: any("máy chủ DNS không trả lời" in r.body.get("message", "") for r in chat.received),
                 20, 0.1, "the degraded notice naming the resolver")
        assert time.time() - started <= 15
        metrics = parse_metrics(http_get(f"http://{listen}/metrics", 2)[1])
        assert metrics["netwatch_monitoring_degraded"][0][1] == 1.0
        # An IP-only target's outage is paged within its normal bound while every lookup hangs.
        room.down()
        down_at = time.time()
        wait_for(lambda: any("room1" in r.body.get("message", "") for r in sms.received), 7, 0.1,
                 "the DOWN page of the IP-only target")
        assert next(r for r in sms.received if "room1" in r.body.get("message", "")).at - down_at <= 7
        for _ in range(10):                     # /metrics never hangs meanwhile
            assert http_get(f"http://{listen}/metrics", 2)[0] == 200
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        stop.set()
        silent.close()
        room.down()
        sms.stop()
        chat.stop()
