"""Benchmark: SSH config fetch (netwatch ssh probe vs the OpenSSH client), concurrency, masking and diff speed."""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netwatch.config import loads  # noqa: E402
from netwatch.probes.contract import ProbeContext
from netwatch.configbackup import diff  # noqa: E402
from netwatch.configbackup.masking import DEFAULT_IGNORE, DEFAULT_MASKS, Masker  # noqa: E402
from netwatch.configbackup.repo import Repository  # noqa: E402
from netwatch.probes import ssh  # noqa: E402
from netwatch.store import Store  # noqa: E402
from tests.peers.sshd import RUNNING_CONFIG, Sshd  # noqa: E402

FETCHES = 20
PARALLEL = 32


def big_config(lines: int) -> str:
    out = [RUNNING_CONFIG]
    for i in range(lines // 4):
        out.append(f"interface GigabitEthernet1/0/{i}\n description access-port-{i}\n"
                   f" switchport access vlan {i % 4000}\n snmp trap link-status\n")
    return "".join(out)


async def probe_many(checks: list, n: int, repo: Repository | None) -> list[float]:  # type: ignore[type-arg]
    times: list[float] = []

    async def one(check) -> None:  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        outcome = await ssh.probe(check.target, check.settings, 10.0,
                                  ProbeContext(check.id, config_versions=repo))
        assert outcome.ok, outcome
        times.append(time.perf_counter() - t0)

    sem = asyncio.Semaphore(ssh.CONCURRENCY)

    async def limited(check) -> None:  # type: ignore[no-untyped-def]
        async with sem:
            await one(check)

    await asyncio.gather(*(limited(checks[i % len(checks)]) for i in range(n)))
    return times


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="nwt_sshbench_"))
    peer = Sshd(work / "device").start()
    try:
        peer.set_running_config(big_config(2000))
        (work / "kh").write_text(peer.known_hosts_line())
        config = loads(f"""
targets:
  - id: core1
    host: 127.0.0.1
    checks:
      - kind: ssh
        timeout: 10s
        interval: 60s
        port: {peer.port}
        known_hosts: {work / "kh"}
        username: root
        private_key_file: {peer.dir / "client_ed25519"}
""")
        check = config.checks[0]
        store = Store.open(str(work / "bench.db"))
        repo = Repository(store.conn, store.lock)

        seq: list[float] = []
        for _ in range(FETCHES):
            seq.extend(asyncio.run(probe_many([check], 1, repo)))
        ossh: list[float] = []
        for _ in range(FETCHES):
            t0 = time.perf_counter()
            subprocess.run(["ssh", "-q", "-T", "-i", str(peer.dir / "client_ed25519"), "-p", str(peer.port),
                            "-o", f"UserKnownHostsFile={work / 'kh'}", "-o", "StrictHostKeyChecking=yes",
                            "-o", "BatchMode=yes", "root@127.0.0.1", "show running-config"],
                           check=True, capture_output=True)
            ossh.append(time.perf_counter() - t0)
        print(f"config size: {len(big_config(2000))} bytes, {big_config(2000).count(chr(10))} lines")
        print(f"sequential fetch (netwatch probe incl. mask+store): median {statistics.median(seq) * 1000:.1f} ms")
        print(f"sequential fetch (OpenSSH ssh client, new process):  median {statistics.median(ossh) * 1000:.1f} ms")
        print(f"ratio netwatch/openssh: {statistics.median(seq) / statistics.median(ossh):.2f}")

        t0 = time.perf_counter()
        par = asyncio.run(probe_many([check], PARALLEL, repo))
        wall = time.perf_counter() - t0
        print(f"{PARALLEL} fetches, at most {ssh.CONCURRENCY} at once: wall {wall:.2f} s, "
              f"{PARALLEL / wall:.1f} fetches/s, median each {statistics.median(par) * 1000:.1f} ms; "
              f"speed-up over sequential {statistics.median(seq) * PARALLEL / wall:.2f}x")
        store.close()
    finally:
        peer.stop()

    masker = Masker.build(DEFAULT_MASKS, DEFAULT_IGNORE)
    text = big_config(50000)
    t0 = time.perf_counter()
    masked = masker.apply(text.encode())
    mask_s = time.perf_counter() - t0
    print(f"masking {len(text) / 1e6:.2f} MB ({text.count(chr(10))} lines): {mask_s * 1000:.0f} ms, "
          f"{len(text) / 1e6 / mask_s:.1f} MB/s")
    changed = masked.replace("switchport access vlan 17\n", "switchport access vlan 999\n", 1) \
        .replace("description access-port-40000", "description hacked", 1)
    t0 = time.perf_counter()
    lines = diff.unified(masked, changed)
    print(f"diff of two {masked.count(chr(10))}-line configs ({sum(diff.changed_lines(lines))} changed lines): "
          f"{(time.perf_counter() - t0) * 1000:.0f} ms")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
