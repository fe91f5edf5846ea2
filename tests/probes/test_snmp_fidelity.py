"""SNMP devices read the way their peers (net-snmp, snmp_exporter, the common dashboards) read them
(issue 17, points 7-11): speeds without ifHighSpeed, thousands of interfaces, memory less buffers and
cache, sanity rules for device bugs, agents without sysUpTime. Synthetic tables are served by a real
UDP agent on loopback (tests/peers/snmpresponder.py); memory is also checked against a real snmpd."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from netwatch.fields import Secret
from netwatch.model import Outcome, Target
from netwatch.net.snmp import ber, client, oids
from netwatch.probes import snmp
from tests.peers import snmpd as peers
from tests.peers.snmpresponder import Responder, device_table
from tests.snmp.engines import ber_engine  # noqa: F401  (a fixture)

# every test once per column-walk engine (Python, and C when built)
pytestmark = pytest.mark.usefixtures("ber_engine")


def v2c(port: int, **kw: Any) -> snmp.Settings:
    return snmp.Settings(community=Secret(kw.pop("community", "scripted")), port=port, **kw)


def speeds(outcome: Outcome) -> dict[str, float]:
    return {dict(s.labels)["if_index"]: s.value for s in outcome.series if s.name == "if_speed_bits_per_second"}


def utilisation(outcome: Outcome) -> dict[str, float]:
    return {dict(s.labels)["if_index"]: s.value for s in outcome.series
            if s.name == "if_utilisation_ratio" and dict(s.labels)["direction"] == "in"}


@pytest.fixture
async def agent() -> AsyncIterator[Responder]:
    r = await Responder().start()
    yield r
    r.close()


_n = 0


def target() -> Target:
    global _n
    _n += 1
    return Target(f"dev{_n}", "127.0.0.1")


# ---------------------------------------------------------------- 7. ifSpeed when every port has HC counters

async def test_speed_from_ifspeed_when_ifhighspeed_is_zero_or_absent(agent: Responder) -> None:
    agent.table = device_table({1: {"speed_mbps": 100}, 2: {"speed_mbps": 1000}, 3: {"speed_mbps": 10}})
    agent.set(oids.IF_HIGH_SPEED + (1,), ber.GAUGE32, 0)          # a ZTE port: ifHighSpeed 0
    del agent.table[oids.IF_HIGH_SPEED + (2,)]                     # an H3C port: no ifHighSpeed at all
    t, s = target(), v2c(agent.port, watch="all", utilisation_warn_ratio=0.5)
    first = await snmp.probe(t, s, 2.0)
    assert first.ok, first
    assert speeds(first) == {"1": 100e6, "2": 1000e6, "3": 10e6}
    # utilisation (and its warning) now exist for those ports: 8 Mbit/s on a 10 Mbit/s port... via port 1
    for idx, mbit in ((1, 80), (2, 1), (3, 1)):
        agent.set(oids.IF_HC_IN_OCTETS + (idx,), ber.COUNTER64, 0)
    before = time.monotonic()
    await snmp.probe(t, s, 2.0)
    time.sleep(0.2)
    agent.set(oids.IF_HC_IN_OCTETS + (1,), ber.COUNTER64, int(80e6 / 8 * (time.monotonic() - before)))
    second = await snmp.probe(t, s, 2.0)
    assert 0.5 < utilisation(second)["1"] < 1.1, utilisation(second)
    assert second.children["if/if1"].degraded == "utilisation"


# ---------------------------------------------------------------- 8. thousands of interfaces

async def test_a_3000_interface_device_polls(agent: Responder) -> None:
    agent.table = device_table({i: {"name": b"Gi%d/0/%d" % (i // 48 + 1, i % 48), "in": i * 1000}
                                for i in range(1, 3001)})
    t, s = target(), v2c(agent.port)
    started = time.perf_counter()
    out = await snmp.probe(t, s, 30.0)
    assert out.ok, out
    assert out.measurements["interfaces"] == 3000
    again = await snmp.probe(t, s, 30.0)            # from the names cache
    assert again.ok and again.measurements["interfaces"] == 3000
    assert time.perf_counter() - started < 30


async def test_a_walk_past_the_memory_bound_fails_cleanly(agent: Responder, monkeypatch: pytest.MonkeyPatch) -> None:
    agent.table = device_table({i: {} for i in range(1, 200)})
    monkeypatch.setattr(client, "MAX_WALK_ANSWER_BYTES", 20_000)
    out = await snmp.probe(target(), v2c(agent.port), 5.0)
    assert (out.ok, out.error) == (False, "protocol")
    assert "MiB of answers" in out.detail or "answers" in out.detail


# ---------------------------------------------------------------- 9. memory less buffers and cache

def _storage(agent: Responder, idx: int, kind: tuple[int, ...], descr: bytes, units: int, size: int, used: int) -> None:
    agent.set(oids.HR_STORAGE_TYPE + (idx,), ber.OBJECT_ID, kind)
    agent.set(oids.HR_STORAGE_DESCR + (idx,), ber.OCTET_STRING, descr)
    agent.set(oids.HR_STORAGE_ALLOCATION_UNITS + (idx,), ber.INTEGER, units)
    agent.set(oids.HR_STORAGE_SIZE + (idx,), ber.INTEGER, size)
    agent.set(oids.HR_STORAGE_USED + (idx,), ber.INTEGER, used)


async def test_memory_excludes_buffers_and_cache_like_netsnmp(agent: Responder) -> None:
    other = (1, 3, 6, 1, 2, 1, 25, 2, 1, 1)
    agent.table = device_table({1: {}})
    _storage(agent, 1, oids.HR_STORAGE_RAM, b"Physical memory", 1024, 1_000_000, 970_000)   # 97 %: "full"
    _storage(agent, 6, other, b"Memory buffers", 1024, 1_000_000, 50_000)
    _storage(agent, 7, other, b"Cached memory", 1024, 600_000, 600_000)
    _storage(agent, 8, other, b"Shared memory", 1024, 20_000, 20_000)                         # not subtracted
    out = await snmp.probe(target(), v2c(agent.port, host_resources=True, memory_warn_ratio=0.9), 2.0)
    assert out.measurements["memory_used_ratio"] == pytest.approx(0.32)
    assert out.degraded is None


@pytest.mark.skipif(not peers.available(), reason="net-snmp snmpd not installed")
async def test_memory_matches_proc_meminfo_through_a_real_snmpd(tmp_path: Path) -> None:
    d = peers.Snmpd(tmp_path / "snmpd", v3=False).start()
    try:
        out = await snmp.probe(Target("host", d.host), snmp.Settings(community=Secret(d.community), port=d.port,
                                                                      host_resources=True), 3.0)
        info = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+):\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)}
    finally:
        d.stop()
    expected = (info["MemTotal"] - info["MemFree"] - info["Buffers"] - info["Cached"]) / info["MemTotal"]
    assert out.measurements["memory_used_ratio"] == pytest.approx(expected, abs=0.02)


# ---------------------------------------------------------------- 10. sanity rules for device bugs

async def test_device_bugs_are_corrected_and_noted_once(agent: Responder, caplog: pytest.LogCaptureFixture) -> None:
    agent.table = device_table({1: {"speed_mbps": 10000}, 2: {"speed_mbps": 1000}, 3: {"speed_mbps": 10000},
                                4: {"speed_mbps": 100, "in": 5_000}})
    agent.set(oids.IF_HIGH_SPEED + (2,), ber.GAUGE32, 1_000_000_000)    # bit/s in a Mbit/s column
    agent.set(oids.IF_SPEED + (3,), ber.GAUGE32, 2**32 - 1)              # saturated, ifHighSpeed 10000: fine
    agent.set(oids.IF_SPEED + (1,), ber.GAUGE32, 2**32 - 1)
    del agent.table[oids.IF_HIGH_SPEED + (1,)]                           # saturated and nothing better
    agent.set(oids.IF_HC_IN_OCTETS + (4,), ber.COUNTER64, 0)             # stuck 64-bit counters
    agent.set(oids.IF_HC_OUT_OCTETS + (4,), ber.COUNTER64, 0)
    agent.set(oids.IF_OUT_OCTETS + (4,), ber.COUNTER32, 7_000)
    t, s = target(), v2c(agent.port, watch="all")
    with caplog.at_level(logging.WARNING, logger="netwatch.snmp"):
        first = await snmp.probe(t, s, 2.0)
        assert speeds(first) == {"2": 1e9, "3": 10e9, "4": 100e6}      # no 4.29 Gbit/s, no 1 Pbit/s
        time.sleep(0.1)
        agent.set(oids.IF_IN_OCTETS + (4,), ber.COUNTER32, 5_000 + 125_000)
        second = await snmp.probe(t, s, 2.0)
    rate = {dict(x.labels)["if_index"]: x.value for x in second.series if x.name == "if_in_bits_per_second"}
    assert rate["4"] > 0                   # counted from the 32-bit counters, not the stuck 64-bit ones
    notes = [r.getMessage() for r in caplog.records]
    assert sum("bit/s, not Mbit/s" in n for n in notes) == 1
    assert sum("stay at 0" in n for n in notes) == 1
    assert sum("4294967295" in n for n in notes) == 1
    assert "ifIndex 4" in next(n for n in notes if "stay at 0" in n)


def test_speed_rules_on_synthetic_values() -> None:
    found: dict[str, list[int]] = {}
    assert snmp._speed(10000, 2**32 - 1, 1, found) == 10e9
    assert snmp._speed(100_000_000_000, None, 2, found) == 100e9       # 100 Gbit/s given in bit/s
    assert snmp._speed(400_000, None, 3, found) == 400e9               # a real 400G port
    assert snmp._speed(0, 2**32 - 1, 4, found) is None
    assert snmp._speed(None, 100_000_000, 5, found) == 100e6
    assert found == {"high_speed_bits": [2], "speed_saturated": [4]}


# ---------------------------------------------------------------- 11. no sysUpTime

async def test_agent_without_sysuptime_polls_without_reboot_detection(agent: Responder,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    agent.table = device_table({1: {}, 2: {}})
    del agent.table[oids.SYS_UPTIME]
    t, s = target(), v2c(agent.port, watch="all")
    with caplog.at_level(logging.WARNING, logger="netwatch.snmp"):
        out = await snmp.probe(t, s, 2.0)
        again = await snmp.probe(t, s, 2.0)
    assert out.ok and again.ok, out
    assert out.measurements["interfaces"] == 2
    assert "uptime_seconds" not in out.measurements
    assert "reboot detection" in out.detail
    assert not again.events
    assert sum("sysUpTime" in r.getMessage() for r in caplog.records) == 1
