"""End to end: a link with 30 % random loss never pages DOWN and does not flood (issue 13).

The target is an address inside a network namespace this test creates; nftables there drops about 3
in 10 incoming packets at random (`numgen random mod 10 < 3`), so echo requests are lost as on a bad
link. icmp checks with the default alert and loss settings run at a short interval for at least 300
runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.paging_support import venue
from tests.peers.sinks import HttpSink
from tests.support import NetwatchProcess, free_port, http_get

INTERVAL = "200ms"
RUNS = 300
CHECKS = 2
MAX_SECONDS = 75.0


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=20)


def icmp_runs(text: str) -> float:
    found = re.search(r'^netwatch_scheduler_lag_seconds_count\{kind="icmp"\} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.mark.root
def test_thirty_percent_random_loss_pages_no_down_and_at_most_two_messages(tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("ip") is None:
        pytest.skip("needs root, ip and nft")
    tag = f"{os.getpid() % 100000:05d}"
    ns, host_if, peer_if = f"nw13l{tag}", f"nw13m{tag}", f"nw13n{tag}"
    octet = 16 + os.getpid() % 200
    host_ip, ns_ips = f"10.214.{octet}.1", [f"10.214.{octet}.{2 + i}" for i in range(CHECKS)]
    chat = HttpSink().start()
    proc: NetwatchProcess | None = None
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        sh("ip", "link", "set", peer_if, "netns", ns)
        sh("ip", "addr", "add", f"{host_ip}/29", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        for ns_ip in ns_ips:
            sh("ip", "-n", ns, "addr", "add", f"{ns_ip}/29", "dev", peer_if)
        sh("ip", "-n", ns, "link", "set", peer_if, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "chaos")
        sh("ip", "netns", "exec", ns, "nft", "add", "chain", "inet", "chaos", "in",
           "{ type filter hook input priority 0; policy accept; }")
        sh("ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "chaos", "in", "numgen", "random", "mod", "10",
           "<", "3", "drop")
        targets = "".join(f"  - {{id: link{i}, host: {ns_ip}, zone: hall, checks: [{{kind: icmp}}]}}\n"
                          for i, ns_ip in enumerate(ns_ips))
        listen = f"127.0.0.1:{free_port()}"
        config = tmp_path / "venue.yaml"
        # The default alert policy and icmp settings: what a venue gets without tuning.
        config.write_text(venue({"chat": chat}, targets, interval=INTERVAL, alert="{}")
                          .replace("  timeout: 300ms\n", "")
                          .replace("{listen}", listen).replace("{store}", str(tmp_path / "netwatch.db")))
        proc = NetwatchProcess(config, listen, tmp_path)
        proc.wait_ready(30)
        started = time.time()
        runs = 0.0
        while runs < RUNS * CHECKS and time.time() - started < MAX_SECONDS:
            time.sleep(1.0)
            runs = icmp_runs(http_get(proc.base_url + "/metrics", 5)[1])
        messages = [r.body for r in chat.received]
        print(f"runs={runs:.0f} in {time.time() - started:.0f}s; messages={len(messages)}:",
              [(m.get("dedup_key"), m.get("title")) for m in messages])
        assert runs >= RUNS * CHECKS
        downs = [m for m in messages if "DOWN" in f"{m.get('title', '')} {m.get('message', '')}"]
        assert not downs, downs
        # One degraded notice per link at most (issue 13). A RECOVERED/DEGRADED pair of one link (4 messages,
        # seen under the full suite's load) came from the loss window dipping for two runs; a link degraded by
        # loss now clears only after a whole window of echoes stayed low (netwatch/probes/icmp.py).
        assert len(messages) <= 2
    finally:
        if proc is not None:
            proc.stop()
        chat.stop()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=20)
