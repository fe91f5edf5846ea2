"""Benchmark: one echo to each of 5,000 loopback addresses, netwatch's pinger against fping (and icmplib)."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netwatch.model import Target  # noqa: E402
from netwatch.probes import icmp  # noqa: E402
from netwatch.net.icmp import pinger  # noqa: E402

_FPING_LINE = re.compile(r"^(\S+)\s*: xmt/rcv/%loss = (\d+)/(\d+)/\d+%(?:, min/avg/max = [\d.]+/([\d.]+)/)?")


@dataclass
class Run:
    wall_seconds: float
    cpu_seconds: float
    rtts_seconds: list[float]
    received: int


def cpu_self() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def cpu_children() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def run_fping(hosts_file: Path) -> Run:
    before = cpu_children()
    started = time.perf_counter()
    done = subprocess.run(["fping", "-c1", "-i0", "-q", "-f", str(hosts_file)], capture_output=True, text=True)
    wall = time.perf_counter() - started
    cpu = cpu_children() - before
    rtts, received = [], 0
    for line in done.stderr.splitlines():
        m = _FPING_LINE.match(line)
        if m and int(m.group(3)):
            received += int(m.group(3))
            rtts.append(float(m.group(4)) / 1000)
    return Run(wall, cpu, rtts, received)


async def run_pinger(addresses: list[str]) -> Run:
    before = cpu_self()
    started = time.perf_counter()
    result = await pinger().ping_many(addresses, count=1, interval_seconds=0, timeout_seconds=2.0)
    wall = time.perf_counter() - started
    cpu = cpu_self() - before
    rtts = [r for s in result.values() for r in s.rtts_seconds]
    return Run(wall, cpu, rtts, len(rtts))


async def run_probes(addresses: list[str]) -> Run:
    settings = icmp.Settings(count=1)
    targets = [Target(id=a, host=a) for a in addresses]
    before = cpu_self()
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(icmp.probe(t, settings, 2.0) for t in targets))
    wall = time.perf_counter() - started
    cpu = cpu_self() - before
    rtts = [o.measurements["rtt_avg_seconds"] for o in outcomes if o.ok]
    return Run(wall, cpu, rtts, len(rtts))


async def run_icmplib(addresses: list[str]) -> Run:
    """icmplib's documented way to ping many hosts (a socket per host), for reference."""
    from icmplib import async_multiping  # the `bench` extra: only this reference needs it

    before = cpu_self()
    started = time.perf_counter()
    hosts = await async_multiping(addresses, count=1, interval=0, timeout=2, concurrent_tasks=500, privileged=True)
    wall = time.perf_counter() - started
    cpu = cpu_self() - before
    rtts = [h.avg_rtt / 1000 for h in hosts if h.is_alive]
    return Run(wall, cpu, rtts, len(rtts))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(name: str, runs: list[Run], n: int) -> dict[str, float]:
    wall = statistics.median(r.wall_seconds for r in runs)
    cpu_per_echo = statistics.median(r.cpu_seconds for r in runs) / n
    rtts = [x for r in runs for x in r.rtts_seconds]
    received = min(r.received for r in runs)
    print(f"{name:<22} wall {wall * 1000:8.1f} ms   cpu/echo {cpu_per_echo * 1e6:6.1f} us   "
          f"{n / wall:9.0f} echoes/s   rtt p50 {percentile(rtts, 0.5) * 1e3:.4f} ms  "
          f"p99 {percentile(rtts, 0.99) * 1e3:.4f} ms   replies {received}/{n} (worst run)")
    return {"wall": wall, "cpu": cpu_per_echo, "p50": percentile(rtts, 0.5), "received": received}


async def bench(addresses: list[str], hosts_file: Path, repeats: int) -> None:
    await pinger().ping_many(addresses[:100], 1, 0, 2.0)   # opens the sockets; not measured
    fping_runs: list[Run] = []
    pinger_runs: list[Run] = []
    probe_runs: list[Run] = []
    for _ in range(repeats):   # interleaved so machine noise hits all three alike
        fping_runs.append(run_fping(hosts_file))
        pinger_runs.append(await run_pinger(addresses))
        probe_runs.append(await run_probes(addresses))
    n = len(addresses)
    print(f"{n} addresses, one echo each, median of {repeats} runs, "
          f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}")
    f = summarize("fping -c1 -i0", fping_runs, n)
    p = summarize("pinger.ping_many", pinger_runs, n)
    q = summarize("5,000 x icmp.probe()", probe_runs, n)
    try:
        summarize("icmplib async_multiping", [await run_icmplib(addresses)], n)
    except ImportError:
        print("icmplib async_multiping: not installed (pip install -e '.[bench]')")
    print()
    wall_ratio, cpu_ratio = p["wall"] / f["wall"], p["cpu"] / f["cpu"]
    passed = wall_ratio <= 1.25 and cpu_ratio <= 1.5 and p["p50"] < 1e-4 and p["received"] == n
    print(f"ping_many  wall {wall_ratio:5.2f}x fping (target <= 1.25)  cpu/echo {cpu_ratio:5.2f}x fping "
          f"(target <= 1.5)  rtt p50 {p['p50'] * 1e3:.4f} ms (target < 0.1 ms)  {'PASS' if passed else 'MISS'}")
    print(f"probe()    wall {q['wall'] / f['wall']:5.2f}x fping  cpu/echo {q['cpu'] / f['cpu']:5.2f}x fping  "
          f"rtt p50 {q['p50'] * 1e3:.4f} ms  (one asyncio task, Outcome and batch per check: for information)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: raw ICMP sockets (and fping's) need it")
    if not shutil.which("fping"):
        sys.exit("fping is not installed (apt-get install fping)")
    addresses = [f"127.1.{i // 250}.{i % 250 + 1}" for i in range(args.hosts)]
    with tempfile.TemporaryDirectory() as tmp:
        hosts_file = Path(tmp) / "hosts.txt"
        hosts_file.write_text("\n".join(addresses) + "\n")
        asyncio.run(bench(addresses, hosts_file, args.repeats))


if __name__ == "__main__":
    main()
