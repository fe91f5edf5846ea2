"""A lab SNMP v1/v2c agent over a recorded device walk, with moving counters, uptime, faults and traps."""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable

from netwatch.net.snmp import ber

from netwatch.net.snmp import oids
from netwatch.net.snmp.oids import Oid

Table = dict[Oid, tuple[int, ber.Value]]

_TAGS = {"2": ber.INTEGER, "4": ber.OCTET_STRING, "5": ber.NULL, "6": ber.OBJECT_ID, "64": ber.IP_ADDRESS,
         "65": ber.COUNTER32, "66": ber.GAUGE32, "67": ber.TIMETICKS, "68": ber.OPAQUE, "70": ber.COUNTER64}
_OCTET_COLUMNS = {
    oids.IF_IN_OCTETS: ("in", 32), oids.IF_OUT_OCTETS: ("out", 32),
    oids.IF_HC_IN_OCTETS: ("in", 64), oids.IF_HC_OUT_OCTETS: ("out", 64),
}
MAX_REPETITIONS = 64
MAX_RESPONSE_VARBINDS = 512


def recording(name: str) -> str:
    """The text of one of the trimmed recordings shipped in netwatch/lab/recordings."""
    return resources.files("netwatch.lab").joinpath("recordings", f"{name}.snmprec").read_text("latin-1")


def parse_snmprec(text: str) -> Table:
    """`OID|TYPE|VALUE` lines (snmpsim's format; `4x` = hex) -> table; variation modules are skipped."""
    table: Table = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or line.count("|") < 2:
            continue
        oid_text, tag_text, value_text = line.split("|", 2)
        hexed = tag_text.endswith("x")
        tag = _TAGS.get(tag_text[:-1] if hexed else tag_text)
        if tag is None:
            continue   # e.g. `67:numeric` (a snmpsim variation module): the agent computes those itself
        try:
            oid = oids.parse(oid_text)
            value: ber.Value
            if tag in (ber.OCTET_STRING, ber.OPAQUE):
                value = bytes.fromhex(value_text) if hexed else value_text.encode("latin-1")
            elif tag == ber.IP_ADDRESS:
                value = bytes.fromhex(value_text) if hexed else bytes(int(p) for p in value_text.split("."))
            elif tag == ber.OBJECT_ID:
                value = oids.parse(value_text)
            elif tag == ber.NULL:
                value = None
            else:
                value = int(value_text)
        except ValueError:
            continue
        table[oid] = (tag, value)
    return table


@dataclass
class Port:
    """Run-time state of one interface: what the lab scripts (oper status) and its traffic rate."""

    index: int
    oper: int
    in_bps: float
    out_bps: float
    in_base: int = 0
    out_base: int = 0
    since: float = 0.0


