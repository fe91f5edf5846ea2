"""The snmp probe against real net-snmp snmpd (loopback and a namespace with real links) and pure judge tables."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator

import pytest

from netwatch.fields import FieldError, Secret
from netwatch.model import Outcome, Target
from netwatch.probes import snmp
from netwatch.net.snmp import client
from tests.peers import snmpd as peers
from tests.peers.snmpresponder import Responder, device_table
from tests.snmp.engines import ber_engine  # noqa: F401  (a fixture)

# every test once per column-walk engine (Python, and C when built)
pytestmark = pytest.mark.usefixtures("ber_engine")

needs_snmpd = pytest.mark.skipif(not peers.available(), reason="net-snmp snmpd/snmpget not installed")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root (CI runs as root)")


def v2c(**kw: Any) -> snmp.Settings:
    return snmp.Settings(community=Secret(kw.pop("community", peers.COMMUNITY)), **kw)


def v3(**kw: Any) -> snmp.Settings:
    usm = snmp.Usm(user=kw.pop("user", peers.V3_USER), auth_key=Secret(kw.pop("auth_key", peers.V3_AUTH)),
                   priv_key=Secret(kw.pop("priv_key", peers.V3_PRIV)))
    return snmp.Settings(version="3", v3=usm, **kw)


def series(outcome: Outcome, name: str) -> dict[str, float]:
    return {dict(s.labels)["if_name"]: s.value for s in outcome.series if s.name == name
            and dict(s.labels).get("direction", "in") == "in"}


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[peers.Snmpd]:
    if not peers.available():
        pytest.skip("net-snmp not installed")
    d = peers.Snmpd(tmp_path / "snmpd").start()
    yield d
    d.stop()


# ---------------------------------------------------------------- settings

def test_settings_refuse_insecure_v3_unless_allowed() -> None:
    weak = snmp.Usm(user="u", auth_key=Secret("12345678"), auth_protocol="MD5", priv_key=Secret("12345678"))
    with pytest.raises(FieldError, match="MD5 authentication is refused"):
        snmp.Settings(version="3", v3=weak)
    assert snmp.Settings(version="3", v3=weak, allow_insecure=True).insecure == "MD5 authentication"
    des = snmp.Usm(user="u", auth_key=Secret("12345678"), priv_protocol="DES", priv_key=Secret("12345678"))
    with pytest.raises(FieldError, match="DES privacy is refused"):
        snmp.Settings(version="3", v3=des)
    with pytest.raises(FieldError, match="noAuthNoPriv is refused"):
        snmp.Settings(version="3", v3=snmp.Usm(user="u", auth_protocol="none", priv_protocol="none"))


@pytest.mark.parametrize("kw,field", [
    ({"version": "2c"}, "community"),
    ({"version": "4", "community": Secret("x")}, "version"),
    ({"version": "3"}, "v3"),
    ({"community": Secret("x"), "port": 0}, "port"),
    ({"community": Secret("x"), "utilisation_warn_ratio": 1.5}, "utilisation_warn_ratio"),
])
def test_settings_blame_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as info:
        snmp.Settings(**kw)
    assert info.value.field == field


def test_watch_and_extra_validation() -> None:
    with pytest.raises(FieldError, match="regex"):
        snmp.Watch(regex="(")
    with pytest.raises(FieldError, match="numeric OID"):
        snmp.ExtraOid(oid="sysUpTime", name="x")
    w = snmp.Watch(names=("uplink",), regex=r"^Gi1/0/(1|2)$")
    assert w.matches("Gi1/0/1", "", "") and w.matches("x", "y", "uplink") and not w.matches("Gi1/0/10", "", "")


def test_community_never_in_repr() -> None:
    s = v2c()
    assert peers.COMMUNITY not in repr(s)
    assert peers.COMMUNITY not in repr(snmp._agent(Target("t", "127.0.0.1"), s, 1.0))


# ---------------------------------------------------------------- pure judge

def row(index: int = 1, **kw: Any) -> snmp.IfRow:
    base: dict[str, Any] = dict(index=index, name=f"port{index}", descr=f"port{index}", alias="", admin=1, oper=1,
                                hc=True, in_octets=0, out_octets=0, in_errors=0, out_errors=0, in_discards=0,
                                out_discards=0, speed_bps=1e9)
    base.update(kw)
    return snmp.IfRow(**base)


def snap(at: float, uptime: int, *rows: snmp.IfRow) -> snmp.Snapshot:
    return snmp.Snapshot(at=at, response_seconds=0.01, uptime_ticks=uptime, sys_name="sw", sys_descr="d",
                         interfaces=rows)


def judge_twice(first: snmp.Snapshot, second: snmp.Snapshot, settings: snmp.Settings | None = None) -> Outcome:
    settings = settings or v2c(watch="all")
    _, sample = snmp.judge(first, None, settings, "sw1")
    outcome, _ = snmp.judge(second, sample, settings, "sw1")
    return outcome


def test_rates_from_hc_counters() -> None:
    out = judge_twice(snap(0, 1000, row(in_octets=1000, out_octets=0, in_errors=5)),
                      snap(10, 2000, row(in_octets=1000 + 12_500_000, out_octets=125, in_errors=25)))
    assert series(out, "if_in_bits_per_second") == {"port1": pytest.approx(10_000_000)}
    assert series(out, "if_out_bits_per_second") == {"port1": pytest.approx(100)}
    assert series(out, "if_utilisation_ratio") == {"port1": pytest.approx(0.01)}
    assert series(out, "if_in_errors_per_second") == {"port1": pytest.approx(2)}
    assert out.children["if/port1"].degraded == "errors"


def test_counter32_wrap_gives_the_true_rate() -> None:
    before = 2**32 - 1000
    out = judge_twice(snap(0, 1000, row(hc=False, in_octets=before, speed_bps=1e8)),
                      snap(10, 2000, row(hc=False, in_octets=9000, speed_bps=1e8)))
    assert series(out, "if_in_bits_per_second") == {"port1": pytest.approx(10_000 * 8 / 10)}


@pytest.mark.parametrize("first,second", [
    # a 64-bit counter going backwards is a reset, not a wrap
    (row(in_octets=10**12), row(in_octets=5)),
    # a 32-bit "wrap" that would mean more than the link can carry is a reset
    (row(hc=False, in_octets=100, speed_bps=1e6), row(hc=False, in_octets=50)),
    # the interface behind this ifIndex changed
    (row(name="old", in_octets=0), row(in_octets=10)),
    # 32-bit counters replaced by 64-bit ones
    (row(hc=False, in_octets=0), row(in_octets=10)),
])
def test_discontinuities_skip_the_rate(first: snmp.IfRow, second: snmp.IfRow) -> None:
    out = judge_twice(snap(0, 1000, first), snap(10, 2000, second))
    assert "port1" not in series(out, "if_in_bits_per_second")
    assert all(s.value >= 0 for s in out.series)


def test_reboot_is_an_event_and_skips_rates() -> None:
    out = judge_twice(snap(0, 500_000, row(in_octets=10**9)), snap(10, 300, row(in_octets=10)))
    assert [e.kind for e in out.events] == ["reboot"]
    assert out.events[0].data["previous_uptime_seconds"] == 5000
    assert series(out, "if_in_bits_per_second") == {}


def test_uptime_wrap_after_497_days_is_not_a_reboot() -> None:
    out = judge_twice(snap(0, 2**32 - 500, row()), snap(10, 500, row(in_octets=80)))
    assert out.events == ()
    assert series(out, "if_in_bits_per_second") == {"port1": pytest.approx(64)}


def test_interface_states() -> None:
    out, _ = snmp.judge(snap(0, 1, row(1), row(2, oper=2), row(3, admin=2, oper=2), row(4, oper=7)), None,
                        v2c(watch=snmp.Watch(regex="port[1-3]")), "sw1")
    assert out.ok and set(out.children) == {"if/port1", "if/port2", "if/port3"}
    assert out.children["if/port1"].ok
    assert out.children["if/port2"].error == "if_down"
    assert out.children["if/port3"].ok and "administratively down" in out.children["if/port3"].detail
    assert out.measurements["interfaces"] == 4 and out.measurements["interfaces_down"] == 1
    # every interface is exported, watched or not
    assert series(out, "if_oper_status") == {"port1": 1, "port2": 2, "port3": 2, "port4": 7}


def test_utilisation_threshold_degrades_the_interface() -> None:
    out = judge_twice(snap(0, 1, row(speed_bps=1e6)), snap(1, 101, row(in_octets=120_000, speed_bps=1e6)))
    assert out.children["if/port1"].degraded == "utilisation"


def test_hostile_names_are_cleaned_and_duplicates_kept() -> None:
    assert snmp.clean_text(b"ab\x1b[31mc\ndef" + b"x" * 500, 64) == "ab [31mc def" + "x" * 52
    out, _ = snmp.judge(snap(0, 1, row(1, name="dup"), row(2, name="dup")), None, v2c(watch="all"), "sw")
    assert set(out.children) == {"if/dup", "if/dup@2"}


def test_reusing_last_polls_objects_changes_no_result() -> None:
    """judge hands back last poll's Series and child outcomes when equal: judging with and without that
    memory must give equal outcomes through renames, state changes, idle and busy counters, new rows."""
    polls = [
        [row(1), row(2, alias="uplink"), row(3, admin=2, oper=2)],
        [row(1), row(2, alias="uplink", in_octets=10**6), row(3, admin=2, oper=2)],
        [row(1, name="renamed"), row(2, alias="core", in_octets=2 * 10**6, in_errors=50), row(3, admin=1, oper=2)],
        [row(1, name="renamed"), row(2, alias="core", in_octets=2 * 10**6, in_errors=50), row(3), row(4)],
        [row(1, name="renamed", speed_bps=1e8), row(2, alias="core", in_octets=9 * 10**7), row(3), row(4, oper=7)],
        [row(1, name="renamed", speed_bps=1e8), row(2, alias="core", in_octets=9 * 10**7), row(4, name="renamed")],
        [row(1, name="renamed", speed_bps=1e8), row(2, alias="core", in_octets=9 * 10**7), row(4, name="renamed")],
        [row(1, name="renamed", descr="port2", speed_bps=1e8), row(2, alias="core", in_octets=9 * 10**7)],
        [row(1, name="renamed", speed_bps=1e8), row(2, alias="core", in_octets=9 * 10**7)],
    ]
    for settings in (v2c(watch="all"), v2c(watch=snmp.Watch(names=("port2",)), export_interfaces="watched")):
        remembered: snmp.Sample | None = None
        forgetful: snmp.Sample | None = None
        reused = 0
        for n, rows in enumerate(polls):
            now = snap(10.0 * n, 1000 * (n + 1), *rows)
            a, remembered = snmp.judge(now, remembered, settings, "sw1")
            if forgetful is not None:
                forgetful = dataclasses.replace(forgetful, memo=MappingProxyType({}))
            b, forgetful = snmp.judge(now, forgetful, settings, "sw1")
            assert a == b
            if n:
                before = {id(x) for x in previous.series}
                reused += sum(id(x) in before for x in a.series)
            previous = a
        assert reused > 0
        # new settings (a reloaded config) with the same answers: nothing judged under the old ones stands
        steady = [snap(100.0 + 10 * k, 100_000 + 1000 * k, row(2, in_octets=10**6 * (k + 1))) for k in range(3)]
        _, remembered = snmp.judge(steady[0], remembered, settings, "sw1")
        _, remembered = snmp.judge(steady[1], remembered, settings, "sw1")
        stricter = v2c(watch="all", utilisation_warn_ratio=0.0001)
        a, _ = snmp.judge(steady[2], remembered, stricter, "sw1")
        b, _ = snmp.judge(steady[2], dataclasses.replace(remembered, memo=MappingProxyType({})), stricter, "sw1")
        assert a == b and a.children["if/port2"].degraded == "utilisation"


# ---------------------------------------------------------------- real snmpd, loopback

@needs_snmpd
async def test_v2c_poll_matches_netsnmp(agent: peers.Snmpd) -> None:
    target = Target("sw1", agent.host)
    out = await snmp.probe(target, v2c(port=agent.port, watch="all"), 3.0)
    assert out.ok, out
    walk = peers.parse_netsnmp(peers.netsnmp("snmpbulkwalk", "-v2c", "-c", agent.community, agent.address,
                                             "1.3.6.1.2.1.2.2.1.8"))
    got = {dict(s.labels)["if_index"]: s.value for s in out.series if s.name == "if_oper_status"}
    assert got == {oid.rsplit(".", 1)[1]: float(v.split("(")[-1].rstrip(")")) for oid, v in walk.items()}
    names = peers.parse_netsnmp(peers.netsnmp("snmpget", "-v2c", "-c", agent.community, agent.address,
                                              "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.3.0"))
    info = [dict(s.labels) for s in out.series if s.name == "snmp_device_info"]
    assert info[0]["sys_name"] == names["1.3.6.1.2.1.1.5.0"].strip('"')
    ticks = int(names["1.3.6.1.2.1.1.3.0"].split("(")[1].split(")")[0])
    assert abs(out.measurements["uptime_seconds"] - ticks / 100) < 5
    assert out.measurements["interfaces"] == len(walk)
    assert set(out.children) == {f"if/{n}" for n in series(out, "if_oper_status")}
    # the second poll has rates, all sane
    out2 = await snmp.probe(target, v2c(port=agent.port, watch="all"), 3.0)
    assert series(out2, "if_in_bits_per_second") and all(v >= 0 for v in series(out2, "if_in_bits_per_second").values())


@needs_snmpd
async def test_host_resources_and_extra_oids(agent: peers.Snmpd) -> None:
    extra = (snmp.ExtraOid(oid="1.3.6.1.2.1.2.1.0", name="if_number", warn_above=1),
             snmp.ExtraOid(oid="1.3.6.1.4.1.99999.1.0", name="missing"))
    out = await snmp.probe(Target("sw1", agent.host),
                           v2c(port=agent.port, host_resources=True, extra=extra), 3.0)
    assert out.ok, out
    assert 0 < out.measurements["memory_used_ratio"] < 1
    values = {dict(s.labels)["name"]: s.value for s in out.series if s.name == "snmp_oid_value"}
    assert values == {"if_number": out.measurements["interfaces"]}   # ifNumber counts the ifTable rows
    assert out.degraded == "if_number"
    # a fresh snmpd fills hrProcessorTable only after a minute of samples: CPU maths is checked below


async def test_cpu_and_memory_from_host_resources() -> None:
    from netwatch.net.snmp import ber
    from netwatch.net.snmp import oids
    r = await Responder().start()
    try:
        r.table = device_table({1: {}})
        r.set(oids.HR_PROCESSOR_LOAD + (196608,), ber.INTEGER, 30)
        r.set(oids.HR_PROCESSOR_LOAD + (196609,), ber.INTEGER, 50)
        for idx, kind, units, size, used in ((1, oids.HR_STORAGE_RAM, 1024, 1000, 250),
                                             (31, (1, 3, 6, 1, 2, 1, 25, 2, 1, 4), 4096, 100, 99)):
            r.set(oids.HR_STORAGE_TYPE + (idx,), ber.OBJECT_ID, kind)
            r.set(oids.HR_STORAGE_ALLOCATION_UNITS + (idx,), ber.INTEGER, units)
            r.set(oids.HR_STORAGE_SIZE + (idx,), ber.INTEGER, size)
            r.set(oids.HR_STORAGE_USED + (idx,), ber.INTEGER, used)
        out = await snmp.probe(Target("hr", "127.0.0.1"), v2c(community="scripted", port=r.port,
                               host_resources=True, cpu_warn_ratio=0.35), 2.0)
        assert out.measurements["cpu_load_ratio"] == pytest.approx(0.4)
        assert out.measurements["memory_used_ratio"] == pytest.approx(0.25)
        assert out.degraded == "cpu"
    finally:
        r.close()


@needs_snmpd
async def test_wrong_community_is_a_timeout(agent: peers.Snmpd) -> None:
    t0 = time.monotonic()
    out = await snmp.probe(Target("sw1", agent.host), v2c(port=agent.port, community="wrong"), 1.0)
    assert (out.ok, out.error) == (False, "timeout")
    assert 0.9 < time.monotonic() - t0 < 2.0
    assert "wrong" not in out.detail


@needs_snmpd
async def test_v3_authpriv_and_wrong_key(agent: peers.Snmpd) -> None:
    target = Target("sw1", agent.host)
    out = await snmp.probe(target, v3(port=agent.port, watch="all"), 3.0)
    assert out.ok, out
    out2 = await snmp.probe(target, v2c(port=agent.port, watch="all"), 3.0)
    assert series(out, "if_oper_status") == series(out2, "if_oper_status")
    bad = await snmp.probe(target, v3(port=agent.port, auth_key="not-the-key"), 3.0)
    assert (bad.ok, bad.error) == (False, "snmp_auth")
    assert "not-the-key" not in bad.detail
    nouser = await snmp.probe(target, v3(port=agent.port, user="stranger"), 3.0)
    assert nouser.error == "snmp_auth"


@needs_snmpd
async def test_agent_restart_is_a_reboot_event(agent: peers.Snmpd) -> None:
    target = Target("sw1", agent.host)
    settings = v2c(port=agent.port)
    deadline = time.monotonic() + 10
    while True:   # wait until the agent's uptime is clearly above what a fresh start shows
        first = await snmp.probe(target, settings, 3.0)
        if first.measurements["uptime_seconds"] >= 1.5 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert first.events == ()
    agent.restart()
    after = await snmp.probe(target, settings, 3.0)
    assert [e.kind for e in after.events] == ["reboot"]
    assert series(after, "if_in_bits_per_second") == {}


# ---------------------------------------------------------------- real links in a namespace

@pytest.fixture
def ns_agent(tmp_path: Path) -> Iterator[tuple[peers.Namespace, peers.Snmpd]]:
    if os.geteuid() != 0 or not peers.available():
        pytest.skip("needs root and net-snmp")
    ns = peers.make_namespace("snmp", interfaces=1, cabled=1)
    try:
        d = peers.Snmpd(tmp_path / "snmpd", host=ns.peer_address, netns=ns).start()
        yield ns, d
        d.stop()
    finally:
        ns.delete()


@needs_root
async def test_link_down_and_up_in_a_namespace(ns_agent: tuple[peers.Namespace, peers.Snmpd]) -> None:
    ns, agent = ns_agent
    target = Target("sw1", agent.host)
    settings = v2c(port=agent.port, watch=snmp.Watch(names=("port1", "port2")))

    async def until(pred: Any) -> Outcome:
        deadline = time.monotonic() + 30   # snmpd caches the ifTable for a few seconds
        while True:
            out = await snmp.probe(target, settings, 2.0)
            if pred(out) or time.monotonic() > deadline:
                return out
            await asyncio.sleep(0.3)

    up = await until(lambda o: o.ok and all(c.ok for c in o.children.values()))
    assert set(up.children) == {"if/port1", "if/port2"} and up.children["if/port2"].ok, up
    ns.set_carrier("port2", up=False)          # cable pulled: admin up, oper down
    down = await until(lambda o: o.children["if/port2"].error == "if_down")
    assert down.ok and down.children["if/port2"].error == "if_down", down
    assert down.measurements["interfaces_down"] == 1
    ns.set_carrier("port2", up=True)
    back = await until(lambda o: o.children["if/port2"].ok)
    assert back.children["if/port2"].ok and back.children["if/port2"].error is None
    ns.set_link("port1", up=False)             # shut by the operator: not a failure
    shut = await until(lambda o: "administratively down" in o.children["if/port1"].detail)
    assert shut.children["if/port1"].ok and "administratively down" in shut.children["if/port1"].detail


# ---------------------------------------------------------------- scripted responder

async def test_counter_wrap_through_the_wire() -> None:
    r = await Responder().start()
    try:
        r.table = device_table({1: {"name": b"wan", "in": 2**32 - 100, "hc": False, "speed_mbps": 100}})
        s = v2c(community="scripted", port=r.port, watch="all")
        target = Target("wrap", "127.0.0.1")
        first = await snmp.probe(target, s, 2.0)
        assert first.ok, first
        r.table = device_table({1: {"name": b"wan", "in": 2**32 + 900, "hc": False, "speed_mbps": 100}},
                               uptime_ticks=100_500)
        at_first = client.engine().state[("wrap", "127.0.0.1", r.port)].at
        second = await snmp.probe(target, s, 2.0)
        at_second = client.engine().state[("wrap", "127.0.0.1", r.port)].at
        rate = [x.value for x in second.series if x.name == "if_in_bits_per_second"]
        assert rate == [pytest.approx(1000 * 8 / (at_second - at_first))]
        assert second.events == ()
    finally:
        r.close()


async def test_names_cache_and_walk_sizing_follow_the_table() -> None:
    """Names come from the cache between refreshes, but a new ifIndex is named at once; a renamed port
    shows its new name by the refresh; the rows hint never loses a row the table grew."""
    r = await Responder().start()
    try:
        r.table = device_table({i: {"name": b"p%d" % i, "alias": b"a%d" % i} for i in range(1, 12)})
        s = v2c(community="scripted", port=r.port, watch="all")
        target = Target("cache", "127.0.0.1")
        first = await snmp.probe(target, s, 2.0)
        assert set(first.children) == {f"if/p{i}" for i in range(1, 12)}
        r.table = device_table({i: {"name": b"p%d" % i, "alias": b"a%d" % i} for i in range(1, 40)}
                               | {12: {"name": b"new-port", "alias": b"fresh"}})
        second = await snmp.probe(target, s, 2.0)
        assert "if/new-port" in second.children and len(second.children) == 39
        assert "(fresh)" in second.children["if/new-port"].detail
        r.table = device_table({1: {"name": b"renamed"}, 2: {"name": b"p2"}})
        outs = [await snmp.probe(target, s, 2.0) for _ in range(snmp.NAME_REFRESH_POLLS)]
        assert set(outs[-1].children) == {"if/renamed", "if/p2"}
    finally:
        r.close()


@pytest.mark.parametrize("mode,error", [("garbage", "protocol"), ("truncated", "protocol"),
                                        ("error_status", "protocol"), ("loop", "protocol"),
                                        ("wrong_id", "timeout"), ("silent", "timeout")])
async def test_misbehaving_agent_fails_only_its_check(mode: str, error: str) -> None:
    bad, good = await Responder(mode=mode).start(), await Responder().start()
    try:
        bad.table = good.table = device_table({1: {"name": b"p1"}})
        outs = await asyncio.gather(
            snmp.probe(Target("bad", "127.0.0.1"), v2c(community="scripted", port=bad.port), 1.0),
            snmp.probe(Target("good", "127.0.0.1"), v2c(community="scripted", port=good.port), 1.0))
        assert (outs[0].ok, outs[0].error) == (False, error), outs[0]
        assert outs[1].ok
    finally:
        bad.close()
        good.close()


async def test_a_lost_request_is_retried_within_the_timeout() -> None:
    r = await Responder(mode="silent").start()
    try:
        r.table = device_table({1: {}})
        seen: list[object] = []

        def first_one_lost(req: object) -> None:
            seen.append(req)
            r.mode = "silent" if len(seen) == 1 else "ok"

        r.on_request = first_one_lost
        agent = client.Agent("127.0.0.1", r.port, b"scripted", timeout_seconds=1.0, retries=1)
        got = await client.engine().get(agent, [(1, 3, 6, 1, 2, 1, 1, 3, 0)])
        assert got[(1, 3, 6, 1, 2, 1, 1, 3, 0)][1] == 100_000 and len(seen) == 2
        with pytest.raises(client.SnmpError) as info:     # no retry left: the lost request is a timeout
            r.mode, seen[:] = "silent", []
            await client.engine().get(client.Agent("127.0.0.1", r.port, b"scripted", timeout_seconds=0.3,
                                                   retries=0), [(1, 3, 6, 1, 2, 1, 1, 3, 0)])
        assert info.value.error == "timeout" and len(seen) == 1
    finally:
        r.close()


async def test_answers_from_another_address_are_ignored() -> None:
    r = await Responder().start()
    try:
        r.table = device_table({1: {}})
        eng = client.engine()
        before = eng.unmatched
        # ask 127.0.0.2 (nobody listens): a forged answer from 127.0.0.1 with a guessed id must not count
        agent = client.Agent("127.0.0.2", r.port, b"scripted", timeout_seconds=0.5, retries=0)
        task = asyncio.create_task(eng.get(agent, [(1, 3, 6, 1, 2, 1, 1, 3, 0)]))
        await asyncio.sleep(0.05)
        rid = next(iter(eng._pending))
        from netwatch.net.snmp import ber
        forged = ber.encode_message(ber.Message(ber.V2C, b"scripted", ber.RESPONSE, rid,
                                                varbinds=[((1, 3, 6, 1, 2, 1, 1, 3, 0), ber.TIMETICKS, 1)]))
        r.transport.sendto(forged, ("127.0.0.1", eng._transports[2].get_extra_info("sockname")[1]))
        with pytest.raises(client.SnmpError) as info:
            await task
        assert info.value.error == "timeout" and eng.unmatched == before + 1
    finally:
        r.close()


async def test_many_agents_in_flight_lose_nothing() -> None:
    responders = [await Responder().start() for _ in range(20)]
    try:
        for r in responders:
            r.table = device_table({i: {"name": b"p%d" % i} for i in range(1, 5)})
        s = [v2c(community="scripted", port=r.port, retries=0) for r in responders]
        outs = await asyncio.gather(*(snmp.probe(Target(f"d{i % 20}-{i}", "127.0.0.1"), s[i % 20], 5.0)
                                      for i in range(200)))
        assert all(o.ok for o in outs), [o for o in outs if not o.ok][:1]
        assert client.engine().receive_buffer_bytes >= client.RECEIVE_BUFFER_BYTES
    finally:
        for r in responders:
            r.close()
