"""/metrics at scale: render time, size and event-loop stall of a scrape of 50,000 checks.

Run: python bench/metrics_bench.py [--checks 50000] [--mix 40:8:2] [--scrapes 5] [--changed 0.5]
       [--no-peers] [--gc daemon|default] [--no-warm]

What it does (all in this process, on loopback): builds a live view of `--checks` checks in the
scale bench's mix (icmp:tcp:http 40:8:2, 30 s interval) and gives every check a result with the
measurements its probe kind really reports; serves the real aiohttp app (`netwatch.web.server`)
on a free loopback port and scrapes `/metrics` with `curl` (a separate process) `--scrapes` times,
once with `Accept-Encoding: gzip`. Before each scrape `--changed` of the checks get a new result
(at a 30 s interval and Prometheus's 15 s scrape interval, about half of the checks have a new
result at each scrape). During each scrape the loop runs two probes of its health:
- a timer task that sleeps 5 ms at a time and records how late it wakes (loop lag);
- a UDP ping-pong over loopback (one datagram in flight, echoed by a thread-free protocol on the
  same loop): round trips per second while the scrape runs against those when idle. This is the
  probes' view: every wake-up from epoll must take the GIL back.
The garbage collector runs as in `netwatch run` (netwatch.heap.settle once the live view is built:
start-up heap frozen, rarer collections); `--gc default` keeps the interpreter's defaults, under which
full collections of the whole heap land inside renders (what this bench measured before round 4).
Beside each render it prints the collector's own account of it (netwatch_metrics_render_*).
As in the daemon, the web side writes the lines ahead of the scrapes (NetwatchCollector.keep_current):
the bench waits for its first pass (every line) and prints its cost, then the first scrape follows
`--changed` new results; `--no-warm` stops those passes, so the first scrape writes every line of every
check (cold, the daemon before round 6). Each new result carries new random RTTs, duration
and time (the daemon's case: an icmp result rewrites 6 of its lines). The renders are measured twice: with
`--changed` new results all since the last pass ahead (a scrape right after a burst: all of the work in the
render), and in the daemon's rhythm (the same share arriving in three parts with a pass ahead after each of
the first two, as results spread over a scrape interval meet passes every AHEAD_EVERY_SECONDS).
Then it checks the body with `promtool check metrics` and prints, as peers measured in the same
run: prometheus-client's `generate_latest` on the same families (what netwatch used before its
own writer), and prometheus-blackbox-exporter's own /metrics (CPU per series from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web  # noqa: E402
from prometheus_client.core import GaugeMetricFamily  # noqa: E402
from prometheus_client.exposition import generate_latest  # noqa: E402
from prometheus_client.registry import CollectorRegistry  # noqa: E402

from http_bench import BLACKBOX, blackbox_config, free_port, proc_cpu_seconds, wait_listening  # noqa: E402
from netwatch import heap  # noqa: E402
from netwatch.config import loads  # noqa: E402
from netwatch.live import LiveView  # noqa: E402
from netwatch.model import AlertPolicy, Check, Outcome, Result, Target  # noqa: E402
from netwatch.web import server  # noqa: E402
from netwatch.web.metrics import NetwatchCollector, registry_for  # noqa: E402
from netwatch.web.services import Services  # noqa: E402

INTERVAL_SECONDS = 30.0


def kind_of(i: int, mix: tuple[int, int, int]) -> str:
    r = i % sum(mix)
    return "icmp" if r < mix[0] else "tcp" if r < mix[0] + mix[1] else "http"


def build_checks(n: int, mix: tuple[int, int, int]) -> list[Check]:
    checks = []
    for i in range(n):
        kind = kind_of(i, mix)
        host = f"127.2.{(i // 250) % 250}.{i % 250 + 1}" if kind == "icmp" else "127.0.0.1"
        target = Target(f"t{i}", host, f"zone{i % 12}", f"Thiết bị {i}", (), {"role": "switch"})
        checks.append(Check(f"t{i}/{kind}", target, kind, INTERVAL_SECONDS, 2.0, AlertPolicy(), None))
    return checks


def outcome_for(kind: str, rnd: random.Random) -> Outcome:
    """What the probe kinds report on loopback (the names their probes set; values random)."""
    if rnd.random() < 0.02:
        return Outcome.fail("timeout", "no answer within 2 s", dns_seconds=0.0)
    if kind == "icmp":
        rtt = rnd.uniform(5e-6, 5e-4)
        return Outcome(ok=True, measurements={
            "rtt_min_seconds": rtt, "rtt_avg_seconds": rtt * 1.1, "rtt_max_seconds": rtt * 1.3,
            "rtt_jitter_seconds": rtt * 0.1, "packet_loss_ratio": 0.0, "packet_loss_window_ratio": 0.0,
            "packets_sent": 3.0, "packets_received": 3.0, "dns_lookup_seconds": 0.0, "ip_protocol": 4.0})
    if kind == "tcp":
        return Outcome(ok=True, measurements={"dns_seconds": 0.0, "connect_seconds": rnd.uniform(5e-5, 5e-4)})
    return Outcome(ok=True, measurements={
        "dns_seconds": 0.0, "connect_seconds": rnd.uniform(5e-5, 5e-4), "first_byte_seconds": rnd.uniform(1e-4, 1e-3),
        "total_seconds": rnd.uniform(2e-4, 2e-3), "body_bytes": 1234.0, "redirects": 0.0, "status_code": 200.0})


def new_results(live: LiveView, checks: list[Check], share: float, rnd: random.Random) -> None:
    now = time.time()
    for c in checks:
        if rnd.random() < share:
            live.update(c, Result(c.id, c.target.id, c.kind, now - rnd.uniform(0, 15), rnd.uniform(1e-4, 2e-3),
                                  outcome_for(c.kind, rnd)))


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


class Pinger(asyncio.DatagramProtocol):
    """One datagram in flight; counts round trips."""

    def __init__(self) -> None:
        self.trips = 0
        self.waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.trips += 1
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


async def health(stop: asyncio.Event, pinger: Pinger, lags: list[float]) -> None:
    async def timer() -> None:
        while not stop.is_set():
            t0 = time.monotonic()
            await asyncio.sleep(0.005)
            lags.append(time.monotonic() - t0 - 0.005)

    async def pingpong() -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            pinger.waiter = loop.create_future()
            pinger.transport.sendto(b"x")  # type: ignore[attr-defined]
            try:
                await asyncio.wait_for(pinger.waiter, 1.0)
            except TimeoutError:
                pass

    await asyncio.gather(timer(), pingpong())


async def scrape(url: str, gzip: bool, out: Path) -> tuple[float, int]:
    """curl in its own process, the body into `out`: (seconds to the last byte, bytes received). The caller
    reads the body after the loop's health was measured: 94 MB read on the loop stall it for ~0.1-0.3 s."""
    args = ["curl", "-s", "-o", str(out), "-w", "%{time_total} %{size_download}", "--max-time", "120"]
    if gzip:
        args += ["-H", "Accept-Encoding: gzip"]
    proc = await asyncio.create_subprocess_exec(*args, url, stdout=asyncio.subprocess.PIPE)
    stats, _ = await proc.communicate()
    seconds_text, size_text = stats.decode().split()
    return float(seconds_text), int(size_text)