@dataclass
class Agent:
    """Serves `table` on a UDP port of 127.0.0.1; `silent` (unreachable), `reboot()`, `set_oper()`."""

    table: Table
    community: bytes = b"public"
    name: str = "agent"
    clock: Callable[[], float] = time.monotonic
    trap_to: tuple[str, int] | None = None
    silent: bool = False
    requests: int = 0
    ports: dict[int, Port] = field(default_factory=dict)
    transport: Any = None

    def __post_init__(self) -> None:
        ticks = self.table.get(oids.SYS_UPTIME, (ber.TIMETICKS, 0))[1]
        self._uptime_base_ticks = int(ticks) if isinstance(ticks, int) else 0
        self._boot_at = self.clock()
        self.table.setdefault(oids.SYS_UPTIME, (ber.TIMETICKS, 0))
        self.keys = sorted(self.table)
        for oid, (_, value) in self.table.items():
            if oid[:-1] == oids.IF_OPER_STATUS and isinstance(value, int):
                self.ports[oid[-1]] = self._port(oid[-1], value)

    def _port(self, index: int, oper: int) -> Port:
        speed = self.table.get(oids.IF_HIGH_SPEED + (index,), (0, 0))[1]
        speed_bps = float(speed) * 1e6 if isinstance(speed, int) and speed else 100e6
        seed = hashlib.sha256(f"{self.name}/{index}".encode()).digest()
        # a steady load between 2 % and 40 % of the line rate, different per port
        in_ratio, out_ratio = 0.02 + seed[0] / 255 * 0.38, 0.02 + seed[1] / 255 * 0.38
        base_in = self.table.get(oids.IF_HC_IN_OCTETS + (index,), self.table.get(oids.IF_IN_OCTETS + (index,),
                                                                                  (0, 0)))[1]
        base_out = self.table.get(oids.IF_HC_OUT_OCTETS + (index,), self.table.get(oids.IF_OUT_OCTETS + (index,),
                                                                                    (0, 0)))[1]
        return Port(index, oper, speed_bps * in_ratio, speed_bps * out_ratio,
                    int(base_in) if isinstance(base_in, int) else 0,
                    int(base_out) if isinstance(base_out, int) else 0, self.clock())

    @property
    def port(self) -> int:
        return int(self.transport.get_extra_info("sockname")[1])

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "Agent":
        loop = asyncio.get_running_loop()
        agent = self

        class Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                agent.answer(data, addr)

        self.transport, _ = await loop.create_datagram_endpoint(Proto, local_addr=(host, port))
        return self

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    # ------------------------------------------------------------ scripted behaviour

    def uptime_ticks(self) -> int:
        return (self._uptime_base_ticks + int((self.clock() - self._boot_at) * 100)) % 2**32

    def reboot(self) -> None:
        """sysUpTime starts again from zero and a coldStart trap goes out (as a real agent does)."""
        self._uptime_base_ticks = 0
        self._boot_at = self.clock()
        self.send_trap(oids.COLD_START, [])

    def set_oper(self, index: int, up: bool) -> None:
        port = self.ports.get(index)
        if port is None:
            raise KeyError(f"{self.name} has no interface {index}")
        new = 1 if up else 2
        if port.oper == new:
            return
        now = self.clock()
        port.in_base, port.out_base = self._octets(port, "in", now), self._octets(port, "out", now)
        port.oper, port.since = new, now
        self.send_trap(oids.LINK_UP if up else oids.LINK_DOWN,
                       [(oids.IF_INDEX + (index,), ber.INTEGER, index),
                        (oids.IF_ADMIN_STATUS + (index,), ber.INTEGER, 1),
                        (oids.IF_OPER_STATUS + (index,), ber.INTEGER, new)])

    def index_of(self, name: str) -> int:
        """An interface's ifIndex from its ifName or ifDescr."""
        for column in (oids.IF_NAME, oids.IF_DESCR):
            for oid, (_, value) in self.table.items():
                if oid[:-1] == column and value == name.encode("latin-1"):
                    return oid[-1]
        raise KeyError(f"{self.name} has no interface named {name!r}")

    def set_text(self, oid: Oid, text: str) -> None:
        self.table[oid] = (ber.OCTET_STRING, text.encode("utf-8"))
        if oid not in self.keys:
            bisect.insort(self.keys, oid)

    def send_trap(self, trap_oid: Oid, varbinds: list[ber.VarBind]) -> None:
        if self.trap_to is None or self.transport is None or self.silent:
            return   # a device cut off from the network cannot send its traps either
        msg = ber.Message(ber.V2C, self.community, ber.TRAP_V2, int(self.clock() * 1000) % 2**31, varbinds=[
            (oids.SYS_UPTIME, ber.TIMETICKS, self.uptime_ticks()), (oids.SNMP_TRAP_OID, ber.OBJECT_ID, trap_oid),
            *varbinds])
        self.transport.sendto(ber.encode_message(msg), self.trap_to)

    # ------------------------------------------------------------ protocol

    def _octets(self, port: Port, direction: str, now: float) -> int:
        base = port.in_base if direction == "in" else port.out_base
        if port.oper != 1:
            return base
        rate = port.in_bps if direction == "in" else port.out_bps
        return base + int((now - port.since) * rate / 8)

    def value(self, oid: Oid) -> tuple[int, ber.Value]:
        if oid == oids.SYS_UPTIME:
            return ber.TIMETICKS, self.uptime_ticks()
        column = oid[:-1]
        if column == oids.IF_OPER_STATUS and oid[-1] in self.ports:
            return ber.INTEGER, self.ports[oid[-1]].oper
        if column in _OCTET_COLUMNS and oid[-1] in self.ports:
            direction, bits = _OCTET_COLUMNS[column]
            count = self._octets(self.ports[oid[-1]], direction, self.clock()) % 2**bits
            return (ber.COUNTER64 if bits == 64 else ber.COUNTER32), count
        return self.table[oid]

    def answer(self, data: bytes, addr: Any) -> None:
        self.requests += 1
        if self.silent or self.transport is None:
            return
        try:
            req = ber.decode_message(data)
        except ber.BerError:
            return
        if req.community != self.community or req.pdu_tag not in (ber.GET, ber.GET_NEXT, ber.GET_BULK):
            return
        vbs: list[ber.VarBind] = []
        if req.pdu_tag == ber.GET:
            for oid, _, _ in req.varbinds:
                tag, value = self.value(oid) if oid in self.table else (ber.NO_SUCH_INSTANCE, None)
                vbs.append((oid, tag, value))
        else:
            non_repeaters = max(0, req.error_status) if req.pdu_tag == ber.GET_BULK else len(req.varbinds)
            reps = min(MAX_REPETITIONS, max(0, req.error_index)) if req.pdu_tag == ber.GET_BULK else 0
            for oid, _, _ in req.varbinds[:non_repeaters]:
                vbs.append(self._next(oid))
            cursors = [oid for oid, _, _ in req.varbinds[non_repeaters:]]
            for _ in range(reps):
                if not cursors or len(vbs) + len(cursors) > MAX_RESPONSE_VARBINDS:
                    break
                row = [self._next(cur) for cur in cursors]
                vbs.extend(row)
                cursors = [vb[0] for vb in row]
                if all(vb[1] == ber.END_OF_MIB_VIEW for vb in row):
                    break
        msg = ber.Message(req.version, req.community, ber.RESPONSE, req.request_id, varbinds=vbs)
        if req.version == ber.V1:
            # SNMPv1 has no exception values: the first missing one is a noSuchName error (RFC 1157)
            missing = next((i for i, vb in enumerate(vbs) if vb[1] in ber.EXCEPTIONS), None)
            if req.pdu_tag == ber.GET_BULK:
                return
            if missing is not None:
                msg = ber.Message(req.version, req.community, ber.RESPONSE, req.request_id, error_status=2,
                                  error_index=missing + 1, varbinds=req.varbinds)
        out = ber.encode_message(msg)
        if len(out) > 65000:
            msg = ber.Message(req.version, req.community, ber.RESPONSE, req.request_id, error_status=1,
                              varbinds=req.varbinds)   # tooBig
            out = ber.encode_message(msg)
        self.transport.sendto(out, addr)

    def _next(self, oid: Oid) -> ber.VarBind:
        pos = bisect.bisect_right(self.keys, oid)
        if pos >= len(self.keys):
            return (oid, ber.END_OF_MIB_VIEW, None)
        nxt = self.keys[pos]
        return (nxt, *self.value(nxt))


def device(recording_name: str, name: str, community: bytes = b"public", sys_name: str | None = None,
           **kwargs: Any) -> Agent:
    """An agent for one recorded device model, renamed (sysName) for its place in the venue."""
    table = parse_snmprec(recording(recording_name))
    table[oids.SYS_NAME] = (ber.OCTET_STRING, (sys_name or name).encode("utf-8"))
    return Agent(table, community, name, **kwargs)
