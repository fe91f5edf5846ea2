"""Devices with thousands of interfaces: netwatch's poll (CPU, memory, wall time) against net-snmp's
snmpbulkwalk of the same agent in the same run. Agents: the recording of a Ruijie M18000 Wi-Fi controller
(3,271 ifTable rows, PyPI snmpsim-data) and a synthetic 3,000-port chassis, both served by the recordings
agent of tests/peers/recordings.py in a child process (snmpsim itself answers ~15 ms per binding here)."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatch.fields import Secret  # noqa: E402
from netwatch.model import Target  # noqa: E402
from netwatch.net.snmp import client  # noqa: E402
from netwatch.probes import snmp  # noqa: E402
from tests.peers import recordings  # noqa: E402
from tests.peers.snmpresponder import device_table  # noqa: E402

POLLS = 5
TIMEOUT_SECONDS = 60.0
# snmpbulkwalk walks the two tables netwatch reads from (whole: more columns than netwatch asks for),
# 50 repetitions per request.
WALKS = ("1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1")
ENV = {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}


def children() -> tuple[float, int]:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime, r.ru_maxrss


def bulkwalk(address: str, community: str) -> tuple[float, float, int]:
    """(wall, CPU of snmpbulkwalk, varbinds) of one read of both tables."""
    c0, t0, n = children()[0], time.perf_counter(), 0
    for oid in WALKS:
        out = subprocess.run(["snmpbulkwalk", "-v2c", "-c", community, "-Cr50", "-On", "-t", "30", address, oid],
                             capture_output=True, check=True, env=ENV).stdout
        n += out.count(b"\n")
    return time.perf_counter() - t0, children()[0] - c0, n


async def netwatch(port: int, community: str) -> dict[str, float]:
    settings = snmp.Settings(community=Secret(community), port=port, watch="all")
    # Memory first, on a target of its own: tracemalloc slows Python down, so no timing is taken with it on.
    tracemalloc.start()
    out = await snmp.probe(Target(f"heap-{community}", "127.0.0.1"), settings, TIMEOUT_SECONDS)
    first_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out.ok, out
    target = Target(f"bench-{community}", "127.0.0.1")
    c0, t0 = time.process_time(), time.perf_counter()
    first = await snmp.probe(target, settings, TIMEOUT_SECONDS)
    first_wall, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert first.ok, first
    walls, cpus = [], []
    for _ in range(POLLS):
        c0, t0 = time.process_time(), time.perf_counter()
        out = await snmp.probe(target, settings, TIMEOUT_SECONDS)
        assert out.ok, out
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"interfaces": first.measurements["interfaces"], "first_wall": first_wall, "first_cpu": first_cpu,
            "first_peak": first_peak, "wall": min(walls), "cpu": min(cpus)}


async def main() -> None:
    big = "network/wifi/ruijie-m18000"
    tables = {big.encode(): recordings.load(big),
              b"synthetic-3000": device_table({i: {"name": b"Gi%d/0/%d" % (i // 48 + 1, i % 48 + 1),
                                                   "alias": b"uplink %d" % i, "in": i * 977, "out": i * 1013}
                                               for i in range(1, 3001)})}
    agent = recordings.start_agent(tables)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        for community in (c.decode() for c in tables):
            walks = [bulkwalk(agent.address, community) for _ in range(POLLS)]
            w_wall, w_cpu = min(w[0] for w in walks), min(w[1] for w in walks)
            nw = await netwatch(agent.port, community)
            print(f"{community}: {nw['interfaces']:.0f} interfaces")
            print(f"  netwatch first poll (names too): wall {nw['first_wall']:.2f}s, CPU {nw['first_cpu']:.3f}s, "
                  f"Python heap peak {nw['first_peak'] / 2**20:.1f} MiB")
            print(f"  netwatch steady poll, best of {POLLS}: wall {nw['wall']:.3f}s, CPU {nw['cpu']:.3f}s")
            print(f"  snmpbulkwalk ifTable + ifXTable, best of {POLLS}: wall {w_wall:.3f}s, CPU {w_cpu:.3f}s, "
                  f"{walks[0][2]} varbinds")
            print(f"  ratio netwatch/snmpbulkwalk: steady CPU {nw['cpu'] / w_cpu:.2f}, first-poll CPU "
                  f"{nw['first_cpu'] / w_cpu:.2f}, steady wall {nw['wall'] / w_wall:.2f}")
        print(f"peak RSS: snmpbulkwalk {children()[1] / 1024:.1f} MiB; bench process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
              f"({rss0 / 1024:.0f} MiB before polling: interpreter, modules and the loaded recordings)")
        print(f"walk memory bound: {client.MAX_WALK_ANSWER_BYTES >> 20} MiB of answers per walk")
    finally:
        agent.close()


if __name__ == "__main__":
    asyncio.run(main())
