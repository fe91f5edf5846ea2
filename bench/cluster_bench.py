"""Benchmark: cluster failover times and the cost of a 2-node cluster against one SQLite node, same run.

Real `netwatch run` processes on loopback and a private PostgreSQL 15 cluster (the test peer):
1. kill -9 of a prober -> every slot re-owned by the survivor (polled in the database);
2. kill -9 of the coordinator while a target breaks -> the problem page at an HTTP gateway;
3. CPU per 1,000 results/s: `--checks` ICMP checks to 127.0.0.0/8 at 1 s on two cluster nodes (each
   process's CPU, and PostgreSQL's) against the same checks on one node with SQLite.
Lease timing as in production unless told (`--ttl 15 --renew 2 --margin 2`, the defaults).
Needs root (raw ICMP sockets, the cluster runs as `postgres`). Run: python3 bench/cluster_bench.py

`--largest [--steps 2000,4000,8000,16000] [--interval 10] [--seconds 60]`: instead, the largest cluster the
box holds — 2 nodes + PostgreSQL at increasing check counts (the scale bench's mix: ICMP to 127.2.x.y, TCP
and HTTP to one C epoll server, in turn), each step in a fresh database: scheduler lag p99 per node (from
each node's lag histogram, over the window after a warm-up of two intervals), runs per check per interval
(from the results in PostgreSQL), CPU of each node and of PostgreSQL, the load average. Stops at the first
step whose lag p99 is over 1 s on either node.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402

from bench.http_bench import start_target  # noqa: E402
from bench.scale_bench import kind_of, lag_buckets, lag_quantiles, scrape  # noqa: E402
from bench.store_bench import server_cpu  # noqa: E402
from netwatch.cluster.slots import slot_of  # noqa: E402
from tests.peers import postgres  # noqa: E402
from tests.peers.sinks import HttpSink, TcpTarget  # noqa: E402
from tests.support import NetwatchProcess, free_port  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
SLOTS = 64


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wait(predicate: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"timed out waiting for {what}")


class Bench:
    def __init__(self, pg: postgres.Cluster, home: Path, args: argparse.Namespace) -> None:
        self.pg, self.home, self.args = pg, home, args
        self.procs: list[NetwatchProcess] = []

    def sql(self, database: str, text: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.pg.url(database), password=self.pg.password, autocommit=True,
                             connect_timeout=5) as conn:
            return conn.execute(text, params).fetchall()  # type: ignore[arg-type]

    def config(self, targets: str, sink: HttpSink, store: str | None, database: str | None,
               interval: str = "500ms", timeout: str = "400ms") -> str:
        a = self.args
        if database is not None:
            pw = self.home / "pg-password"
            pw.write_text(self.pg.password)
            where = f"""cluster:
  dsn: {{url: "{self.pg.url(database)}", password_file: {pw}}}
  node: ${{NETWATCH_NODE}}
  site: dc
  sites: {{dc: {{}}}}
  slots: {SLOTS}
  lease_ttl: {a.ttl:g}s
  lease_renew: {a.renew:g}s
  fence_margin: {a.margin:g}s"""
        else:
            where = f'store: "{store}"'
        return f"""
listen: "{{listen}}"
{where}
site: {{name: bench}}
zones: [{{id: hall, name: Hall}}]
channels:
  chat: {{urls: ["{sink.url('/chat')}"], lang: en, group_wait: 0s, rate_per_minute: 600, burst: 50, timeout: 2s}}
paging: {{backoff_initial: 200ms, backoff_max: 1s}}
defaults:
  interval: {interval}
  timeout: {timeout}
  alert: {{fail_after: 2, recover_after: 2}}
