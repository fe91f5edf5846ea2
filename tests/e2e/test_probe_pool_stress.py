"""End to end: 2,000 blackholed TCP targets beside 500 healthy ones (issue 13).

The blackholed targets sit on an address inside a network namespace this test creates, where nftables
drops every SYN (a connect timeout each time). The healthy ones connect on loopback. No healthy target
may show `unknown` after a bounded start-up, the skipped runs are counted, and the saturated pool is
named in a "monitoring degraded" notice.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.e2e.paging_support import venue
from tests.peers.sinks import HttpSink
from tests.support import NetwatchProcess, free_port, http_get, wait_for

BLACKHOLED = 2000
HEALTHY = 500
INTERVAL_SECONDS = 10.0
TIMEOUT_SECONDS = 4.0
TCP_POOL = 256   # netwatch.probes.contract's default concurrency, which tcp keeps
# From ready: a check is shown unknown until its first result. The first runs are spread over one
# interval, and until each blackholed check has timed out once it holds a slot of the whole pool.
STARTUP_SECONDS = INTERVAL_SECONDS + BLACKHOLED * TIMEOUT_SECONDS / TCP_POOL + 2 * TIMEOUT_SECONDS
OBSERVE_SECONDS = 35.0
UNKNOWN_LINE = re.compile(r'^netwatch_check_state\{check="([^"]+)",target="(ok\d+)",kind="tcp",state="unknown"\} 1\.0$',
                          re.MULTILINE)


class Listener:
    """The healthy targets' port on loopback, with a backlog deep enough for 500 checks' bursts (a full
    accept queue drops SYNs, and the test would measure its own listener instead of netwatch)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4096)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()

    def close(self) -> None:
        self.sock.close()


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=20)


@pytest.mark.root
def test_blackholed_targets_do_not_starve_healthy_ones(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None:
        pytest.skip("needs root, ip and nft")
    tag = f"{os.getpid() % 100000:05d}"
    ns, host_if, peer_if = f"nw13p{tag}", f"nw13h{tag}", f"nw13q{tag}"
    octet = 16 + os.getpid() % 200
    host_ip, ns_ip = f"10.213.{octet}.1", f"10.213.{octet}.2"
    chat, sms = HttpSink().start(), HttpSink().start()
    healthy = Listener()
    proc: NetwatchProcess | None = None
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        sh("ip", "link", "set", peer_if, "netns", ns)
        sh("ip", "addr", "add", f"{host_ip}/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "-n", ns, "addr", "add", f"{ns_ip}/30", "dev", peer_if)
        sh("ip", "-n", ns, "link", "set", peer_if, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "chaos")
        sh("ip", "netns", "exec", ns, "nft", "add", "chain", "inet", "chaos", "in",
           "{ type filter hook input priority 0; policy accept; }")
        sh("ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "chaos", "in", "tcp", "dport", "20000-29999",
           "drop")
        # The blackholed targets hang off one blackholed parent, so their outage pages once, not 2,000 times.
        targets = [f"  - {{id: gw, host: {ns_ip}, zone: hall, checks: [{{kind: tcp, port: 29999}}]}}\n"]
        targets += [f"  - {{id: dead{i}, host: {ns_ip}, zone: hall, depends_on: [gw], "
                    f"checks: [{{kind: tcp, port: {20000 + i}}}]}}\n" for i in range(BLACKHOLED)]
        targets += [f"  - {{id: ok{i}, host: 127.0.0.1, zone: hall, checks: [{{kind: tcp, port: {healthy.port}}}]}}\n"
                    for i in range(HEALTHY)]
        listen = f"127.0.0.1:{free_port()}"
        config = tmp_path / "venue.yaml"
        config.write_text(venue({"chat": chat, "sms": sms}, "".join(targets), interval=f"{INTERVAL_SECONDS:g}s")
                          .replace("timeout: 300ms", f"timeout: {TIMEOUT_SECONDS:g}s")
                          .replace("lang: en", "lang: vi").replace("{listen}", listen)
                          .replace("{store}", str(tmp_path / "netwatch.db")))
        proc = NetwatchProcess(config, listen, tmp_path)
        proc.wait_ready(60)
        ready_at = time.time()
        unknown_seen: dict[str, int] = {}
        samples = 0
        while time.time() - ready_at < STARTUP_SECONDS + OBSERVE_SECONDS:
            status, text = http_get(proc.base_url + "/metrics", 10)
            assert status == 200
            if time.time() - ready_at >= STARTUP_SECONDS:
                samples += 1
                for _, target in UNKNOWN_LINE.findall(text):
                    unknown_seen[target] = unknown_seen.get(target, 0) + 1
            time.sleep(1.0)
        text = http_get(proc.base_url + "/metrics", 10)[1]
        skipped = re.search(r'^netwatch_scheduler_skipped_runs_total\{kind="tcp"\} (\S+)$', text, re.MULTILINE)
        print(f"samples={samples} healthy_unknown={len(unknown_seen)} skipped_tcp={skipped and skipped.group(1)}")
        assert samples >= 10
        assert not unknown_seen, f"{len(unknown_seen)} healthy targets shown unknown: {sorted(unknown_seen)[:10]}"
        assert skipped is not None and float(skipped.group(1)) > 0
        # The saturated pool is paged as "monitoring degraded", named in Vietnamese.
        wait_for(lambda: any("bị bỏ qua" in r.body.get("message", "") for r in chat.received), 15, 0.2,
                 "the degraded notice naming probe-pool saturation")
    finally:
        if proc is not None:
            proc.stop()
        healthy.close()
        chat.stop()
        sms.stop()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=20)
