"""Scale: 10,000 mixed ICMP/TCP/HTTP checks on loopback at a 10 s interval, run by a real `netwatch run`.

Run (as root, for raw ICMP): python bench/scale_bench.py [--checks 10000] [--seconds 300] [--interval 10]
                             [--store sqlite|postgresql]

Prints: scheduler lag p50/p99 (from the daemon's own lag histogram), runs per check per interval
(from the history store, over the measured window), RSS over time, /metrics scrape time and beside
it the daemon's own figures of the render it was served from (`netwatch_metrics_render_*`: wall, CPU,
longest slice), the scheduler lag since the previous scrape and /healthz while it ran, the
daemon's CPU, how long the daemon took to answer /healthz (asked every 0.25 s from a thread of the
bench: a stalled event loop shows there) and the load average beside each figure. Targets: lag p99
< 1 s, every check once per interval +-10 %, RSS < 400 MB and flat.
`--profile SECONDS`: py-spy (pip install py-spy) samples the daemon for that long after the warm-up
(`--gil --threads --nonblocking`) and prints the share of each thread and the busiest functions.
Traffic goes only to 127.0.0.0/8: ICMP to 127.2.x.y, TCP/HTTP to one C epoll server (from
http_bench.py) in its own process. `--store postgresql` writes to a private PostgreSQL 15 cluster
(bench/benchstore.py) and also prints the cluster's CPU.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchstore import BenchStore  # noqa: E402
from http_bench import free_port, start_target  # noqa: E402


def kind_of(i: int, mix: tuple[int, int, int] | None) -> str:
    """Check i's kind: icmp/tcp/http in turn, or in the proportions of `mix` (icmp, tcp, http)."""
    if mix is None:
        return ("icmp", "tcp", "http")[i % 3]
    r = i % sum(mix)
    return "icmp" if r < mix[0] else "tcp" if r < mix[0] + mix[1] else "http"


def write_config(path: Path, n: int, interval: str, listen: str, store: str, http_port: int,
                 mix: tuple[int, int, int] | None = None) -> dict[str, int]:
    kinds = {"icmp": 0, "tcp": 0, "http": 0}
    lines = [f'site: {{name: "scale bench"}}', f"listen: {listen}", f"store: {store}",
             f"defaults: {{interval: {interval}, timeout: 2s}}", "targets:"]
    for i in range(n):
        kind = kind_of(i, mix)
        kinds[kind] += 1
        host = f"127.2.{(i // 250) % 250}.{i % 250 + 1}" if kind == "icmp" else "127.0.0.1"
        if kind == "icmp":
            check = "{kind: icmp, count: 1}"
        elif kind == "tcp":
            check = f"{{kind: tcp, port: {http_port}}}"
        else:
            check = f'{{kind: http, url: "http://127.0.0.1:{http_port}/t{i}"}}'
        lines.append(f"  - {{id: t{i}, host: {host}, checks: [{check}]}}")
    path.write_text("\n".join(lines) + "\n")
    return kinds


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def scrape(url: str, timeout: float = 30) -> tuple[float, str]:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback
        text = resp.read().decode()
    return time.perf_counter() - t0, text


def lag_buckets(text: str, kind: str | None = None) -> dict[float, float]:
    """The cumulative lag histogram, summed over kinds (or of one kind): upper bound -> runs.

    Read from its own lines only: parsing the whole 1 M-line exposition with prometheus-client's parser
    cost the bench ~10 s of CPU on the two cores the daemon needs."""
    buckets: dict[float, float] = {}
    prefix = "netwatch_scheduler_lag_seconds_bucket{"
    start = text.find(prefix)
    while start >= 0:
        end = text.index("\n", start)
        line = text[start:end]
        if kind is not None and f'kind="{kind}"' not in line:
            start = text.find(prefix, end)
            continue
        le = line[line.index('le="') + 4:]
        le = le[:le.index('"')]
        bound = float("inf") if le == "+Inf" else float(le)
        buckets[bound] = buckets.get(bound, 0) + float(line.rsplit(" ", 1)[1])
        start = text.find(prefix, end)
    return buckets


