"""SNMP poll cost and throughput: netwatch v2c/v3 vs snmpd's own CPU and prometheus-snmp-exporter (needs root)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import MappingProxyType

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatch.fields import Secret  # noqa: E402
from netwatch.model import Target  # noqa: E402
from netwatch.probes import snmp  # noqa: E402
from netwatch.net.snmp import client
from netwatch.net.snmp import oids
from tests.peers import snmpd as peers  # noqa: E402

EXPORTER_CONFIG = Path("/work/shared/peers/snmp_exporter-if_mib.yml")
COMMUNITY = "netwatch"          # what the shared snmp_exporter module uses
POLLS = 200
V2C_POLLS = 1000   # snmpd's CPU is read in 10 ms clock ticks: ~0.8 ms per poll needs many polls to be exact
AGENTS = 100
SNMPDS = 4
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_http(url: str, timeout_seconds: float = 10) -> None:
    import urllib.request
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.05)   # polling for readiness; the exporter has no other signal
    raise RuntimeError(f"{url} did not come up")


async def main() -> None:
    if os.geteuid() != 0:
        sys.exit("needs root: network namespaces")
    work = Path(tempfile.mkdtemp(prefix="nw_snmp_bench_"))
    ns = peers.make_namespace("snmpbench", interfaces=48)
    agents: list[peers.Snmpd] = []
    exporter = None
    try:
        for n in range(SNMPDS):
            agents.append(peers.Snmpd(work / f"snmpd{n}", host=ns.peer_address, netns=ns, community=COMMUNITY).start())
        a0 = agents[0]
        rows = len(peers.parse_netsnmp(peers.netsnmp("snmpbulkwalk", "-v2c", "-c", COMMUNITY, a0.address,
                                                     "1.3.6.1.2.1.2.2.1.1")))
        print(f"agent: snmpd in namespace {ns.name}, {rows} ifTable rows, {SNMPDS} snmpd processes")

        async def netwatch_cost(settings: snmp.Settings, label: str, forget: bool = False,
                                polls: int = POLLS) -> tuple[float, float]:
            target = Target(f"bench-{label}", a0.host)
            out = await snmp.probe(target, settings, 5.0)          # warm-up: engine, caches, v3 discovery
            assert out.ok, out
            state, key = client.engine().state, (target.id, target.host, settings.port)
            cpu0, agent0 = time.process_time(), a0.cpu_seconds()
            for _ in range(polls):
                out = await snmp.probe(target, settings, 5.0)
                assert out.ok, out
                if forget:
                    # The bench's links are idle, so judge reuses every Series and child outcome of the
                    # last poll. Forgetting them is the worst case: every interface changed since.
                    state[key] = dataclasses.replace(state[key], memo=MappingProxyType({}))
            mine = (time.process_time() - cpu0) / polls
            theirs = (a0.cpu_seconds() - agent0) / polls
            return mine, theirs

        v2 = snmp.Settings(community=Secret(COMMUNITY), port=a0.port, watch="all")
        v3 = snmp.Settings(version="3", port=a0.port, watch="all", v3=snmp.Usm(
            user=peers.V3_USER, auth_key=Secret(peers.V3_AUTH), priv_key=Secret(peers.V3_PRIV)))
        sent0 = client.engine().sent
        nw2, snmpd2 = await netwatch_cost(v2, "v2c", polls=V2C_POLLS)
        requests_per_poll = (client.engine().sent - sent0) / (V2C_POLLS + 1)
        nw2f, snmpd2f = await netwatch_cost(v2, "v2c-forget", forget=True, polls=V2C_POLLS)
        nw3, snmpd3 = await netwatch_cost(v3, "v3")
        eng = client.engine()

        # prometheus-snmp-exporter 0.21, if_mib module, same agent
        port = peers.free_udp_port()
        exporter = subprocess.Popen(["prometheus-snmp-exporter", f"--config.file={EXPORTER_CONFIG}",
                                     f"--web.listen-address=127.0.0.1:{port}"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/")
        url = f"{base}/snmp?target={a0.address}&module=if_mib"
        async with aiohttp.ClientSession() as http:
            async with http.get(url) as r:
                body = await r.text()
                assert r.status == 200 and "ifHCInOctets" in body, body[:300]
            e0, s0 = proc_cpu(exporter.pid), a0.cpu_seconds()
            for _ in range(POLLS):
                async with http.get(url) as r:
                    await r.read()
            exp_cpu = (proc_cpu(exporter.pid) - e0) / POLLS
            exp_snmpd = (a0.cpu_seconds() - s0) / POLLS

            # throughput over 100 agents (targets spread over the snmpd processes), 100 at once
            urls = [f"{base}/snmp?target={agents[i % SNMPDS].address}&module=if_mib" for i in range(AGENTS)]

            async def scrape(u: str) -> None:
                async with http.get(u) as r:
                    await r.read()
                    assert r.status == 200

            t0 = time.perf_counter()
            rounds = 3
            for _ in range(rounds):
                await asyncio.gather(*(scrape(u) for u in urls))
            exp_rate = rounds * AGENTS / (time.perf_counter() - t0)

        settings_by = [snmp.Settings(community=Secret(COMMUNITY), port=a.port, watch="all") for a in agents]
        targets = [Target(f"agent{i}", agents[i % SNMPDS].host) for i in range(AGENTS)]
        await asyncio.gather(*(snmp.probe(t, settings_by[i % SNMPDS], 10.0) for i, t in enumerate(targets)))
        t0 = time.perf_counter()
        failed = 0
        for _ in range(rounds):
            outs = await asyncio.gather(*(snmp.probe(t, settings_by[i % SNMPDS], 10.0)
                                          for i, t in enumerate(targets)))
            failed += sum(not o.ok for o in outs)
        nw_rate = rounds * AGENTS / (time.perf_counter() - t0)

        # 200 requests in flight at once, no retries: every one must be answered
        burst = [client.Agent(agents[i % SNMPDS].host, agents[i % SNMPDS].port, COMMUNITY.encode(),
                              timeout_seconds=5.0, retries=0) for i in range(200)]
        results = await asyncio.gather(*(eng.get(a, [oids.SYS_UPTIME, oids.SYS_NAME, oids.SYS_DESCR])
                                         for a in burst), return_exceptions=True)
        lost = sum(isinstance(r, Exception) for r in results)

        print(f"\nper interface poll of one {rows}-row device (mean of {V2C_POLLS} v2c, {POLLS} v3 and exporter):")
        print(f"  netwatch v2c client CPU      {nw2 * 1000:7.2f} ms   snmpd answering it {snmpd2 * 1000:6.2f} ms"
              f"   ratio {nw2 / snmpd2 if snmpd2 else float('inf'):.2f}x (target <= 1.5x)")
        print(f"  same, every interface changed {nw2f * 1000:6.2f} ms   snmpd answering it {snmpd2f * 1000:6.2f} ms"
              f"   ratio {nw2f / snmpd2f if snmpd2f else float('inf'):.2f}x (nothing reused from the last poll)")
        print(f"  netwatch v3  client CPU      {nw3 * 1000:7.2f} ms   snmpd answering it {snmpd3 * 1000:6.2f} ms"
              f"   ratio {nw3 / snmpd3 if snmpd3 else float('inf'):.2f}x")
        print(f"  snmp_exporter own CPU/scrape {exp_cpu * 1000:7.2f} ms   snmpd answering it {exp_snmpd * 1000:6.2f} ms")
        print(f"  netwatch v2c / snmp_exporter {nw2 / exp_cpu:.2f}x (target <= 0.5x)")
        print(f"\nthroughput, {AGENTS} agents over {SNMPDS} snmpd, all at once, {rounds} rounds:")
        print(f"  netwatch v2c   {nw_rate:7.1f} polls/s   ({failed} failed)")
        print(f"  snmp_exporter  {exp_rate:7.1f} scrapes/s")
        print(f"  ratio {nw_rate / exp_rate:.2f}x (target >= 1.0x)")
        print(f"\n200 GETs in flight, no retries: {200 - lost} answered, {lost} lost; "
              f"receive buffer {eng.receive_buffer_bytes // 1024} KiB (kernel reports double the request)")
        print(f"v2c requests per poll (names re-read every {snmp.NAME_REFRESH_POLLS}th): {requests_per_poll:.2f}")
    finally:
        if exporter is not None:
            exporter.terminate()
            exporter.wait()
        for a in agents:
            a.stop()
        ns.delete()


if __name__ == "__main__":
    asyncio.run(main())
