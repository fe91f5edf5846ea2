"""Name lookups against a resolver that never answers: bounded, timed out, and the default executor stays free."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from netwatch.net.resolver import Resolver

REPO = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import asyncio, json, socket, time
    from netwatch.net import tcp
    from netwatch.net.resolver import Resolver, resolver

    async def main():
        r = resolver()
        r.timeout_seconds = 1.0
        r.max_waiting = 12
        t0 = time.monotonic()
        lookups = [asyncio.ensure_future(tcp.resolve(f"host{i}.example", 80)) for i in range(20)]
        await asyncio.sleep(0.2)
        # The loop's default executor (store writes, paging, /metrics use it) is not held by lookups.
        d0 = time.monotonic()
        await asyncio.gather(*(asyncio.to_thread(lambda: 1) for _ in range(8)))
        default_seconds = time.monotonic() - d0
        stalled = r.oldest_pending_seconds()
        errors = []
        for lookup in lookups:
            try:
                await lookup
                errors.append("resolved")
            except tcp.Failure as f:
                errors.append(f.error + ": " + f.detail)
        print(json.dumps({"default_seconds": default_seconds, "errors": errors, "stalled": stalled,
                          "wall": time.monotonic() - t0, "refused": r.refused_total, "timeouts": r.timeouts_total}))

    asyncio.run(main())
""")


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare")
def test_a_silent_resolver_times_out_lookups_and_leaves_the_default_executor_free(tmp_path: Path) -> None:
    # Reads nothing, answers nothing. resolv.conf cannot name a port, hence 53 on an address of its own.
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        silent.bind(("127.0.0.3", 53))
    except OSError:
        pytest.skip("127.0.0.3:53 is taken")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.3\noptions timeout:2 attempts:1\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    script = (f'mount --bind {resolv} /etc/resolv.conf && mount --bind {hosts} /etc/hosts && '
              f'exec {sys.executable} -c "$0"')
    try:
        out = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, CHILD],
                             capture_output=True, text=True, timeout=60, cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    finally:
        silent.close()
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["default_seconds"] < 0.5
    assert got["stalled"] > 0.1                                   # the self-watch can see the stall
    assert all(e.startswith("dns: ") for e in got["errors"]), got["errors"]
    assert got["refused"] == 8 and got["timeouts"] == 12          # 12 may wait; the rest fail at once
    assert sum("saturated" in e for e in got["errors"]) == 8
    assert sum("did not answer within 1s" in e for e in got["errors"]) == 12
    assert got["wall"] < 5.0


async def test_an_answering_lookup_goes_through_the_pool() -> None:
    r = Resolver(threads=2, timeout_seconds=2.0)
    infos = await r.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
    assert infos and r.lookups_total == 1
    assert r.oldest_pending_seconds() == 0.0
    names = {t.name for t in threading.enumerate()}
    assert any(n.startswith("netwatch-resolver") for n in names)
