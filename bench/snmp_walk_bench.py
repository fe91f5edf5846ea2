"""A 3,000-interface device: netwatch's poll (CPU, memory, wall time) against net-snmp's snmpbulkwalk of the
same snmpd in the same run (needs root: the 3,000 links live in a network namespace this script makes)."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatch.fields import Secret  # noqa: E402
from netwatch.model import Target  # noqa: E402
from netwatch.net.snmp import client  # noqa: E402
from netwatch.probes import snmp  # noqa: E402
from tests.peers import snmpd as peers  # noqa: E402

INTERFACES = 3000
POLLS = 5
TIMEOUT_SECONDS = 60.0
# What netwatch reads per poll: ifTable columns and ifXTable columns. snmpbulkwalk walks the two subtrees
# whole (more columns than netwatch asks for), 100 repetitions per request like netwatch's 100 varbinds.
WALKS = ("1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1")


def make_namespace(name: str, links: int) -> tuple[str, str]:
    host, peer = "10.231.251.1", "10.231.251.2"
    host_link = f"nwwb{os.getpid() % 100000}"
    sh = lambda *c: subprocess.run(list(c), check=True, capture_output=True)  # noqa: E731
    sh("ip", "netns", "add", name)
    sh("ip", "link", "add", host_link, "type", "veth", "peer", "name", "uplink")
    sh("ip", "link", "set", "uplink", "netns", name)
    sh("ip", "addr", "add", f"{host}/30", "dev", host_link)
    sh("ip", "link", "set", host_link, "up")
    sh("ip", "-n", name, "addr", "add", f"{peer}/30", "dev", "uplink")
    sh("ip", "-n", name, "link", "set", "uplink", "up")
    sh("ip", "-n", name, "link", "set", "lo", "up")
    batch = "".join(f"link add port{i} type ifb\nlink set port{i} up\n" for i in range(1, links + 1))
    subprocess.run(["ip", "-n", name, "-batch", "-"], input=batch.encode(), check=True, capture_output=True)
    return host_link, peer


class SlowStartSnmpd(peers.Snmpd):
    """snmpd needs many seconds to read 3,000 links before its first answer."""

    def wait_ready(self, timeout_seconds: float = 180.0) -> None:
        super().wait_ready(max(timeout_seconds, 180.0))


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


async def main() -> None:
    if os.geteuid() != 0:
        sys.exit("needs root: network namespaces")
    name = f"nwt_walkbench_{os.getpid()}"
    work = Path(tempfile.mkdtemp(prefix="nw_walk_bench_"))
    host_link = ""
    agent = None
    try:
        host_link, peer = make_namespace(name, INTERFACES)
        ns = peers.Namespace(name, "10.231.251.1", peer, host_link)
        agent = SlowStartSnmpd(work / "snmpd", host=peer, netns=ns, v3=False).start()
        print(f"agent: net-snmp snmpd in {name}, {INTERFACES} ifb links + lo + uplink")

        # snmpbulkwalk (C) of the same agent, CPU of the child processes, peak RSS of the biggest one
        walk_wall, walk_cpu, rows = [], [], 0
        for _ in range(POLLS):
            c0, t0 = children_cpu(), time.perf_counter()
            for oid in WALKS:
                out = subprocess.run(["snmpbulkwalk", "-v2c", "-c", agent.community, "-Cr100", "-On", "-t", "30",
                                      agent.address, oid], capture_output=True, check=True,
                                     env={**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}).stdout
                rows += out.count(b"\n")
            walk_wall.append(time.perf_counter() - t0)
            walk_cpu.append(children_cpu() - c0)
        walk_rss_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss

        target = Target("chassis", agent.host)
        settings = snmp.Settings(community=Secret(agent.community), port=agent.port, watch="all")
        tracemalloc.start()
        c0, t0 = time.process_time(), time.perf_counter()
        first = await snmp.probe(target, settings, TIMEOUT_SECONDS)
        first_wall, first_cpu = time.perf_counter() - t0, time.process_time() - c0
        _, first_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert first.ok, first
        wall, cpu = [], []
        for _ in range(POLLS):
            c0, t0 = time.process_time(), time.perf_counter()
            out = await snmp.probe(target, settings, TIMEOUT_SECONDS)
            assert out.ok, out
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        n = int(first.measurements["interfaces"])
        best = lambda xs: min(xs)  # noqa: E731
        print(f"netwatch first poll (names too): {n} interfaces, {len(first.children)} checks, "
              f"wall {first_wall:.2f}s, CPU {first_cpu:.2f}s, Python heap peak {first_peak / 2**20:.1f} MiB")
        print(f"netwatch steady poll (best of {POLLS}): wall {best(wall):.2f}s, CPU {best(cpu):.3f}s; "
              f"bench process peak RSS {rss_kib / 1024:.0f} MiB (interpreter and modules included)")
        print(f"snmpbulkwalk ifTable+ifXTable (best of {POLLS}): wall {best(walk_wall):.2f}s, "
              f"CPU {best(walk_cpu):.3f}s, peak RSS {walk_rss_kib / 1024:.1f} MiB, {rows // POLLS} varbinds")
        print(f"ratio netwatch steady poll / snmpbulkwalk: wall {best(wall) / best(walk_wall):.2f}, "
              f"CPU {best(cpu) / best(walk_cpu):.2f}")
        print(f"ratio netwatch first poll / snmpbulkwalk: wall {first_wall / best(walk_wall):.2f}, "
              f"CPU {first_cpu / best(walk_cpu):.2f}")
        print(f"walk memory bound: {client.MAX_WALK_ANSWER_BYTES >> 20} MiB of answers")
    finally:
        if agent is not None:
            agent.stop()
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        if host_link:
            subprocess.run(["ip", "link", "del", host_link], capture_output=True)


if __name__ == "__main__":
    asyncio.run(main())
