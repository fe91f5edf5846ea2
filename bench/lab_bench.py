"""Lab SNMP agents under load: how many full device polls per second the recorded agents sustain.

Usage: python bench/lab_bench.py [--agents 50 200] [--rounds 3]

Starts N lab agents (the trimmed Cisco C3560 recording: 57 interfaces) in a child process and polls
every one with netwatch's `snmp` probe (system group + ifTable/ifXTable, GETBULK) from this process,
all at once, for a few rounds. Prints polls/s and CPU per poll on each side (agents from the child's
/proc/PID/stat), so the lab's cost can be compared with the prober's own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

from netwatch.fields import Secret
from netwatch.model import Target
from netwatch.probes import snmp

CHILD = """
import asyncio, json, sys
from netwatch.lab import snmpagent
async def main(n):
    agents = [await snmpagent.device("cisco-c3560", f"sw{i}", b"bench").start() for i in range(n)]
    print(json.dumps([a.port for a in agents]), flush=True)
    await asyncio.Event().wait()
asyncio.run(main(int(sys.argv[1])))
"""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def poll_all(ports: list[int]) -> int:
    settings = [snmp.Settings(community=Secret("bench"), port=p, retries=1) for p in ports]
    results = await asyncio.gather(*(snmp.probe(Target(f"sw{i}", "127.0.0.1"), s, 10.0)
                                     for i, s in enumerate(settings)))
    return sum(1 for r in results if r.ok and r.measurements.get("interfaces") == 57)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'agents':>7} {'polls/s':>8} {'ok':>5} {'agent CPU ms/poll':>18} {'probe CPU ms/poll':>18}")
    for n in args.agents:
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(n)], stdout=subprocess.PIPE, text=True)
        try:
            ports = json.loads(child.stdout.readline())  # type: ignore[union-attr]
            asyncio.run(poll_all(ports))   # warm-up
            best = None
            for _ in range(args.rounds):
                a0, p0, w0 = cpu_seconds(child.pid), time.process_time(), time.perf_counter()
                ok = asyncio.run(poll_all(ports))
                wall = time.perf_counter() - w0
                row = (n / wall, ok, (cpu_seconds(child.pid) - a0) / n * 1000, (time.process_time() - p0) / n * 1000)
                best = row if best is None or row[0] > best[0] else best
            assert best is not None
            print(f"{n:>7} {best[0]:>8.0f} {best[1]:>5} {best[2]:>18.2f} {best[3]:>18.2f}")
        finally:
            child.terminate()
            child.wait()


if __name__ == "__main__":
    main()