class HealthWatch:
    """Asks /healthz every `every` seconds from a thread: how long the daemon's event loop takes to answer."""

    def __init__(self, url: str, every: float = 0.25) -> None:
        self.url, self.every = url, every
        self.samples: list[tuple[float, float]] = []   # (wall time asked, seconds to answer)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            asked = time.time()
            try:
                seconds, _ = scrape(self.url, timeout=60)
            except OSError:
                seconds = float("inf")
            self.samples.append((asked, seconds))
            self.stop.wait(max(0.0, self.every - seconds))

    def summary(self, since: float) -> str:
        answers = sorted(s for t, s in self.samples if t >= since)
        if not answers:
            return "no samples"
        p = lambda q: answers[min(len(answers) - 1, int(q * len(answers)))]  # noqa: E731
        return (f"{len(answers)} asked: p50 {p(0.5) * 1000:.0f} ms, p99 {p(0.99) * 1000:.0f} ms, "
                f"max {answers[-1] * 1000:.0f} ms; {sum(1 for a in answers if a > 1)} over 1 s")


def start_profile(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy not found (pip install py-spy): no profile")
        return None
    return subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100",
                             "--nonblocking", "--gil", "--threads", "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_profile(out: Path, top: int = 25) -> None:
    """Share of the GIL samples per thread, and per innermost netwatch function (else innermost frame)."""
    threads: collections.Counter[str] = collections.Counter()
    funcs: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        thread = frames[0].split(" (")[0] if frames else "?"
        threads[thread] += n
        inner = next((f for f in reversed(frames) if "netwatch/" in f), frames[-1])
        funcs[f"{thread}: {inner}"] += n
    if not total:
        print("profile: no samples")
        return
    print(f"profile: {total} samples holding the GIL; by thread: "
          + ", ".join(f"{t} {n * 100 / total:.0f} %" for t, n in threads.most_common()))
    for name, n in funcs.most_common(top):
        print(f"  {n * 100 / total:5.1f} %  {name}")


def samples_of(text: str, name: str) -> list[tuple[str, float]]:
    """(labels, value) of every sample named exactly `name` (a plain scan: the family is a few lines)."""
    out = []
    for line in text[text.find(f"\n{name}"):].split("\n")[1:]:
        if not line.startswith(name) or line[len(name)] not in " {":
            break
        head, _, value = line.rpartition(" ")
        out.append((head[len(name):], float(value)))
    return out


def lag_quantiles(text: str, since: dict[float, float] | None = None, kind: str | None = None
                  ) -> tuple[float, float, int]:
    """p50/p99 upper bounds from the cumulative lag histogram, summed over kinds (minus `since`'s counts)."""
    buckets = lag_buckets(text, kind)
    if since:
        buckets = {le: n - since.get(le, 0) for le, n in buckets.items()}
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0
    def q(p: float) -> float:
        for b in bounds:
            if buckets[b] >= p * total:
                return b
        return float("inf")
    return q(0.5), q(0.99), int(total)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--mix", default="", help="icmp:tcp:http proportions, e.g. 40:8:2 (default: equal, in turn)")
    ap.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--profile", type=int, default=0, help="py-spy the daemon for this many seconds after the warm-up")
    args = ap.parse_args()
    mix = tuple(int(x) for x in args.mix.split(":")) if args.mix else None
    work = Path(tempfile.mkdtemp(prefix="nw-scale-"))
    target, http_port, target_kind = start_target(work)
    listen = f"127.0.0.1:{free_port()}"
    store = BenchStore(args.store, work)
    cfg = work / "venue.yaml"
    kinds = write_config(cfg, args.checks, f"{args.interval}s", listen, store.yaml, http_port, mix)
    print(f"{args.checks} checks {kinds} every {args.interval}s for {args.seconds}s; target server: {target_kind}; "
          f"store: {args.store}; load average {os.getloadavg()[0]:.1f} at the start")
    log = open(work / "netwatch.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "run", "-c", str(cfg)], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.time() + 300   # 50,000 checks take a while to load
        while True:
            try:
                scrape(f"http://{listen}/healthz")
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"netwatch did not start: {(work / 'netwatch.log').read_text()[-2000:]}")
                time.sleep(0.2)
        started = time.time()
        health = HealthWatch(f"http://{listen}/healthz")
        profiler: subprocess.Popen[bytes] | None = None
        warmup = 2 * args.interval
        rss: list[tuple[float, float]] = []
        scrapes: list[float] = []
        renders: list[dict[str, float]] = []   # the daemon's netwatch_metrics_render_* after each scrape
        lag_before: dict[float, float] = {}
        cpu0 = None
        lag0: dict[float, float] = {}
        lag0_kinds: dict[str, dict[float, float]] = {}
        while time.time() - started < args.seconds:
            time.sleep(15)  # Prometheus's default scrape interval
            elapsed = time.time() - started
            rss.append((elapsed, rss_mb(proc.pid)))
            if cpu0 is None and elapsed >= warmup:
                # Read before the scrape, so a scrape that times out still leaves the CPU window.
                cpu0 = (time.time(), cpu_seconds(proc.pid), store.server_cpu_seconds())
                if args.profile:
                    profiler = start_profile(proc.pid, args.profile, work / "profile.txt")
            scrape_started = time.time()
            try:
                scrape_seconds, text = scrape(f"http://{listen}/metrics")
            except TimeoutError:
                # A scrape that does not answer within 30 s is a result too (Prometheus would give up
                # sooner): count it and go on measuring the rest.
                scrapes.append(float("inf"))
                print(f"  t={elapsed:5.0f}s rss={rss[-1][1]:6.1f} MB scrape timed out (30 s) "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
                continue
            scrapes.append(scrape_seconds)
            if not lag0 and elapsed >= warmup:
                lag0 = lag_buckets(text)
                lag0_kinds = {k: lag_buckets(text, k) for k in kinds}
            pending = samples_of(text, "netwatch_store_oldest_pending_write_seconds")
            # The daemon's own account of the render this scrape was served from (no transfer in it), the
            # scheduler lag since the previous scrape and /healthz while this one ran: the render's cost
            # beside what the probes saw of it.
            render = {name: (samples_of(text, f"netwatch_metrics_{name}") or [("", float("nan"))])[0][1]
                      for name in ("render_seconds", "last_render_cpu_seconds", "render_longest_slice_seconds")}
            renders.append(render)
            lag99 = f"<= {lag_quantiles(text, lag_before)[1]}s" if lag_before else "n/a"
            lag_before = lag_buckets(text)
            # /healthz questions that were open at some moment of the scrape
            asked = [s for t, s in list(health.samples) if t <= scrape_started + scrape_seconds and t + s >= scrape_started]
            print(f"  t={elapsed:5.0f}s rss={rss[-1][1]:6.1f} MB scrape={scrape_seconds * 1000:6.0f} ms "
                  f"(render {render['render_seconds'] * 1000:.0f} ms wall, {render['last_render_cpu_seconds'] * 1000:.0f} "
                  f"ms CPU, longest slice {render['render_longest_slice_seconds'] * 1000:.0f} ms; lag p99 since the "
                  f"last scrape {lag99}; /healthz during it: "
                  f"{f'max {max(asked) * 1000:.0f} ms of {len(asked)}' if asked else 'none asked'}) "
                  f"oldest unwritten={pending[0][1] if pending else float('nan'):.1f} s "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
        health.stop.set()
        if profiler is not None:
            profiler.wait(args.profile + 120)
            print_profile(work / "profile.txt")
        # A whole number of intervals, so every check is expected the same number of times in it.
        window_start = started + warmup
        window_end = window_start + (time.time() - args.interval - window_start) // args.interval * args.interval
        cpu1 = (time.time(), cpu_seconds(proc.pid), store.server_cpu_seconds())
        load_end = os.getloadavg()[0]
        try:
            _, text = scrape(f"http://{listen}/metrics", timeout=120)
        except TimeoutError:
            text = ""   # the lag histogram is lost with it; the store still has every run
            print("  the final scrape timed out (120 s): no lag figures", flush=True)
        p50, p99, runs = lag_quantiles(text)
        w50, w99, wruns = lag_quantiles(text, lag0) if lag0 and text else (float("nan"), float("nan"), 0)
        by_kind = {k: lag_quantiles(text, lag0_kinds[k], k) for k in kinds if kinds[k]} if lag0 and text else {}
    except BaseException:
        store.close()
        raise
    finally:
        proc.send_signal(signal.SIGTERM)
        stopping = time.time()
        try:
            proc.wait(180)
            print(f"netwatch stopped {time.time() - stopping:.1f} s after SIGTERM")
        except subprocess.TimeoutExpired:
            print("netwatch did NOT stop within 180 s of SIGTERM: killed")
            proc.kill()
            proc.wait()
        target.terminate()
        target.wait()
    try:
        counts = dict(store.query("SELECT check_id, COUNT(*) FROM results WHERE ts >= ? AND ts < ? GROUP BY check_id",
                                  (window_start, window_end)))
        failures = store.query("SELECT error, COUNT(*) FROM results WHERE ts >= ? AND ts < ? AND ok = 0 GROUP BY error",
                               (window_start, window_end))
        size_mb = store.size_mb()
    finally:
        store.close()
    expected = (window_end - window_start) / args.interval
    per_check = [counts.get(f"t{i}/{kind_of(i, mix)}", 0) / expected for i in range(args.checks)]
    within = sum(1 for r in per_check if 0.9 <= r <= 1.1)
    steady = [m for t, m in rss if t >= warmup]
    cpu_share = (cpu1[1] - cpu0[1]) / (cpu1[0] - cpu0[0]) if cpu0 else float("nan")
    server_share = (cpu1[2] - cpu0[2]) / (cpu1[0] - cpu0[0]) if cpu0 else float("nan")
    print()
    print(f"scheduler lag (whole run, {runs} runs): p50 <= {p50}s, p99 <= {p99}s   target p99 < 1s")
    print(f"scheduler lag (after the {2 * args.interval}s warm-up, {wruns} runs): p50 <= {w50}s, p99 <= {w99}s; "
          + ", ".join(f"{k}: p50 <= {q[0]}s, p99 <= {q[1]}s ({q[2]} runs)" for k, q in by_kind.items()))
    print(f"runs per check per interval over {window_end - window_start:.0f}s: min {min(per_check):.2f} "
          f"median {statistics.median(per_check):.2f} max {max(per_check):.2f}; "
          f"{within}/{args.checks} within +-10 %")
    print(f"failed results in window: {failures or 'none'}")
    print(f"RSS MB: first {steady[0]:.0f}, last {steady[-1]:.0f}, max {max(steady):.0f}   target < 400, flat")
    print(f"/healthz answers after the warm-up: {health.summary(started + warmup)}")
    if text:
        gc_line = ", ".join(
            f"gen {g}: {int(n)} collections, {dict(samples_of(text, 'netwatch_gc_pause_seconds_total'))[lbl]:.2f} s "
            f"({dict(samples_of(text, 'netwatch_gc_cpu_seconds_total')).get(lbl, float('nan')):.2f} s CPU), "
            f"longest {dict(samples_of(text, 'netwatch_gc_longest_pause_seconds'))[lbl] * 1000:.0f} ms"
            for g, (lbl, n) in enumerate(samples_of(text, "netwatch_gc_collections_total")))
        print(f"garbage collector (whole run): {gc_line or 'not exported'}")
    timed_out = sum(1 for x in scrapes if x == float("inf"))
    print(f"/metrics scrape: median {statistics.median(scrapes) * 1000:.0f} ms, max {max(scrapes) * 1000:.0f} ms"
          f"{f', {timed_out} of {len(scrapes)} timed out (30 s)' if timed_out else ''}")
    if renders:
        walls = [r["render_seconds"] for r in renders]
        cpus = [r["last_render_cpu_seconds"] for r in renders]
        print(f"/metrics render (the daemon's own figures, per scrape): wall median {statistics.median(walls) * 1000:.0f} ms "
              f"max {max(walls) * 1000:.0f} ms; CPU median {statistics.median(cpus) * 1000:.0f} ms max "
              f"{max(cpus) * 1000:.0f} ms; longest slice {max(r['render_longest_slice_seconds'] for r in renders) * 1000:.0f}"
              f" ms   target < 1 s")
    print(f"netwatch CPU: {cpu_share * 100:.0f} % of one core ({cpu_share / (args.checks / args.interval) * 1e6:.0f} us "
          f"per check run)")
    if args.store == "postgresql":
        print(f"PostgreSQL CPU: {server_share * 100:.0f} % of one core ({server_share / (args.checks / args.interval) * 1e6:.0f}"
              f" us per stored result)")
    print(f"store ({args.store}): {size_mb:.0f} MB after the run ({work}); load average {load_end:.1f} at the end")


if __name__ == "__main__":
    main()
