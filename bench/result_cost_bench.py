"""Cost of a stored ICMP result: a real `netwatch run` with 5,000 icmp checks against fping, same run.

Run (as root, for raw ICMP and fping -i0): python bench/result_cost_bench.py [--checks 5000]
    [--interval 10] [--warmup 25] [--seconds 60] [--profile-seconds 30] [--batch-window 5ms]

Prints: the daemon's CPU per stored 3-echo result (CPU from /proc/PID/stat over the window, results
counted in the history store), fping's CPU for the same 3 echoes to the same 5,000 addresses
(`fping -c3 -p100 -i0`, RUSAGE_CHILDREN, median of runs interleaved with the daemon's window) and the
ratio; RTT p50/p99 and replies of each check's latest run (/metrics); then a per-stage breakdown of the daemon's
busy time from py-spy samples (non-blocking, GIL holder only, after the CPU window so it does not perturb it).
Traffic goes only to 127.3.0.0/16 on loopback.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from http_bench import free_port  # noqa: E402

_FPING_LINE = re.compile(r"^(\S+)\s*: xmt/rcv/%loss = (\d+)/(\d+)/")

# Stage of a sample: the innermost netwatch frame decides (a library call counts for its caller).
# Order matters only for files that could match twice.
STAGES: tuple[tuple[str, str], ...] = (
    ("store/rollup.py", "rollup"),
    ("_write_rollups", "rollup"),
    ("netwatch/store/", "store write"),
    ("netwatch/recorder.py", "recorder hand-off"),
    ("alerting/state.py", "live view (state step)"),
    ("netwatch/alerting/", "decision"),
    ("netwatch/live.py", "live view"),
    ("netwatch/net/icmp.py", "ping engine (send/receive)"),
    ("netwatch/probes/", "probe wrapper (resolve, judge, Outcome)"),
    ("netwatch/runner.py", "probe wrapper (run_check, timeout, Result)"),
    ("netwatch/scheduler.py", "scheduler"),
    ("netwatch/app.py", "handle (app)"),
    ("netwatch/web/", "web, /metrics"),
    ("cmd_run", "event loop (asyncio: timers, handles, task steps)"),
    ("netwatch/", "other netwatch"),
)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def thread_cpu(pid: int) -> dict[int, tuple[float, float]]:
    """User and system CPU seconds of each thread of a process, by thread id."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[int, tuple[float, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue   # the thread ended
        out[int(task.name)] = (int(fields[11]) / tick, int(fields[12]) / tick)
    return out


def gc_cpu(listen: str) -> dict[str, float]:
    """The daemon's own account of its garbage collector's CPU, per generation (/metrics)."""
    with urllib.request.urlopen(f"http://{listen}/metrics", timeout=60) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    return {m.group(1): float(m.group(2)) for m in
            re.finditer(r'^netwatch_gc_cpu_seconds_total{generation="(\d)"} (\S+)$', text, re.MULTILINE)}


def cpu_children() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def cpu_children_split() -> tuple[float, float]:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime, u.ru_stime


def hosts(n: int) -> list[str]:
    return [f"127.3.{i // 250}.{i % 250 + 1}" for i in range(n)]


def write_config(path: Path, addresses: list[str], interval: int, listen: str, store: Path,
                 batch_window: str) -> None:
    lines = ['site: {name: "result cost bench"}', f"listen: {listen}", f"store: {store}",
             f"defaults: {{interval: {interval}s, timeout: 2s}}", "targets:"]
    for i, host in enumerate(addresses):
        lines.append(f"  - {{id: h{i}, host: {host}, checks: [{{kind: icmp, batch_window: {batch_window}}}]}}")
    path.write_text("\n".join(lines) + "\n")