targets:
{targets}"""

    def start(self, text: str, node: str, ready_seconds: float = 60.0) -> NetwatchProcess:
        home = self.home / node
        home.mkdir(exist_ok=True)
        listen = f"127.0.0.1:{free_port()}"
        path = home / "netwatch.yaml"
        path.write_text(text.replace("{listen}", listen))
        proc = NetwatchProcess(path, listen, home, {"NETWATCH_NODE": node})
        self.procs.append(proc)
        proc.wait_ready(ready_seconds)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.stop()
        self.procs = []

    def owners(self, database: str) -> dict[int, str | None]:
        return dict(self.sql(database, "SELECT slot, CASE WHEN expires > now() THEN node END FROM cluster_slots "
                                       "WHERE site = 'dc'"))

    def coordinator(self, database: str) -> str | None:
        rows = self.sql(database, "SELECT node FROM cluster_coordinator WHERE expires > now()")
        return rows[0][0] if rows else None

    def balanced(self, database: str) -> bool:
        values = list(self.owners(database).values())
        return sorted(values.count(n) for n in ("dc-1", "dc-2")) == [SLOTS // 2, SLOTS // 2] \
            and self.coordinator(database) is not None


def failover(bench: Bench) -> tuple[float, float, float]:
    """(kill -9 of a prober -> all slots re-owned, coordinator kill -> standby coordinating,
    coordinator kill -> next page at the gateway), seconds."""
    database = bench.pg.create_database("failover")
    sink = HttpSink().start()
    web = [TcpTarget().up() for _ in range(8)]
    try:
        targets = "".join(f"""  - id: web{i}
    host: 127.0.0.1
    zone: hall
    checks: [{{kind: tcp, port: {t.port}}}]
