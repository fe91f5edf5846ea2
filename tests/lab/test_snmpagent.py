"""The lab SNMP agent against real clients: net-snmp's tools and netwatch's own snmp probe."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess

import pytest

from netwatch.lab import snmpagent
from netwatch.model import Target
from netwatch.probes import snmp as snmp_probe
from netwatch.net.snmp import ber
from netwatch.net.snmp import oids

needs_netsnmp = pytest.mark.skipif(shutil.which("snmpbulkwalk") is None, reason="needs Debian snmp (net-snmp tools)")


def test_recordings_parse_with_interfaces() -> None:
    counts = {}
    for name in ("cisco-c3560", "huawei-s5720", "cisco-controller", "aruba-7210"):
        table = snmpagent.parse_snmprec(snmpagent.recording(name))
        assert table[oids.SYS_DESCR][0] == ber.OCTET_STRING
        counts[name] = sum(1 for oid in table if oid[:-1] == oids.IF_OPER_STATUS)
    assert counts == {"cisco-c3560": 57, "huawei-s5720": 39, "cisco-controller": 9, "aruba-7210": 22}


def test_snmprec_types_and_skips() -> None:
    table = snmpagent.parse_snmprec("# comment\n1.3.6.1.2.1.1.1.0|4x|414243\n1.3.6.1.2.1.1.3.0|67:numeric|rate=100\n"
                                    "1.3.6.1.2.1.1.7.0|2|72\n1.3.6.1.2.1.4.20.1.1.127.0.0.5|64|127.0.0.5\nbad line\n")
    assert table == {oids.SYS_DESCR: (ber.OCTET_STRING, b"ABC"), (1, 3, 6, 1, 2, 1, 1, 7, 0): (ber.INTEGER, 72),
                     (1, 3, 6, 1, 2, 1, 4, 20, 1, 1, 127, 0, 0, 5): (ber.IP_ADDRESS, bytes([127, 0, 0, 5]))}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=20)


@needs_netsnmp
async def test_bulkwalk_with_net_snmp_and_moving_counters() -> None:
    agent = await snmpagent.device("cisco-c3560", "hall-sw", b"lab").start()
    try:
        target = f"127.0.0.1:{agent.port}"
        walk = await asyncio.to_thread(_run, "snmpbulkwalk", "-v2c", "-clab", "-On", target, "1.3.6.1.2.1.2.2.1.8")
        assert walk.returncode == 0, walk.stderr
        assert walk.stdout.count("\n") == 57
        name = await asyncio.to_thread(_run, "snmpget", "-v2c", "-clab", "-Ovq", target, "1.3.6.1.2.1.1.5.0")
        assert name.stdout.strip() == '"hall-sw"'
        oid = "1.3.6.1.2.1.31.1.1.1.6.10149"   # ifHCInOctets of Gi0/49, the uplink (oper up)
        first = int((await asyncio.to_thread(_run, "snmpget", "-v2c", "-clab", "-Ovq", target, oid)).stdout)
        await asyncio.sleep(0.3)
        second = int((await asyncio.to_thread(_run, "snmpget", "-v2c", "-clab", "-Ovq", target, oid)).stdout)
        assert second > first
        v1 = await asyncio.to_thread(_run, "snmpwalk", "-v1", "-clab", "-On", target, "1.3.6.1.2.1.1")
        assert v1.returncode == 0 and "1.3.6.1.2.1.1.5.0 = STRING: \"hall-sw\"" in v1.stdout, v1.stderr
        missing = await asyncio.to_thread(_run, "snmpget", "-v1", "-clab", target, "1.3.6.1.2.1.1.99.0")
        assert "noSuchName" in missing.stdout + missing.stderr
        wrong = await asyncio.to_thread(_run, "snmpget", "-v2c", "-cwrong", "-t", "0.3", "-r", "0", target,
                                        "1.3.6.1.2.1.1.5.0")
        assert wrong.returncode != 0 and "Timeout" in wrong.stderr
    finally:
        agent.close()


async def test_snmp_probe_sees_interface_down_reboot_and_silence() -> None:
    agent = await snmpagent.device("cisco-c3560", "press-sw", b"lab").start()
    settings = snmp_probe.Settings(community=_secret("lab"), port=agent.port, retries=0,
                                   watch=snmp_probe.Watch(names=("Gi0/49",)), export_interfaces="watched")
    target = Target("press-sw", "127.0.0.1")
    try:
        first = await snmp_probe.probe(target, settings, 2.0)
        assert first.ok, first
        assert first.children["if/Gi0/49"].ok
        assert first.measurements["interfaces"] == 57
        agent.set_oper(agent.index_of("Gi0/49"), False)
        down = await snmp_probe.probe(target, settings, 2.0)
        assert down.children["if/Gi0/49"].error == "if_down"
        agent.set_oper(agent.index_of("Gi0/49"), True)
        await asyncio.sleep(0.05)
        agent.reboot()
        await asyncio.sleep(0.05)
        rebooted = await snmp_probe.probe(target, settings, 2.0)
        assert rebooted.measurements["uptime_seconds"] < 5
        assert any(e.kind == "reboot" for e in rebooted.events), rebooted.events
        agent.silent = True
        silent = await snmp_probe.probe(target, settings, 0.5)
        assert not silent.ok and silent.error == "timeout"
    finally:
        agent.close()


async def test_link_traps_are_sent_on_faults() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    agent = await snmpagent.device("aruba-7210", "hotel-sw", b"lab", trap_to=receiver.getsockname()).start()
    try:
        index = agent.index_of("GE0/0/0")
        agent.set_oper(index, False)
        loop = asyncio.get_running_loop()
        data = await asyncio.wait_for(loop.sock_recv(receiver, 65535), 2)
        msg = ber.decode_message(data)
        assert msg.pdu_tag == ber.TRAP_V2 and msg.community == b"lab"
        values = {oid: value for oid, _, value in msg.varbinds}
        assert values[oids.SNMP_TRAP_OID] == oids.LINK_DOWN
        assert values[oids.IF_INDEX + (index,)] == index
        agent.reboot()
        msg = ber.decode_message(await asyncio.wait_for(loop.sock_recv(receiver, 65535), 2))
        assert dict((o, v) for o, _, v in msg.varbinds)[oids.SNMP_TRAP_OID] == oids.COLD_START
    finally:
        agent.close()
        receiver.close()


def _secret(value: str):  # type: ignore[no-untyped-def]
    from netwatch.fields import Secret

    return Secret(value)