def run_fping(hosts_file: Path, n: int) -> tuple[float, int]:
    """CPU seconds of one `fping -c3` over every host, and replies received."""
    before = cpu_children()
    done = subprocess.run(["fping", "-c3", "-p100", "-i0", "-q", "-f", str(hosts_file)],
                          capture_output=True, text=True, timeout=120, check=False)
    cpu = cpu_children() - before
    received = sum(int(m.group(3)) for line in done.stderr.splitlines() if (m := _FPING_LINE.match(line)))
    return cpu, received


def stage_of(stack: str) -> str:
    frames = stack.split(";")
    if any("select" in f for f in frames[-1:]):
        return "event loop: in epoll_wait"
    for frame in reversed(frames):
        if "netwatch/" not in frame:
            continue
        for needle, stage in STAGES:
            if needle in frame:
                return stage
    return "event loop, asyncio, threads (no netwatch frame)"


def profile(pid: int, seconds: int, out: Path) -> collections.Counter[str]:
    spy = shutil.which("py-spy")
    if spy is None:
        print("py-spy not found (pip install py-spy): no per-stage breakdown")
        return collections.Counter()
    subprocess.run([spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "1000",
                    "--nonblocking", "--gil", "--format", "raw", "--output", str(out)],
                   capture_output=True, timeout=seconds + 60, check=False)
    stages: collections.Counter[str] = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stages[stage_of(stack)] += int(count)
    return stages


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=5000)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=25)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--profile-seconds", type=int, default=30)
    ap.add_argument("--batch-window", default="5ms", help="the checks' batch_window (0s: one batch per check)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nw-resultcost-"))
    addresses = hosts(args.checks)
    hosts_file = work / "hosts.txt"
    hosts_file.write_text("\n".join(addresses) + "\n")
    listen = f"127.0.0.1:{free_port()}"
    store = work / "netwatch.db"
    cfg = work / "venue.yaml"
    write_config(cfg, addresses, args.interval, listen, store, args.batch_window)
    print(f"{args.checks} icmp checks (3 echoes, batch_window {args.batch_window}) every {args.interval}s; "
          f"warm-up {args.warmup}s, CPU window {args.seconds}s, profile {args.profile_seconds}s")
    log = open(work / "netwatch.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "run", "-c", str(cfg)], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    fping: list[tuple[float, int]] = []
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://{listen}/healthz", timeout=5).read()  # noqa: S310 - loopback
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"netwatch did not start: {(work / 'netwatch.log').read_text()[-2000:]}")
                time.sleep(0.2)
        time.sleep(args.warmup)
        gc0 = gc_cpu(listen)   # before the window: the first scrape writes every check's lines
        t0, cpu0, split0 = time.time(), cpu_seconds(proc.pid), cpu_split(proc.pid)
        threads0 = thread_cpu(proc.pid)
        # fping runs inside the window too, so both see the same machine; its CPU is its own
        # (RUSAGE_CHILDREN) and the daemon's is read from /proc.
        fping_split0 = cpu_children_split()
        while time.time() - t0 < args.seconds:
            fping.append(run_fping(hosts_file, args.checks))
            time.sleep(max(0.0, min(args.interval, args.seconds - (time.time() - t0))))
        t1, cpu1, split1 = time.time(), cpu_seconds(proc.pid), cpu_split(proc.pid)
        threads1 = thread_cpu(proc.pid)
        gc1 = gc_cpu(listen)   # after the window
        fping_split1 = cpu_children_split()
        with urllib.request.urlopen(f"http://{listen}/metrics", timeout=60) as resp:  # noqa: S310 - loopback
            exposition = resp.read().decode()
        stages = profile(proc.pid, args.profile_seconds, work / "profile.txt")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    conn = sqlite3.connect(store)
    # Results stored for runs that started in the window (a run lasts ~0.2 s: its CPU is in the window).
    (stored,) = conn.execute("SELECT COUNT(*) FROM results WHERE ts >= ? AND ts < ?",
                                  (t0, t1)).fetchone()
    errors = conn.execute("SELECT error, COUNT(*) FROM results WHERE ts >= ? AND ts < ? AND ok = 0 GROUP BY error",
                          (t0, t1)).fetchall()
    # The latest run of every check, from /metrics: its mean RTT and its echoes.
    def samples(name: str) -> list[float]:
        return [float(m.group(1)) for m in re.finditer(rf"^\w*{name}{{[^}}]*}} (\S+)$", exposition, re.MULTILINE)]
    rtts = sorted(samples("rtt_avg_seconds"))
    echoes_sent, echoes_received = sum(samples("packets_sent")), sum(samples("packets_received"))
    cpu_per_result = (cpu1 - cpu0) / stored if stored else float("nan")
    fping_cpu = statistics.median(c for c, _ in fping) / args.checks
    fping_received = min(r for _, r in fping)
    print()
    print(f"netwatch: {stored} results in {t1 - t0:.0f}s ({stored / ((t1 - t0) / args.interval) / args.checks:.2f} "
          f"per check per interval), CPU {cpu1 - cpu0:.2f}s (user {split1[0] - split0[0]:.2f}s, system "
          f"{split1[1] - split0[1]:.2f}s) = {cpu_per_result * 1e6:.0f} us per stored result")
    print(f"          failures: {errors or 'none'}; latest run of each check: RTT (mean of its echoes) p50 "
          f"{rtts[len(rtts) // 2] * 1e3:.4f} ms, p99 {rtts[int(len(rtts) * 0.99)] * 1e3:.4f} ms; "
          f"replies {echoes_received:.0f}/{echoes_sent:.0f}" if rtts else "          no RTTs in /metrics")
    fping_hosts = len(fping) * args.checks
    print(f"fping -c3: {len(fping)} runs, {fping_cpu * 1e6:.0f} us CPU per 3-echo host (median; all runs: user "
          f"{(fping_split1[0] - fping_split0[0]) / fping_hosts * 1e6:.0f} us, system "
          f"{(fping_split1[1] - fping_split0[1]) / fping_hosts * 1e6:.0f} us), "
          f"fewest replies {fping_received}/{3 * args.checks}")
    if stored:
        print(f"netwatch per stored result: user {(split1[0] - split0[0]) / stored * 1e6:.0f} us, system "
              f"{(split1[1] - split0[1]) / stored * 1e6:.0f} us")
        # The event loop runs on the main thread (tid = pid); the store's writer and the default pool are the rest.
        loop_t = [b - a for a, b in zip(threads0.get(proc.pid, (0.0, 0.0)), threads1.get(proc.pid, (0.0, 0.0)))]
        others = [sum(v[k] - threads0.get(tid, (0.0, 0.0))[k] for tid, v in threads1.items() if tid != proc.pid)
                  for k in (0, 1)]
        print(f"  event-loop thread: user {loop_t[0] / stored * 1e6:.0f} us, system {loop_t[1] / stored * 1e6:.0f} us; "
              f"other threads ({len(threads1) - 1}): user {others[0] / stored * 1e6:.0f} us, "
              f"system {others[1] / stored * 1e6:.0f} us")
        print("  garbage collector: " + ", ".join(f"generation {g} {(gc1[g] - gc0.get(g, 0.0)) / stored * 1e6:.1f} us"
                                                  for g in sorted(gc1)) + " (included above)")
    print(f"ratio netwatch/fping CPU per 3-echo result: {cpu_per_result / fping_cpu:.2f}x   (goal <= 1.5x)")
    busy = sum(stages.values())
    if busy:
        print(f"\nper-stage share of the samples holding the GIL ({busy} samples, py-spy --gil, "
              f"{args.profile_seconds}s), scaled to the CPU per result (kernel time lands on the calling stage):")
        for stage, n in stages.most_common():
            print(f"  {stage:<50} {n / busy * 100:5.1f} %  ~{n / busy * cpu_per_result * 1e6:5.0f} us")
    print(f"(work dir {work})")


if __name__ == "__main__":
    main()
