"""`netwatch discover` against a recorded switch served on loopback, with LLDP, CDP and ARP rows."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sys
from pathlib import Path
from typing import AsyncIterator

import pytest
import yaml

from netwatch import discover
from netwatch.lab.snmpagent import Agent, parse_snmprec, recording
from netwatch.net.snmp import ber
from netwatch.net.snmp.oids import SYS_NAME

# The neighbour rows a core switch in the hall would hold (the recording itself, a real Catalyst
# 3560 walk from snmpsim-data, has none): two LLDP neighbours, one CDP neighbour, ARP entries.
LLDP = {(0, 1, 1): ("sw-hall-a.hoitruong.vn", (127, 0, 20, 1)), (0, 2, 1): ("SW-HALL-B", (127, 0, 20, 2))}
CDP = {(10101, 1): ("ap-press.hoitruong.vn", (127, 0, 20, 3))}
ARP = {(1, 127, 0, 20, 10): b"\x00\x1a\x2b\x3c\x4d\x5e", (1, 127, 0, 20, 1): b"\x00\x00\x00\x00\x00\x01",
       (1, 10, 99, 0, 7): b"\x00\x11\x22\x33\x44\x55", (1, 127, 0, 20, 11): b"\x00\x00\x00\x00\x00\x0b"}


def seed_table() -> dict:
    table = parse_snmprec(recording("cisco-c3560"))
    table[SYS_NAME] = (ber.OCTET_STRING, b"core-sw.hoitruong.vn")
    for idx, (name, addr) in LLDP.items():
        table[discover.LLDP_REM_SYS_NAME + idx] = (ber.OCTET_STRING, name.encode())
        table[discover.LLDP_REM_MAN_ADDR_IF_SUBTYPE + idx + (1, 4) + addr] = (ber.INTEGER, 2)
    for idx, (name, addr) in CDP.items():
        table[discover.CDP_CACHE_ADDRESS_TYPE + idx] = (ber.INTEGER, 1)
        table[discover.CDP_CACHE_ADDRESS + idx] = (ber.OCTET_STRING, bytes(addr))
        table[discover.CDP_CACHE_DEVICE_ID + idx] = (ber.OCTET_STRING, name.encode())
    for idx, mac in ARP.items():
        table[discover.ARP_PHYS_ADDRESS + idx] = (ber.OCTET_STRING, mac)
        table[discover.ARP_TYPE + idx] = (ber.INTEGER, 2 if idx[-1] == 11 else 3)   # .11 is stale
    return table


@pytest.fixture
async def seed() -> AsyncIterator[Agent]:
    agent = await Agent(seed_table(), b"s3cret-comm", "core-sw").start("127.0.0.1")
    yield agent
    agent.transport.close()


async def run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "netwatch", "discover", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_proposes_neighbours_and_arp_hosts_with_the_seed_as_parent(seed: Agent, tmp_path: Path) -> None:
    code, out, err = await run("--seed", f"127.0.0.1:{seed.port}", "--community", "s3cret-comm", "--format", "csv",
                               "--zone", "hall")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["id"], r["host"], r["role"], r["parent"], r["source"]) for r in rows] == [
        ("core-sw", "127.0.0.1", "network", "", "seed"),
        ("sw-hall-a", "127.0.20.1", "network", "core-sw", "lldp"),
        ("sw-hall-b", "127.0.20.2", "network", "core-sw", "lldp"),
        ("ap-press", "127.0.20.3", "network", "core-sw", "cdp"),
        ("10-99-0-7", "10.99.0.7", "host", "core-sw", "arp"),
        ("127-0-20-10", "127.0.20.10", "host", "core-sw", "arp"),
    ]
    assert all(r["zone"] == "hall" for r in rows)
    assert rows[-1]["mac"] == "00:1a:2b:3c:4d:5e"
    assert "s3cret-comm" not in out + err
    # The CSV is what `netwatch import` reads.
    (tmp_path / "found.csv").write_text(out, encoding="utf-8")
    (tmp_path / "venue.yaml").write_text("zones: [{id: hall}]\n", encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "netwatch", "--lang", "en", "import",
                                                "found.csv", "-c", "venue.yaml", cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    iout, ierr = await proc.communicate()
    assert proc.returncode == 0, ierr.decode()
    assert "6 devices from found.csv" in iout.decode()


async def test_yaml_output_and_only_the_seed_is_contacted(seed: Agent) -> None:
    code, out, err = await run("--seed", f"127.0.0.1:{seed.port}", "--community", "s3cret-comm")
    assert code == 0, err
    targets = {t["id"]: t for t in yaml.safe_load(out)["targets"]}
    assert targets["sw-hall-a"] == {"id": "sw-hall-a", "name": "sw-hall-a.hoitruong.vn", "host": "127.0.20.1",
                                    "depends_on": ["core-sw"], "labels": {"role": "network", "discovered": "lldp"}}
    assert targets["core-sw"]["host"] == "127.0.0.1" and "depends_on" not in targets["core-sw"]
    assert "reachable" not in out   # nothing but the seed was asked


@pytest.mark.skipif(os.geteuid() != 0, reason="ICMP needs a raw socket (root)")
async def test_probe_pings_only_learned_addresses_inside_the_ranges(seed: Agent) -> None:
    code, out, err = await run("--seed", f"127.0.0.1:{seed.port}", "--community", "s3cret-comm",
                               "--probe", "--ranges", "127.0.20.0/24")
    assert code == 0, err
    labels = {t["host"]: t["labels"] for t in yaml.safe_load(out)["targets"]}
    for host in ("127.0.20.1", "127.0.20.2", "127.0.20.3", "127.0.20.10"):
        assert labels[host]["reachable"] == "yes", labels[host]
    assert "reachable" not in labels["10.99.0.7"]     # outside the ranges: never pinged
    assert "reachable" not in labels["127.0.0.1"]     # the seed: already asked over SNMP


async def test_probe_needs_ranges_and_a_dead_seed_is_one_line() -> None:
    code, _, err = await run("--seed", "127.0.0.1:9", "--community", "x", "--probe")
    assert code == 2 and "--probe needs --ranges" in err
    code, _, err = await run("--seed", "127.0.0.1:9", "--community", "x", "--timeout", "1")
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    code, _, err = await run("--seed", "seed.example", "--community", "x")
    assert code == 2 and "give an IP address" in err