def prometheus_client_peer(live: LiveView, collector: NetwatchCollector) -> tuple[float, int]:
    """prometheus-client's writer over the same per-check families (the way netwatch wrote them before)."""
    text = collector.render_checks()
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        name, _, rest = line.partition("{")
        labels_text, _, value = rest.rpartition("} ")
        families.setdefault(name, []).append((labels_text, float(value)))

    class Peer:
        def collect(self):  # type: ignore[no-untyped-def]
            for name, samples in families.items():
                keys = [kv.split("=", 1)[0] for kv in samples[0][0].split('",')]
                g = GaugeMetricFamily(name, "x", labels=keys)
                for labels_text, value in samples:
                    g.add_metric([kv.split("=", 1)[1].strip('"') for kv in labels_text.split('",')], value)
                yield g

    reg = CollectorRegistry(auto_describe=False)
    reg.register(Peer())
    series = sum(len(s) for s in families.values())
    t0 = time.process_time()
    generate_latest(reg)
    return time.process_time() - t0, series


def blackbox_peer(scrapes: int = 200) -> tuple[float, int] | None:
    if not os.path.exists(BLACKBOX):
        return None
    port = free_port()
    config_dir = Path(tempfile.mkdtemp(prefix="nw-metrics-blackbox-"))
    proc = subprocess.Popen([BLACKBOX, f"--web.listen-address=127.0.0.1:{port}",
                             f"--config.file={blackbox_config(config_dir)}", "--log.level=error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port, proc)
        import urllib.request
        url = f"http://127.0.0.1:{port}/metrics"
        for _ in range(20):
            urllib.request.urlopen(url).read()  # noqa: S310 - loopback
        c0 = proc_cpu_seconds(proc.pid)
        for _ in range(scrapes):
            body = urllib.request.urlopen(url).read()  # noqa: S310 - loopback
        cpu = proc_cpu_seconds(proc.pid) - c0
        series = sum(1 for line in body.decode().splitlines() if line and line[0] != "#")
        return cpu / scrapes, series
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(config_dir, ignore_errors=True)


def promtool(body: bytes) -> str:
    if shutil.which("promtool") is None:
        return "promtool not installed"
    out = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    problems = (out.stdout + out.stderr).decode(errors="replace").strip()
    return "ok" if out.returncode == 0 else f"FAILED ({out.returncode}): {problems[:500]}"


async def amain(args: argparse.Namespace) -> None:
    mix = tuple(int(x) for x in args.mix.split(":"))
    rnd = random.Random(7)
    t0 = time.perf_counter()
    checks = build_checks(args.checks, mix)  # type: ignore[arg-type]
    live = LiveView(checks)
    new_results(live, checks, 1.0, rnd)
    gc.collect()
    if args.gc == "daemon":
        heap.settle()
    kinds = {k: sum(1 for c in checks if c.kind == k) for k in ("icmp", "tcp", "http")}
    print(f"{args.checks} checks {kinds}, built in {time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; garbage collector: {args.gc} {gc.get_threshold()}")
    work = Path(tempfile.mkdtemp(prefix="nw-metrics-"))
    config = loads(f"store: {work / 'nw.db'}\ntargets: []\n", str(work / "v.yaml"), {})
    collector = NetwatchCollector(lambda: live, lambda: None)
    registry = registry_for(collector)
    services = Services(lambda: config, live, collector, registry, None, lambda: None)  # type: ignore[arg-type]
    runner = web.AppRunner(server.build(services))
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    server_started = time.perf_counter()
    url = f"http://127.0.0.1:{port}/metrics"
    loop = asyncio.get_running_loop()
    echo_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo_sock.bind(("127.0.0.1", 0))
    echo_t, _ = await loop.create_datagram_endpoint(Echo, sock=echo_sock)
    ping_t, pinger = await loop.create_datagram_endpoint(Pinger, remote_addr=echo_sock.getsockname())

    gc_pauses: list[tuple[int, float]] = []   # (generation, seconds) of the collector's runs
    gc_started = [0.0]

    def on_gc(phase: str, info: dict) -> None:  # type: ignore[type-arg]
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_pauses.append((info["generation"], time.perf_counter() - gc_started[0]))

    gc.callbacks.append(on_gc)

    async def measured(coro_factory):  # type: ignore[no-untyped-def]
        stop, lags = asyncio.Event(), []
        trips0, c0, w0 = pinger.trips, time.process_time(), time.perf_counter()
        gc_pauses.clear()
        h = asyncio.ensure_future(health(stop, pinger, lags))
        result = await coro_factory()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        stop.set()
        await h
        full = [p for g, p in gc_pauses if g == 2]
        if full:
            print(f"    (cyclic GC inside: {len(full)} full collections, longest {max(full) * 1000:.0f} ms)")
        return result, wall, cpu, (pinger.trips - trips0) / wall, lags

    try:
        own = getattr(collector, "renders", None)
        ahead = args.warm and own is not None and hasattr(own, "ahead_passes")
        if ahead:
            # The daemon's web side writes the lines ahead of the scrapes (keep_current): every line soon after
            # start, then those of new results every few seconds. Its first pass, then the idle loop after it.
            waited = time.perf_counter()
            while own.ahead_passes == 0 and time.perf_counter() - waited < 120:
                await asyncio.sleep(0.1)
            print(f"first pass ahead (every line, before any scrape): {own.ahead_cpu_seconds_total * 1000:.0f} ms CPU "
                  f"in slices on the loop (longest {own.ahead_longest_step_seconds * 1000:.1f} ms), done "
                  f"{own.ahead_first_ended - server_started:.1f} s after the server started")
        elif own is not None and hasattr(own, "ahead_passes"):
            runner.app[server.METRICS_CACHE_KEY]["ahead"].cancel()   # the first scrape renders cold (as before)
        _, _, _, idle_rate, idle_lags = await measured(lambda: asyncio.sleep(2.0))
        print(f"idle loop: {idle_rate:,.0f} UDP round trips/s, timer lag p99 {pct(idle_lags, 99) * 1000:.1f} ms")
        rows = []
        body = b""
        for i in range(args.scrapes):
            c0 = time.process_time()
            # The first scrape: after results of every check (cold), or after the first pass ahead saw them.
            new_results(live, checks, args.changed if i or ahead else 1.0, rnd)
            update_cpu = time.process_time() - c0
            gz = i == args.scrapes - 1
            await asyncio.sleep(server.METRICS_REUSE_SECONDS + 0.1)  # a fresh rendering, not the shared one
            (seconds, size), wall, cpu, rate, lags = await measured(lambda: scrape(url, gz, work / 'body'))
            if not gz:
                body = (work / 'body').read_bytes()
            rows.append((seconds, size, cpu, rate, lags, gz))
            print(f"scrape {i + 1}{' (gzip)' if gz else ''}: {seconds * 1000:7.0f} ms, {size / 1e6:6.1f} MB, "
                  f"CPU in this process {cpu * 1000:6.0f} ms; loop during it: {rate:7,.0f} round trips/s "
                  f"({rate / idle_rate:.2f} of idle), timer lag p99 {pct(lags, 99) * 1000:6.1f} ms max "
                  f"{max(lags) * 1000:6.1f} ms   (results updated first: {update_cpu:.1f} s)", flush=True)
        series = sum(1 for line in body.split(b"\n") if line and line[:1] != b"#")
        # The render alone, the way the endpoint does it (no HTTP transfer), with the loop's health beside it.
        renders = []
        for _ in range(3):
            new_results(live, checks, args.changed, rnd)
            if hasattr(collector, "render_checks_async"):
                async def new_render() -> list[bytes]:
                    return await collector.render_checks_async() + [generate_latest(registry)]
                _, wall, cpu, rate, lags = await measured(new_render)
            else:   # before this round: per-check families in a thread, the rest on the loop
                async def old_render() -> bytes:
                    text = await asyncio.to_thread(collector.render_checks)
                    return text.encode() + generate_latest(registry)
                _, wall, cpu, rate, lags = await measured(old_render)
            renders.append((wall, cpu, rate, lags))
            own = getattr(collector, "renders", None)   # the daemon's own account (netwatch_metrics_render_*)
            own_text = (f"; the collector's own: {own.last_seconds * 1000:.0f} ms wall, {own.last_cpu_seconds * 1000:.0f} ms "
                        f"CPU, longest slice {own.last_longest_step_seconds * 1000:.1f} ms") if own is not None else ""
            print(f"render for a scrape ({args.changed:.0%} new results): {wall * 1000:6.0f} ms wall, "
                  f"{cpu * 1000:6.0f} ms CPU; loop during it: {rate / idle_rate:.2f} of idle round trips, "
                  f"timer lag p99 {pct(lags, 99) * 1000:5.1f} ms max {max(lags) * 1000:5.1f} ms{own_text}", flush=True)
        if ahead:
            for _ in range(3):
                cpu_ahead = own.ahead_cpu_seconds_total
                for part in range(3):
                    new_results(live, checks, args.changed / 3, rnd)
                    if part < 2:   # a pass ahead comes before the scrape
                        passes = own.ahead_passes
                        while own.ahead_passes == passes:
                            await asyncio.sleep(0.05)
                async def daemon_render() -> list[bytes]:
                    return await collector.render_checks_async() + [generate_latest(registry)]
                _, wall, cpu, rate, lags = await measured(daemon_render)
                print(f"render in the daemon's rhythm ({args.changed:.0%} new results, 2/3 of them written ahead in "
                      f"{(own.ahead_cpu_seconds_total - cpu_ahead) * 1000:.0f} ms CPU): {wall * 1000:6.0f} ms wall, "
                      f"{cpu * 1000:6.0f} ms CPU; timer lag max {max(lags) * 1000:5.1f} ms; the collector's own: "
                      f"{own.last_cpu_seconds * 1000:.0f} ms CPU, longest slice {own.last_longest_step_seconds * 1000:.1f} ms",
                      flush=True)
        # bytes where the collector offers them (no 90 MB decode in the figure)
        render_checks = getattr(collector, "render_checks_bytes", collector.render_checks)
        # What render_checks costs alone (no HTTP, no loop): the steady case after `--changed` new results.
        new_results(live, checks, args.changed, rnd)
        c0 = time.process_time()
        render_checks()
        render_cpu = time.process_time() - c0
        c0 = time.process_time()
        render_checks()
        render_cpu_unchanged = time.process_time() - c0
        c0 = time.process_time()
        generate_latest(registry)
        rest_cpu = time.process_time() - c0
        print(f"\n{series:,} series, {len(body) / 1e6:.1f} MB; promtool check metrics: {promtool(body)}")
        plain = [r for r in rows[1:] if not r[5]] or rows
        print(f"scrape (curl, not gzip, after the first): median {statistics.median(r[0] for r in plain) * 1000:.0f} ms; "
              f"round trips during scrapes: {min(r[3] for r in plain) / idle_rate:.2f}-"
              f"{max(r[3] for r in plain) / idle_rate:.2f} of idle; timer lag max "
              f"{max(max(r[4]) for r in plain) * 1000:.0f} ms")
        print(f"render_checks CPU: {render_cpu * 1000:.0f} ms with {args.changed:.0%} new results, "
              f"{render_cpu_unchanged * 1000:.0f} ms with none; the registry's families (generate_latest): "
              f"{rest_cpu * 1000:.0f} ms")
        per_series_us = (render_cpu + rest_cpu) / series * 1e6
        print(f"netwatch: {per_series_us:.2f} us CPU per series rendered")
        if args.peers:
            pc_cpu, pc_series = prometheus_client_peer(live, collector)
            print(f"peer prometheus-client generate_latest, same {pc_series:,} per-check series: {pc_cpu * 1000:.0f} ms "
                  f"CPU ({pc_cpu / pc_series * 1e6:.2f} us per series); netwatch/peer "
                  f"{per_series_us / (pc_cpu / pc_series * 1e6):.2f}x")
            bb = blackbox_peer()
            if bb is not None:
                bb_cpu, bb_series = bb
                print(f"peer blackbox_exporter /metrics ({bb_series} series, its own process): "
                      f"{bb_cpu * 1000:.2f} ms CPU per scrape ({bb_cpu / bb_series * 1e6:.2f} us per series); "
                      f"netwatch/peer per series {per_series_us / (bb_cpu / bb_series * 1e6):.2f}x")
    finally:
        echo_t.close()
        ping_t.close()
        await runner.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=50_000)
    ap.add_argument("--mix", default="40:8:2", help="icmp:tcp:http proportions")
    ap.add_argument("--scrapes", type=int, default=5)
    ap.add_argument("--changed", type=float, default=0.5, help="share of checks with a new result before a scrape")
    ap.add_argument("--no-peers", dest="peers", action="store_false")
    ap.add_argument("--no-warm", dest="warm", action="store_false",
                    help="no passes ahead of the scrapes: the first scrape writes every line (the daemon before round 6)")
    ap.add_argument("--gc", choices=("daemon", "default"), default="daemon",
                    help="the collector's policy: netwatch run's (heap.settle) or the interpreter's defaults")
    asyncio.run(amain(ap.parse_args()))


if __name__ == "__main__":
    main()
