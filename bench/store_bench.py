"""Benchmark: storing results (the recorder's batches) on SQLite and on PostgreSQL, CPU per 1,000 results.

Writes the same stream of results — `--checks` checks, one result each per second, one transaction per
second as the recorder does — into a SQLite file and into a private PostgreSQL cluster started here (the
test peer, on loopback), and prints wall time and CPU seconds per 1,000 results: netwatch's own, and for
PostgreSQL also the server's (its processes' CPU from /proc), with the ratio against SQLite.
Needs root (the cluster runs as the `postgres` user). Run: python3 bench/store_bench.py
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netwatch.model import Outcome, Result  # noqa: E402
from netwatch.store import Store  # noqa: E402
from tests.peers import postgres  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def server_cpu(data_dir: Path) -> float:
    """CPU seconds of every process of the cluster (postmaster and its children, ended ones included)."""
    pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid = int(fields[1])
        if int(entry) == pid:
            # utime, stime, and the reaped children's cutime, cstime
            total += sum(int(x) for x in fields[11:15]) / TICKS
        elif ppid == pid:
            total += (int(fields[11]) + int(fields[12])) / TICKS
    return total


def stream(store: Store, checks: int, seconds: int) -> tuple[float, float]:
    """Write `seconds` batches of `checks` results; return (wall seconds, own CPU seconds)."""
    t0 = 1_800_000_000.0
    wall, cpu = time.perf_counter(), self_cpu()
    for s in range(seconds):
        batch = [Result(f"t{i}/icmp", f"t{i}", "icmp", t0 + s + i / checks, 0.001,
                        Outcome(ok=i % 97 != 0, error=None if i % 97 else "timeout")) for i in range(checks)]
        store.record_results(batch, [0.001 + (i % 50) / 10000 for i in range(checks)])
    return time.perf_counter() - wall, self_cpu() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=2000, help="results per batch (one batch per second)")
    parser.add_argument("--seconds", type=int, default=30, help="batches to write")
    args = parser.parse_args()
    n = args.checks * args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = Store.open(str(Path(tmp) / "bench.db"))
        s_wall, s_cpu = stream(sqlite, args.checks, args.seconds)
        sqlite.close()
    cluster = postgres.start_cluster()
    try:
        name = cluster.create_database("bench")
        pg = Store.open(cluster.spec(name))
        before = server_cpu(cluster.directory / "data")
        p_wall, p_cpu = stream(pg, args.checks, args.seconds)
        pg.close()
        p_server = server_cpu(cluster.directory / "data") - before
    finally:
        postgres.remove(cluster)
    per = 1000 / n
    print(f"{n} results in {args.seconds} batches of {args.checks}")
    print(f"SQLite     : wall {s_wall:6.2f} s   netwatch CPU {s_cpu * per * 1000:7.1f} ms/1000 results")
    print(f"PostgreSQL : wall {p_wall:6.2f} s   netwatch CPU {p_cpu * per * 1000:7.1f} ms/1000 results   "
          f"server CPU {p_server * per * 1000:7.1f} ms/1000 results")
    print(f"ratio PostgreSQL/SQLite: wall {p_wall / s_wall:.2f}x, CPU (netwatch + server) "
          f"{(p_cpu + p_server) / s_cpu:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
