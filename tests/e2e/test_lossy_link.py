"""End to end: a link with 30 % random-looking loss never pages DOWN and does not flood (issue 13).

The targets are addresses inside a network namespace this test creates; nftables there drops 30 of
every 100 echo requests to each address, at positions drawn once from a seeded generator
(`numgen inc mod 100 { ... }`, one counter per address), so echo requests are lost as on a bad link
and the same way on every run of the test. icmp checks with the default alert and loss settings run at
a short interval for at least 300 runs.

Truly random loss (`numgen random`) made the test flaky: at 30 % loss, 9 echoes in a row are lost about
once in 50,000 runs (a DOWN after 3 failed runs, as any monitor paging on 3 failures would), and before
lone failures weighed a quarter a chance cluster of them read as flapping; 2 links x 300 runs met one or
the other in about 1 run of the test in 12. The pattern here keeps what those rare cases are not: lone
runs that lose every echo (a stretch of 3 to 5 drops lands on a whole run in some of the three ways the
runs fall on the 100-echo pattern, and 300 runs take all three), never two in a row.
"""

from __future__ import annotations

import os
import random
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


LOSS_PER_100 = 30


def drop_pattern(seed: int) -> list[int]:
    """Which 30 of every 100 echo requests to one address are dropped; stretches of 3 to 5 drops, none longer."""
    drops = sorted(random.Random(seed).sample(range(100), LOSS_PER_100))
    stretches = drop_stretches(drops)
    assert 3 <= max(stretches) <= 5, (seed, stretches)
    return drops


def drop_stretches(drops: list[int]) -> list[int]:
    """Lengths of the runs of consecutive dropped positions, the pattern read as a ring."""
    dropped = set(drops)
    start = next(i for i in range(100) if i not in dropped)
    out, run = [], 0
    for k in range(1, 101):
        if (start + k) % 100 in dropped:
            run += 1
        elif run:
            out.append(run)
            run = 0
    return out


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
        for i, ns_ip in enumerate(ns_ips):
            positions = ", ".join(map(str, drop_pattern(i)))
            sh("ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "chaos", "in", "ip", "daddr", ns_ip,
               "numgen", "inc", "mod", "100", f"{{ {positions} }}", "drop")
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
        # One degraded notice per link (issue 13). A RECOVERED/DEGRADED pair of one link (4 messages, seen under
        # the full suite's load) came from the loss window dipping for two runs; a link degraded by loss now
        # clears only after a whole window of echoes stayed low (netwatch/probes/icmp.py).
        titles = sorted(str(m.get("title", "")) for m in messages)
        assert len(titles) == CHECKS and all("DEGRADED" in t for t in titles), titles
        assert all(any(f"link{i} " in t for t in titles) for i in range(CHECKS)), titles
    finally:
        if proc is not None:
            proc.stop()
        chat.stop()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, timeout=20)