""" for i, t in enumerate(web))
        text = bench.config(targets, sink, None, database)
        procs = {"dc-1": bench.start(text, "dc-1")}
        wait(lambda: set(bench.owners(database).values()) == {"dc-1"}, 60, "dc-1 owns every slot")
        procs["dc-2"] = bench.start(text, "dc-2")
        wait(lambda: bench.balanced(database), 90, "balanced slots", 0.2)
        coordinator = bench.coordinator(database)
        prober = "dc-2" if coordinator == "dc-1" else "dc-1"
        procs[prober].kill9()
        killed = time.monotonic()
        wait(lambda: set(bench.owners(database).values()) == {coordinator}, 120, "slots re-owned", 0.02)
        reowned = time.monotonic() - killed
        # the prober comes back; then the coordinator dies while a target the standby probes breaks
        procs[prober] = bench.start(text, prober)
        wait(lambda: bench.balanced(database), 120, "balanced again", 0.2)
        owners = bench.owners(database)
        victim = next(i for i in range(len(web)) if owners[slot_of(f"web{i}/tcp", "dc", SLOTS)] == prober)
        before = len(sink.received)
        procs[coordinator].kill9()
        web[victim].down()
        killed = time.monotonic()
        wait(lambda: bench.coordinator(database) == prober, 120, "the standby coordinates", 0.02)
        took_over = time.monotonic() - killed
        wait(lambda: len(sink.received) > before, 120, "the next page", 0.02)
        paged = time.monotonic() - killed
        return reowned, took_over, paged
    finally:
        bench.stop_all()
        for t in web:
            t.down()
        sink.stop()
        bench.pg.drop_database(database)


def icmp_targets(checks: int) -> str:
    return "".join(f"""  - id: h{i}
    host: 127.{10 + i // 65536}.{i // 256 % 256}.{i % 256 or 1}
    zone: hall
    checks: [{{kind: icmp, count: 1, interval: 1s, timeout: 500ms}}]
""" for i in range(checks))


def cost(bench: Bench, clustered: bool) -> tuple[float, float, float]:
    """(results per second written, netwatch CPU seconds per second, server CPU seconds per second)."""
    a = bench.args
    sink = HttpSink().start()
    database = bench.pg.create_database("cost") if clustered else None
    store = str(bench.home / f"single-{time.monotonic_ns()}.db")
    try:
        text = bench.config(icmp_targets(a.checks), sink, None if clustered else store, database)
        nodes = [bench.start(text, "dc-1")]
        if clustered:
            assert database is not None
            nodes.append(bench.start(text, "dc-2"))
            wait(lambda: bench.balanced(database), 120, "balanced slots", 0.2)
        time.sleep(a.warmup)
        cpu0 = [proc_cpu(p.proc.pid) for p in nodes]
        srv0 = server_cpu(bench.pg.directory / "data") if clustered else 0.0
        start = time.time()
        time.sleep(a.seconds)
        end = time.time()
        cpu = sum(proc_cpu(p.proc.pid) - c for p, c in zip(nodes, cpu0))
        srv = server_cpu(bench.pg.directory / "data") - srv0 if clustered else 0.0
        def written() -> int:
            if clustered:
                assert database is not None
                return int(bench.sql(database, "SELECT count(*) FROM results WHERE ts >= %s AND ts < %s",
                                     start, end)[0][0])
            import sqlite3
            conn = sqlite3.connect(store, timeout=30)
            try:
                return int(conn.execute("SELECT count(*) FROM results WHERE ts >= ? AND ts < ?",
                                        (start, end)).fetchone()[0])
            finally:
                conn.close()
        # The recorders flush once a second, later while the box is overloaded: wait until the count settles.
        count, settled = -1, time.monotonic() + 30
        while time.monotonic() < settled:
            time.sleep(2.0)
            now_count = written()
            if now_count == count:
                break
            count = now_count
        if count == 0:
            for p in nodes:
                print(f"  {p.log_path}: no results written; its last warnings:", file=sys.stderr)
                print("\n".join([line for line in p.log().splitlines() if "WARN" in line or "ERROR" in line][-8:]),
                      file=sys.stderr)
        written_count = count
        span = end - start
        return written_count / span, cpu / span, srv / span
    finally:
        bench.stop_all()
        sink.stop()
        if database is not None:
            bench.pg.drop_database(database)


def mixed_targets(checks: int, http_port: int) -> str:
    """The scale bench's mix (bench/scale_bench.py): ICMP to 127.2.x.y, TCP and HTTP to one server, in turn."""
    lines = []
    for i in range(checks):
        kind = kind_of(i, None)
        host = f"127.2.{(i // 250) % 250}.{i % 250 + 1}" if kind == "icmp" else "127.0.0.1"
        check = ("{kind: icmp, count: 1}" if kind == "icmp" else f"{{kind: tcp, port: {http_port}}}" if kind == "tcp"
                 else f'{{kind: http, url: "http://127.0.0.1:{http_port}/t{i}"}}')
        lines.append(f"  - {{id: t{i}, host: {host}, checks: [{check}]}}\n")
    return "".join(lines)


def interpolated_p99(buckets: dict[float, float]) -> float:
    """p99 within its histogram bucket, linearly (the bucket's upper bound is what the histogram proves)."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    lower, below = 0.0, 0.0
    for b in bounds:
        if buckets[b] >= 0.99 * total and total:
            if b == float("inf"):
                return float("inf")
            inside = buckets[b] - below
            return lower + (b - lower) * ((0.99 * total - below) / inside if inside else 1.0)
        lower, below = b, buckets[b]
    return float("nan")


def step(bench: Bench, checks: int, http_port: int) -> dict[str, Any]:
    """One size: 2 nodes + PostgreSQL, warm-up, measured window; the figures of the step."""
    a = bench.args
    database = bench.pg.create_database(f"largest{checks}")
    sink = HttpSink().start()
    try:
        text = bench.config(mixed_targets(checks, http_port), sink, None, database, f"{a.interval:g}s", "2s")
        ready = 60.0 + checks / 50.0    # loading the config takes longer as it grows
        nodes = [bench.start(text, "dc-1", ready)]
        wait(lambda: set(bench.owners(database).values()) == {"dc-1"}, 120, "dc-1 owns every slot", 0.2)
        nodes.append(bench.start(text, "dc-2", ready))
        wait(lambda: bench.balanced(database), 180, "balanced slots", 0.5)
        time.sleep(2 * a.interval)
        lag0 = [lag_buckets(scrape(p.base_url + "/metrics", 60)[1]) for p in nodes]
        cpu0 = [proc_cpu(p.proc.pid) for p in nodes]
        srv0 = server_cpu(bench.pg.directory / "data")
        start = time.time()
        time.sleep(a.seconds)
        end = time.time()
        cpu = [proc_cpu(p.proc.pid) - c for p, c in zip(nodes, cpu0)]
        srv = server_cpu(bench.pg.directory / "data") - srv0
        load = os.getloadavg()
        texts = [scrape(p.base_url + "/metrics", 120)[1] for p in nodes]
        span = end - start
        per_node = []
        total: dict[float, float] = {}
        for text_, since in zip(texts, lag0):
            buckets = {le: n - since.get(le, 0) for le, n in lag_buckets(text_).items()}
            for le, n in buckets.items():
                total[le] = total.get(le, 0) + n
            _, p99, runs = lag_quantiles(text_, since)
            per_node.append((p99, interpolated_p99(buckets), runs))
        # runs per check per interval: over the window, less the last interval (its results may still be queued)
        time.sleep(3.0)
        counts = dict(bench.sql(database, "SELECT check_id, count(*) FROM results WHERE ts >= %s AND ts < %s "
                                          "GROUP BY check_id", start, end - a.interval))
        expected = (span - a.interval) / a.interval
        per_check = sorted(counts.get(f"t{i}/{kind_of(i, None)}", 0) / expected for i in range(checks))
        within = sum(1 for r in per_check if 0.9 <= r <= 1.1)
        return {"checks": checks, "per_node": per_node, "cpu": [c / span for c in cpu], "server": srv / span,
                "load": load, "median_runs": per_check[len(per_check) // 2], "min_runs": per_check[0],
                "within": within, "ok": all(p99 <= 1.0 for p99, _, _ in per_node)}
    finally:
        bench.stop_all()
        sink.stop()
        bench.pg.drop_database(database)


def largest(bench: Bench) -> None:
    a = bench.args
    target, http_port, target_kind = start_target(bench.home)
    print(f"2 nodes + PostgreSQL 15, {SLOTS} slots, interval {a.interval:g} s, window {a.seconds:g} s after a "
          f"{2 * a.interval:g} s warm-up; targets: {target_kind}; load average {os.getloadavg()[0]:.1f} at the start",
          flush=True)
    try:
        for checks in a.steps:
            r = step(bench, checks, http_port)
            lags = "; ".join(f"dc-{i + 1} p99 <= {p99:g} s (~{est:.2f} s, {runs} runs)"
                             for i, (p99, est, runs) in enumerate(r["per_node"]))
            cpus = " + ".join(f"{c * 100:.0f} %" for c in r["cpu"])
            print(f"{checks:>6} checks: lag {lags}; runs/check/interval median {r['median_runs']:.2f} "
                  f"min {r['min_runs']:.2f}, {r['within']}/{checks} within +-10 %; CPU nodes {cpus} of a core, "
                  f"PostgreSQL {r['server'] * 100:.0f} %; load average {r['load'][0]:.1f} {r['load'][1]:.1f} "
                  f"{r['load'][2]:.1f} -> {'holds' if r['ok'] else 'FAILS lag p99 < 1 s'}", flush=True)
            if not r["ok"]:
                break
    finally:
        target.terminate()
        target.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ttl", type=float, default=15.0, help="lease_ttl, seconds (default: the product's)")
    parser.add_argument("--renew", type=float, default=2.0)
    parser.add_argument("--margin", type=float, default=2.0)
    parser.add_argument("--checks", type=int, default=1000, help="ICMP checks at 1 s for the CPU comparison")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured window of each CPU run")
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--skip-cost", action="store_true")
    parser.add_argument("--largest", action="store_true", help="only the largest-cluster steps (see above)")
    parser.add_argument("--steps", type=lambda v: [int(x) for x in v.split(",")], default=[2000, 4000, 8000, 16000])
    parser.add_argument("--interval", type=float, default=10.0, help="check interval of --largest, seconds")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (raw ICMP sockets; PostgreSQL runs as the postgres user)", file=sys.stderr)
        return 2
    pg = postgres.start_cluster()
    if args.largest:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                largest(Bench(pg, Path(tmp), args))
        finally:
            pg.stop()
        return 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bench = Bench(pg, Path(tmp), args)
            reowned, took_over, paged = failover(bench)
            print(f"lease_ttl {args.ttl:g} s, lease_renew {args.renew:g} s, fence_margin {args.margin:g} s")
            print(f"kill -9 of a prober -> all {SLOTS} slots re-owned: {reowned:.1f} s")
            print(f"kill -9 of the coordinator -> standby coordinating: {took_over:.1f} s; "
                  f"next page at the gateway: {paged:.1f} s (target broken at the kill, fail_after 2 at 0.5 s)")
            if args.skip_cost:
                return 0
            c_rate, c_cpu, c_srv = cost(bench, clustered=True)
            s_rate, s_cpu, _ = cost(bench, clustered=False)
    finally:
        pg.stop()
    per = lambda cpu, rate: 1000.0 * cpu / rate if rate else float("nan")  # noqa: E731 - CPU s/s per 1,000/s
    print(f"{args.checks} ICMP checks at 1 s, {args.seconds:g} s measured:")
    print(f"  2-node cluster on PostgreSQL: {c_rate:.0f} results/s; netwatch CPU {per(c_cpu, c_rate):.3f} "
          f"cores per 1,000 results/s (both nodes), PostgreSQL {per(c_srv, c_rate):.3f}")
    print(f"  1 node on SQLite:             {s_rate:.0f} results/s; netwatch CPU {per(s_cpu, s_rate):.3f} "
          f"cores per 1,000 results/s")
    if s_rate and c_rate:
        print(f"  ratio cluster (nodes + PostgreSQL) / single: "
              f"{(per(c_cpu, c_rate) + per(c_srv, c_rate)) / per(s_cpu, s_rate):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
