"""The trap receiver against net-snmp's snmptrap (v1, v2c, v3) on loopback, plus hostile datagrams."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from typing import AsyncIterator

import pytest

from netwatch.fields import FieldError, Secret
from netwatch.net.snmp import ber
from netwatch.net.snmp import oids
from netwatch.net.snmp import traps
from tests.peers import snmpd as peers

pytestmark = pytest.mark.skipif(not peers.available(), reason="net-snmp tools not installed")

COMMUNITY = "trap-community"
ENGINE_ID = "0x8000000001020304"


class Inbox:
    def __init__(self) -> None:
        self.events: list[traps.TrapEvent] = []
        self.arrived = asyncio.Event()

    def __call__(self, event: traps.TrapEvent) -> None:
        self.events.append(event)
        self.arrived.set()

    async def next(self, timeout: float = 5.0) -> traps.TrapEvent:
        await asyncio.wait_for(self.arrived.wait(), timeout)
        self.arrived.clear()
        return self.events[-1]


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[traps.TrapReceiver, Inbox]]:
    settings = traps.TrapSettings(
        port=peers.free_udp_port(), communities=(Secret(COMMUNITY),),
        users=(traps.TrapUser(user="trapper", engine_id=ENGINE_ID, auth_key=Secret(peers.V3_AUTH),
                              priv_key=Secret(peers.V3_PRIV)),))
    inbox = Inbox()
    r = await traps.TrapReceiver(settings, {"127.0.0.1": "sw1"}, inbox).start()
    yield r, inbox
    r.close()


async def snmptrap(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec("snmptrap", *args, stdout=subprocess.DEVNULL,
                                                stderr=subprocess.PIPE, env=peers._ENV)
    _, err = await proc.communicate()
    assert proc.returncode == 0, err


async def test_v2c_link_down_with_interface(receiver: tuple[traps.TrapReceiver, Inbox]) -> None:
    r, inbox = receiver
    await snmptrap("-v2c", "-c", COMMUNITY, f"127.0.0.1:{r.port}", "12345", "1.3.6.1.6.3.1.1.5.3",
                   "1.3.6.1.2.1.2.2.1.1.7", "i", "7", "1.3.6.1.2.1.2.2.1.7.7", "i", "1",
                   "1.3.6.1.2.1.31.1.1.1.1.7", "s", "Gi1/0/7\x1b[2J")
    ev = await inbox.next()
    assert (ev.target_id, ev.version, ev.trap, ev.if_index) == ("sw1", "2c", "linkDown", 7)
    assert ev.if_name == "0x" + b"Gi1/0/7\x1b[2J".hex()    # control characters never pass through raw
    assert ev.uptime_seconds == pytest.approx(123.45)
    assert r.accepted == 1


@pytest.mark.parametrize("trap_oid,name", [("1.3.6.1.6.3.1.1.5.4", "linkUp"), ("1.3.6.1.6.3.1.1.5.1", "coldStart"),
                                           ("1.3.6.1.6.3.1.1.5.2", "warmStart"),
                                           ("1.3.6.1.6.3.1.1.5.5", "authenticationFailure"),
                                           ("1.3.6.1.4.1.9.9.43.2.0.1", "1.3.6.1.4.1.9.9.43.2.0.1")])
async def test_v2c_trap_names(receiver: tuple[traps.TrapReceiver, Inbox], trap_oid: str, name: str) -> None:
    r, inbox = receiver
    await snmptrap("-v2c", "-c", COMMUNITY, f"127.0.0.1:{r.port}", "", trap_oid, "1.3.6.1.2.1.1.5.0", "s", "x" * 900)
    ev = await inbox.next()
    assert ev.trap == name
    assert ev.varbinds == (("1.3.6.1.2.1.1.5.0", "x" * traps.VALUE_CAP),)


async def test_v1_trap_is_mapped_to_v2_names(receiver: tuple[traps.TrapReceiver, Inbox]) -> None:
    r, inbox = receiver
    await snmptrap("-v1", "-c", COMMUNITY, f"127.0.0.1:{r.port}", "1.3.6.1.4.1.8072", "127.0.0.1", "2", "0", "",
                   "1.3.6.1.2.1.2.2.1.1.3", "i", "3")
    ev = await inbox.next()
    assert (ev.version, ev.trap, ev.if_index) == ("1", "linkDown", 3)


async def test_v3_authpriv_trap(receiver: tuple[traps.TrapReceiver, Inbox]) -> None:
    r, inbox = receiver
    await snmptrap("-v3", "-e", ENGINE_ID, "-u", "trapper", "-l", "authPriv", "-a", "SHA-256", "-A", peers.V3_AUTH,
                   "-x", "AES", "-X", peers.V3_PRIV, f"127.0.0.1:{r.port}", "", "1.3.6.1.6.3.1.1.5.4",
                   "1.3.6.1.2.1.2.2.1.1.2", "i", "2")
    ev = await inbox.next()
    assert (ev.version, ev.trap, ev.if_index) == ("3", "linkUp", 2)


async def test_wrong_credentials_are_counted_and_dropped(receiver: tuple[traps.TrapReceiver, Inbox]) -> None:
    r, inbox = receiver
    await snmptrap("-v2c", "-c", "wrong", f"127.0.0.1:{r.port}", "", "1.3.6.1.6.3.1.1.5.3")
    await snmptrap("-v3", "-e", ENGINE_ID, "-u", "trapper", "-l", "authPriv", "-a", "SHA-256", "-A", "wrong-auth-key",
                   "-x", "AES", "-X", peers.V3_PRIV, f"127.0.0.1:{r.port}", "", "1.3.6.1.6.3.1.1.5.4")
    await snmptrap("-v3", "-e", ENGINE_ID, "-u", "stranger", "-l", "authPriv", "-a", "SHA-256", "-A", peers.V3_AUTH,
                   "-x", "AES", "-X", peers.V3_PRIV, f"127.0.0.1:{r.port}", "", "1.3.6.1.6.3.1.1.5.4")
    # a good trap afterwards proves the receiver is alive and that the bad ones came first
    await snmptrap("-v2c", "-c", COMMUNITY, f"127.0.0.1:{r.port}", "", "1.3.6.1.6.3.1.1.5.1")
    ev = await inbox.next()
    assert ev.trap == "coldStart" and len(inbox.events) == 1
    assert (r.bad_community, r.v3_rejected, r.accepted) == (1, 2, 1)


async def test_unknown_sender_and_garbage_never_crash() -> None:
    inbox = Inbox()
    settings = traps.TrapSettings(port=peers.free_udp_port(), communities=(Secret(COMMUNITY),))
    r = await traps.TrapReceiver(settings, {"127.0.0.1": "sw1"}, inbox).start()
    try:
        await snmptrap("--clientaddr=127.0.0.2", "-v2c", "-c", COMMUNITY, f"127.0.0.1:{r.port}", "",
                       "1.3.6.1.6.3.1.1.5.3")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for junk in (b"", b"\x30", b"\x30\x03\x02\x01\x01", b"\xff" * 100,
                         ber.encode_message(ber.Message(ber.V2C, COMMUNITY.encode(), ber.TRAP_V2, 1,
                                                        varbinds=[(oids.SYS_NAME, ber.OCTET_STRING, b"x")])),
                         ber.encode_request(3, b"", ber.GET, 1, [oids.SYS_NAME])):
                s.sendto(junk, ("127.0.0.1", r.port))
        inbox_cb_fail = traps.TrapReceiver(settings, {"127.0.0.1": "sw1"}, lambda e: 1 / 0)
        good = ber.encode_message(ber.Message(ber.V2C, COMMUNITY.encode(), ber.TRAP_V2, 1, varbinds=[
            (oids.SYS_UPTIME, ber.TIMETICKS, 5), (oids.SNMP_TRAP_OID, ber.OBJECT_ID, oids.COLD_START)]))
        inbox_cb_fail.handle(good, ("127.0.0.1", 1))
        assert inbox_cb_fail.callback_errors == 1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(good, ("127.0.0.1", r.port))
        ev = await inbox.next()
        assert ev.trap == "coldStart" and len(inbox.events) == 1
        assert r.unknown_sender == 1 and r.malformed + r.v3_rejected == 6
    finally:
        r.close()


def test_settings_validation() -> None:
    with pytest.raises(FieldError, match="MD5 authentication is refused"):
        traps.TrapSettings(users=(traps.TrapUser(user="u", engine_id=ENGINE_ID, auth_protocol="MD5",
                                                 auth_key=Secret("12345678"), priv_key=Secret("12345678")),))
    with pytest.raises(FieldError, match="engine_id"):
        traps.TrapUser(user="u", engine_id="xyz", auth_key=Secret("12345678"), priv_key=Secret("12345678"))
    with pytest.raises(FieldError, match="listen"):
        traps.TrapSettings(listen="localhost")
    assert traps.TrapSettings().port == 1162 and traps.TrapSettings().listen == "127.0.0.1"
