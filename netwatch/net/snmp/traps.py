"""SNMP trap receiver: v1/v2c traps by community, v3 traps by USM user (pysnmp), mapped to targets."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Optional

from netwatch.fields import FieldError, Secret
from netwatch.net.snmp import ber
from netwatch.net.snmp import oids
from netwatch.net.snmp.oids import Oid

log = logging.getLogger("netwatch.net.snmp.traps")

MAX_VARBINDS = 32
VALUE_CAP = 256
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_IF_DESCR_OR_NAME = (oids.IF_NAME, oids.IF_DESCR)

TrapAuth = Literal["SHA-256", "SHA-384", "SHA-512", "SHA-224", "SHA", "MD5", "none"]
TrapPriv = Literal["AES", "AES-192", "AES-256", "DES", "3DES", "none"]


@dataclass(frozen=True)
class TrapUser:
    """A v3 user allowed to send traps; `engine_id` is the sender's snmpEngineID in hex (traps are
    sent by the authoritative engine, so the receiver must know it in advance)."""

    user: str
    engine_id: str
    auth_key: Optional[Secret] = None
    priv_key: Optional[Secret] = None
    auth_protocol: TrapAuth = "SHA-256"
    priv_protocol: TrapPriv = "AES"

    def __post_init__(self) -> None:
        if not self.user:
            raise FieldError("user", "must not be empty")
        hexid = self.engine_id.lower().removeprefix("0x")
        if not re.fullmatch(r"([0-9a-f]{2}){5,32}", hexid):
            raise FieldError("engine_id", "must be 5 to 32 bytes in hex, e.g. 0x80001f8880aabbccdd")
        if self.auth_protocol != "none" and (self.auth_key is None or len(self.auth_key.reveal()) < 8):
            raise FieldError("auth_key", "needs at least 8 characters (RFC 3414)")
        if self.priv_protocol != "none" and (self.priv_key is None or len(self.priv_key.reveal()) < 8):
            raise FieldError("priv_key", "needs at least 8 characters (RFC 3414)")
        if self.priv_protocol != "none" and self.auth_protocol == "none":
            raise FieldError("priv_protocol", "privacy needs authentication (auth_protocol is none)")

    @property
    def insecure(self) -> str | None:
        if self.auth_protocol in ("none", "MD5"):
            return f"{self.auth_protocol} authentication"
        if self.priv_protocol in ("none", "DES", "3DES"):
            return f"{self.priv_protocol} privacy"
        return None


@dataclass(frozen=True)
class TrapSettings:
    """The `traps:` config section."""

    listen: str = "127.0.0.1"
    port: int = 1162                 # above 1023 so netwatch runs unprivileged
    communities: tuple[Secret, ...] = ()
    users: tuple[TrapUser, ...] = ()
    allow_insecure: bool = False

    def __post_init__(self) -> None:
        try:
            ipaddress.ip_address(self.listen)
        except ValueError:
            raise FieldError("listen", f"must be an IP address, not {self.listen!r}") from None
        if not 0 < self.port < 65536:
            raise FieldError("port", "must be between 1 and 65535")
        for n, user in enumerate(self.users):
            if user.insecure and not self.allow_insecure:
                raise FieldError(f"users.{n}", f"{user.insecure} is refused; use SHA-256 and AES, "
                                               "or set allow_insecure: true")
        if len({u.user for u in self.users}) != len(self.users):
            raise FieldError("users", "user names must be unique")


@dataclass(frozen=True)
class TrapEvent:
    """One accepted trap. Text fields come from the device: capped and escaped, still untrusted."""

    target_id: str
    sender: str
    version: str                      # "1", "2c" or "3"
    trap: str                         # linkDown, linkUp, coldStart, warmStart, authenticationFailure or an OID
    trap_oid: str
    received_at: float                # Unix seconds
    uptime_seconds: Optional[float] = None
    if_index: Optional[int] = None
    if_name: str = ""                 # ifName / ifDescr when the trap carries it
    varbinds: tuple[tuple[str, str], ...] = ()


def _text(tag: int, value: ber.Value) -> str:
    if value is None:
        return {ber.NULL: "null", ber.NO_SUCH_OBJECT: "noSuchObject", ber.NO_SUCH_INSTANCE: "noSuchInstance",
                ber.END_OF_MIB_VIEW: "endOfMibView"}.get(tag, "")
    if isinstance(value, tuple):
        return oids.dotted(value)[:VALUE_CAP]
    if isinstance(value, bytes):
        if tag == ber.IP_ADDRESS:
            return ".".join(str(b) for b in value)
        try:
            text = value[:VALUE_CAP].decode("utf-8")
            if not _CONTROL.search(text):
                return text
        except UnicodeDecodeError:
            pass
        return "0x" + value[:VALUE_CAP // 2].hex()
    return str(value)[:VALUE_CAP]


def _event(target_id: str, sender: str, version: str, trap_oid: Oid, varbinds: list[ber.VarBind],
           uptime_ticks: Optional[int], now: float) -> TrapEvent:
    if_index = None
    if_name = ""
    for oid, tag, value in varbinds:
        if oid[:-1] == oids.IF_INDEX and isinstance(value, int):
            if_index = value
        elif oid[:-1] in _IF_DESCR_OR_NAME and isinstance(value, bytes) and not if_name:
            if_name = _CONTROL.sub(" ", _text(tag, value))[:64]
            if if_index is None:
                if_index = oid[-1]
    return TrapEvent(
        target_id=target_id, sender=sender, version=version, trap=oids.TRAP_NAMES.get(trap_oid, oids.dotted(trap_oid)),
        trap_oid=oids.dotted(trap_oid), received_at=now,
        uptime_seconds=uptime_ticks / 100 if uptime_ticks is not None else None, if_index=if_index, if_name=if_name,
        varbinds=tuple((oids.dotted(o)[:VALUE_CAP], _text(t, v)) for o, t, v in varbinds[:MAX_VARBINDS]))


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, receiver: "TrapReceiver") -> None:
        self.receiver = receiver

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.receiver.handle(data, addr)


class TrapReceiver:
    """Listens on one UDP socket; every accepted trap goes to `on_trap`; everything else is counted."""

    def __init__(self, settings: TrapSettings, senders: Mapping[str, str], on_trap: Callable[[TrapEvent], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.senders = dict(senders)            # sender IP -> target id
        self.on_trap = on_trap
        self.clock = clock
        self._communities = [c.reveal().encode() for c in settings.communities]
        self._transport: asyncio.DatagramTransport | None = None
        self._v3: Any = None
        self._v3_hit: list[TrapEvent] = []
        # counters, read by the metrics exporter
        self.received = 0
        self.accepted = 0
        self.unknown_sender = 0
        self.bad_community = 0
        self.v3_rejected = 0                   # unknown user, wrong key, wrong engine id, not a trap
        self.malformed = 0
        self.callback_errors = 0
        if settings.users:
            self._v3 = _V3Decoder(settings.users)
        for user in settings.users:
            if user.insecure:
                log.warning("trap user %s uses insecure settings (%s), allowed by allow_insecure",
                            user.user, user.insecure)

    async def start(self) -> "TrapReceiver":
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(self.settings.listen, self.settings.port))
        return self

    @property
    def port(self) -> int:
        assert self._transport is not None
        return self._transport.get_extra_info("sockname")[1]

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def handle(self, data: bytes, addr: Any) -> None:
        """Process one datagram; never raises."""
        self.received += 1
        sender = addr[0]
        target_id = self.senders.get(sender)
        if target_id is None:
            self.unknown_sender += 1
            return
        try:
            version = ber.message_version(data)
        except ber.BerError:
            self.malformed += 1
            return
        if version == ber.V3:
            event = self._handle_v3(data, addr, target_id)
        else:
            event = self._handle_v1v2c(data, sender, target_id)
        if event is None:
            return
        self.accepted += 1
        try:
            self.on_trap(event)
        except Exception:   # a consumer bug must not stop trap reception
            self.callback_errors += 1
            log.exception("trap callback failed")

    def _handle_v1v2c(self, data: bytes, sender: str, target_id: str) -> TrapEvent | None:
        try:
            msg = ber.decode_message(data)
        except ber.BerError:
            self.malformed += 1
            return None
        if not any(hmac.compare_digest(msg.community, c) for c in self._communities):
            self.bad_community += 1
            return None
        now = self.clock()
        if msg.pdu_tag == ber.TRAP_V1:
            # RFC 3584 3.1: generic traps 0-5 map to snmpTraps.N+1, enterprise-specific to enterprise.0.specific
            if 0 <= msg.generic_trap <= 5:
                trap_oid: Oid = (1, 3, 6, 1, 6, 3, 1, 1, 5, msg.generic_trap + 1)
            else:
                trap_oid = (msg.enterprise or (0, 0)) + (0, msg.specific_trap)
            return _event(target_id, sender, "1", trap_oid, msg.varbinds, msg.timestamp, now)
        if msg.pdu_tag not in (ber.TRAP_V2, ber.INFORM) or msg.version != ber.V2C:
            self.malformed += 1
            return None
        return _from_v2_varbinds(target_id, sender, "2c", msg.varbinds, now, self)

    def _handle_v3(self, data: bytes, addr: Any, target_id: str) -> TrapEvent | None:
        if self._v3 is None:
            self.v3_rejected += 1
            return None
        varbinds = self._v3.decode(data, addr)
        if varbinds is None:
            self.v3_rejected += 1
            return None
        return _from_v2_varbinds(target_id, addr[0], "3", varbinds, self.clock(), self)


def _from_v2_varbinds(target_id: str, sender: str, version: str, varbinds: list[ber.VarBind], now: float,
                      receiver: TrapReceiver) -> TrapEvent | None:
    # RFC 3416: the first two varbinds are sysUpTime.0 and snmpTrapOID.0
    if len(varbinds) < 2 or varbinds[0][0] != oids.SYS_UPTIME or varbinds[1][0] != oids.SNMP_TRAP_OID \
            or not isinstance(varbinds[1][2], tuple):
        receiver.malformed += 1
        return None
    ticks = varbinds[0][2] if isinstance(varbinds[0][2], int) else None
    return _event(target_id, sender, version, varbinds[1][2], varbinds[2:], ticks, now)


class _V3Decoder:
    """Feeds v3 datagrams to a private pysnmp engine (USM checks, decryption) and collects the varbinds."""

    def __init__(self, users: tuple[TrapUser, ...]) -> None:
        from pysnmp.carrier.asyncio.dgram import udp
        from pysnmp.entity import config, engine
        from pysnmp.entity.rfc3413 import ntfrcv
        from pysnmp.proto import rfc1902

        from netwatch.net.snmp.v3 import AUTH_PROTOCOLS, PRIV_PROTOCOLS

        self._udp = udp
        self.engine = engine.SnmpEngine()
        for u in users:
            config.add_v3_user(
                self.engine, u.user,
                AUTH_PROTOCOLS[u.auth_protocol], u.auth_key.reveal() if u.auth_key else None,
                PRIV_PROTOCOLS[u.priv_protocol], u.priv_key.reveal() if u.priv_key else None,
                securityEngineId=rfc1902.OctetString(hexValue=u.engine_id.lower().removeprefix("0x")))
        self._got: list[ber.VarBind] | None = None
        ntfrcv.NotificationReceiver(self.engine, self._on_notification)

    def _on_notification(self, snmp_engine: Any, state_reference: Any, context_engine_id: Any,
                         context_name: Any, var_binds: Any, cb_ctx: Any) -> None:
        from netwatch.net.snmp.v3 import _value
        out: list[ber.VarBind] = []
        for oid, value in var_binds:
            tag, val = _value(value)
            out.append((tuple(oid), tag, val))
        self._got = out

    def decode(self, data: bytes, addr: Any) -> list[ber.VarBind] | None:
        self._got = None
        address = self._udp.UdpTransportAddress(addr[:2])
        try:
            self.engine.message_dispatcher.receive_message(self.engine, self._udp.DOMAIN_NAME, address, data)
        except Exception:   # pysnmp signals bad messages with many exception types; all mean "drop"
            return None
        return self._got
