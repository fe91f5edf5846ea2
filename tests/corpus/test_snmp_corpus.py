"""Corpus test (issue 17): ~100 recordings of real routers, switches, firewalls, Wi-Fi controllers, UPSes and
servers (PyPI `snmpsim-data`) read by netwatch and by net-snmp's `snmpbulkwalk` from the same agent; the
interface rows, names, statuses, speeds and counter choice must agree. Where netwatch deliberately reads a
value differently from the raw walk, `expected_row` says so. Run: `pytest -m corpus -s` prints the
tally (recordings tried / agreeing / differing and why)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from netwatch.fields import Secret
from netwatch.model import Target
from netwatch.net.snmp.client import SnmpError
from netwatch.probes import snmp
from tests.peers import recordings, snmpd as peers
from tests.snmp.engines import ber_engine  # noqa: F401  (a fixture)

pytestmark = [
    pytest.mark.corpus, pytest.mark.slow,
    pytest.mark.usefixtures("ber_engine"),     # every recording read by each column-walk engine
    pytest.mark.skipif(not recordings.available() or not shutil.which("snmpbulkwalk"),
                       reason="needs snmpsim-data (test extra) and net-snmp's snmpbulkwalk"),
]

BUDGET_SECONDS = 180
# Recordings whose netwatch reading differs from the raw walk on purpose or cannot be compared; each with why.
KNOWN_DIFFERENCES: dict[str, str] = {}

_ENV = {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}
_LINE = re.compile(r"^\.?([\d.]+) = (?:([\w-]+): ?)?(.*)$")
IF_TABLE, IF_X_TABLE = "1.3.6.1.2.1.2.2.1", "1.3.6.1.2.1.31.1.1.1"
COLUMNS = {"descr": (IF_TABLE, 2), "speed": (IF_TABLE, 5), "admin": (IF_TABLE, 7), "oper": (IF_TABLE, 8),
           "in": (IF_TABLE, 10), "out": (IF_TABLE, 16), "name": (IF_X_TABLE, 1), "hc_in": (IF_X_TABLE, 6),
           "hc_out": (IF_X_TABLE, 10), "high": (IF_X_TABLE, 15), "alias": (IF_X_TABLE, 18)}


def bulkwalk(address: str, community: str, subtree: str) -> dict[str, dict[int, Any]]:
    """snmpbulkwalk of one table, parsed by column: {column name: {ifIndex: bytes or int}}; octet strings
    in hex (-Ox) so that their bytes are exact."""
    out = subprocess.run(["snmpbulkwalk", "-v2c", "-c", community, "-On", "-Ox", "-Cr50", "-t", "20", "-r", "1",
                          address, subtree], capture_output=True, text=True, env=_ENV, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"snmpbulkwalk {community} {subtree}: {out.stderr.strip()[:200]}")
    by_arc = {arc: name for name, (table, arc) in COLUMNS.items() if table == subtree}
    cols: dict[str, dict[int, Any]] = {name: {} for name in by_arc.values()}
    last: Optional[tuple[str, int, str]] = None
    for line in out.stdout.splitlines():
        m = _LINE.match(line)
        if not m:
            if last is not None and last[2] == "Hex-STRING":   # long hex strings wrap onto more lines
                cols[last[0]][last[1]] += bytes.fromhex(line.strip())
            continue
        oid, kind, value = m.groups()
        rest = oid[len(subtree) + 1:].split(".")
        last = None
        if not oid.startswith(subtree + ".") or len(rest) != 2 or int(rest[0]) not in by_arc:
            continue
        name, index = by_arc[int(rest[0])], int(rest[1])
        if kind == "Hex-STRING":
            cols[name][index] = bytes.fromhex(value.strip())
            last = (name, index, kind)
        elif kind in ("INTEGER", "Gauge32", "Counter32", "Counter64"):
            cols[name][index] = int(re.sub(r"\D.*$", "", value.split("(")[-1]) if "(" in value else value)
        elif kind == "STRING":
            cols[name][index] = value.strip('"').encode()
        elif value == '""':
            cols[name][index] = b""
    return cols


def expected_rows(walk: dict[str, dict[int, Any]]) -> dict[int, tuple[Any, ...]]:
    """What netwatch should read from the raw walk, row by row: (name, admin, oper, hc, speed)."""
    rows = {}
    for index, oper in walk["oper"].items():
        descr = snmp.clean_text(walk["descr"].get(index, b""), snmp.LABEL_CAP)
        # Deliberate: names are cleaned (UTF-8 with replacement, control characters removed, 64 characters)
        # and an empty ifName falls back to ifDescr, then to the index.
        name = snmp.clean_text(walk["name"].get(index, b""), snmp.LABEL_CAP) or descr or str(index)
        hc_in, hc_out = walk["hc_in"].get(index), walk["hc_out"].get(index)
        hc = hc_in is not None and hc_out is not None
        # Deliberate: 64-bit counters stuck at 0 while the 32-bit ones count are not used.
        if hc and hc_in == 0 and hc_out == 0 and (walk["in"].get(index) or walk["out"].get(index)):
            hc = False
        high, low = walk["high"].get(index), walk["speed"].get(index)
        # Deliberate: ifHighSpeed in bit/s is read as bit/s; a saturated ifSpeed alone is no speed.
        if high and (high * 1e6 > snmp.MAX_PLAUSIBLE_SPEED_BPS or (high == low and high >= 1_000_000)):
            speed: Optional[float] = float(high)
        elif high:
            speed = high * 1e6
        elif low and low != 2**32 - 1:
            speed = float(low)
        else:
            speed = None
        rows[index] = (name, walk["admin"].get(index, 0), oper, hc, speed)
    return rows


def netwatch_rows(snap: snmp.Snapshot) -> dict[int, tuple[Any, ...]]:
    return {r.index: (r.name, r.admin, r.oper, r.hc, r.speed_bps) for r in snap.interfaces}


async def read(address: str, port: int, community: str) -> snmp.Snapshot:
    settings = snmp.Settings(community=Secret(community), port=port, retries=1)
    return await snmp.fetch(Target(community.replace("/", "_"), "127.0.0.1"), settings, 30.0, {})


def compare(address: str, port: int, community: str) -> tuple[str, str]:
    """('agree' | 'differ' | 'no_iftable' | 'failed', detail)."""
    walk = bulkwalk(address, community, IF_TABLE) | bulkwalk(address, community, IF_X_TABLE)
    try:
        snap = asyncio.run(read(address, port, community))
    except SnmpError as exc:
        return "failed", f"{exc.error}: {exc.detail}"
    expected, got = expected_rows(walk), netwatch_rows(snap)
    if not expected and not got:
        return "no_iftable", "no ifTable rows (both agree)"
    if expected == got:
        return "agree", "; ".join([f"{len(got)} interfaces", *snap.notes])
    diffs = [f"ifIndex {i}: walk {expected.get(i)} netwatch {got.get(i)}"
             for i in sorted(set(expected) | set(got)) if expected.get(i) != got.get(i)]
    return "differ", f"{len(diffs)} rows differ, e.g. {diffs[0]}"


@pytest.fixture(scope="module")
def corpus() -> Iterator[tuple[recordings.RecordingsAgent, list[str]]]:
    started = time.monotonic()
    tables = {name.encode(): recordings.load(name) for name in recordings.names()}
    agent = recordings.start_agent(tables)
    print(f"\nloaded {len(tables)} recordings in {time.monotonic() - started:.0f}s")
    yield agent, [n.decode() for n in tables]
    agent.close()


def test_every_recording_reads_like_snmpbulkwalk(corpus: tuple[recordings.RecordingsAgent, list[str]]) -> None:
    agent, names = corpus
    started = time.monotonic()
    results = {name: compare(agent.address, agent.port, name) for name in names}
    tally: dict[str, list[str]] = {}
    for name, (verdict, detail) in sorted(results.items()):
        tally.setdefault(verdict, []).append(name)
        print(f"{verdict:10} {name}: {detail}")
    print("tally: " + ", ".join(f"{k} {len(v)}" for k, v in sorted(tally.items())) + f" of {len(names)} tried")
    unexpected = {n: results[n][1] for n in tally.get("differ", []) + tally.get("failed", [])
                  if n not in KNOWN_DIFFERENCES}
    assert not unexpected, unexpected
    assert len(tally.get("agree", [])) >= 80
    assert time.monotonic() - started < BUDGET_SECONDS


# Small venue-like recordings that snmpsim itself serves within the budget (it indexes a whole file first).
SNMPSIM_SET = ("network/switch/cts-media-converter", "network/firewall/clavister-amaranten", "network/wifi/ubiquiti-m5",
               "network/firewall/venus-vsos-v070060600", "network/switch/cisco-c3560")


def test_snmpsim_serves_what_the_fast_agent_serves(corpus: tuple[recordings.RecordingsAgent, list[str]]) -> None:
    """The same recordings from snmpsim (the real simulator) give the same walk and the same verdict."""
    agent, _ = corpus
    port = peers.free_udp_port()
    with recordings.snmpsim(SNMPSIM_SET, port):
        for name in SNMPSIM_SET:
            community = Path(name).name
            via_snmpsim = bulkwalk(f"127.0.0.1:{port}", community, IF_TABLE) | \
                bulkwalk(f"127.0.0.1:{port}", community, IF_X_TABLE)
            via_agent = bulkwalk(agent.address, name, IF_TABLE) | bulkwalk(agent.address, name, IF_X_TABLE)
            assert via_snmpsim == via_agent, name
            verdict, detail = compare(f"127.0.0.1:{port}", port, community)
            assert verdict == "agree", (name, detail)
