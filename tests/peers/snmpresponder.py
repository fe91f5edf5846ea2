"""A small scripted SNMP v1/v2c agent on loopback: a mutable OID table and switchable misbehaviour."""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass, field
from typing import Any, Callable

from netwatch.net.snmp import ber

from netwatch.net.snmp import oids
from netwatch.net.snmp.oids import Oid


@dataclass
class Responder:
    """Answers GET/GETNEXT/GETBULK from `table`; `mode` scripts faults: ok, silent, garbage, truncated
    (cut in half), cut_head (cut inside the header, before the request id), overlong (a message length
    beyond the datagram), wrong_id, error_status, loop (GETBULK that never advances)."""

    community: bytes = b"scripted"
    table: dict[Oid, tuple[int, ber.Value]] = field(default_factory=dict)
    mode: str = "ok"
    requests: int = 0
    transport: Any = None
    on_request: Callable[[ber.Message], None] | None = None
    # sorted keys, re-sorted when the table is replaced or grows/shrinks: a 3,000-interface table has
    # ~50,000 OIDs and a walk of it ~500 requests
    _keys: list[Oid] = field(default_factory=list, repr=False)
    _keys_of: tuple[int, int] = (0, -1)

    @property
    def port(self) -> int:
        return self.transport.get_extra_info("sockname")[1]

    async def start(self, host: str = "127.0.0.1") -> "Responder":
        loop = asyncio.get_running_loop()
        responder = self

        class Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                responder.answer(data, addr)

        self.transport, _ = await loop.create_datagram_endpoint(Proto, local_addr=(host, 0))
        return self

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def set(self, oid: Oid, tag: int, value: ber.Value) -> None:
        self.table[oid] = (tag, value)

    def answer(self, data: bytes, addr: Any) -> None:
        self.requests += 1
        try:
            req = ber.decode_message(data)
        except ber.BerError:
            return
        if self.on_request is not None:
            self.on_request(req)
        if req.community != self.community or self.mode == "silent":
            return
        if self._keys_of != (id(self.table), len(self.table)):
            self._keys, self._keys_of = sorted(self.table), (id(self.table), len(self.table))
        keys = self._keys
        vbs: list[ber.VarBind] = []
        if req.pdu_tag == ber.GET:
            for oid, _, _ in req.varbinds:
                tag, value = self.table.get(oid, (ber.NO_SUCH_OBJECT, None))
                vbs.append((oid, tag, value))
        elif req.pdu_tag in (ber.GET_NEXT, ber.GET_BULK):
            reps = req.error_index if req.pdu_tag == ber.GET_BULK else 1
            cursors = [oid for oid, _, _ in req.varbinds]
            if req.pdu_tag == ber.GET_BULK and req.error_status:   # non-repeaters: one GETNEXT each
                for cur in cursors[:req.error_status]:
                    pos = bisect.bisect_right(keys, cur)
                    vbs.append((keys[pos], *self.table[keys[pos]]) if pos < len(keys)
                               else (cur, ber.END_OF_MIB_VIEW, None))
                cursors = cursors[req.error_status:]
            for _ in range(max(1, reps)):
                for n, cur in enumerate(cursors):
                    if self.mode == "loop":
                        vbs.append((cur, ber.INTEGER, 1))
                        continue
                    pos = bisect.bisect_right(keys, cur)
                    if pos < len(keys):
                        nxt = keys[pos]
                        vbs.append((nxt, *self.table[nxt]))
                        cursors[n] = nxt
                    else:
                        vbs.append((cur, ber.END_OF_MIB_VIEW, None))
        msg = ber.Message(req.version, req.community, ber.RESPONSE, req.request_id, varbinds=vbs)
        if self.mode == "error_status":
            msg.error_status, msg.error_index = 5, 1
        if self.mode == "wrong_id":
            msg.request_id += 1
        out = ber.encode_message(msg)
        if self.mode == "garbage":
            # well-formed up to the request id, then a value with a tag no SNMP type uses
            bad = ber.Message(req.version, req.community, ber.RESPONSE, req.request_id,
                              varbinds=[(oids.SYS_UPTIME, ber.INTEGER, 1)])
            out = ber.encode_message(bad)[:-3] + b"\x4f\x01\x01"
        elif self.mode == "truncated":
            out = out[: len(out) // 2]
        elif self.mode == "cut_head":
            out = out[:6]
        elif self.mode == "overlong":
            # the outer SEQUENCE claims 40 bytes more than the datagram carries
            body = out[2:] if out[1] < 0x80 else out[2 + (out[1] & 0x7F):]
            out = b"\x30\x82" + (len(body) + 40).to_bytes(2, "big") + body
        self.transport.sendto(out, addr)


def device_table(interfaces: dict[int, dict[str, Any]], uptime_ticks: int = 100_000,
                 sys_name: bytes = b"scripted-switch") -> dict[Oid, tuple[int, ber.Value]]:
    """An IF-MIB view: interfaces maps ifIndex -> fields (name, admin, oper, in, out, hc, speed_mbps...)."""
    t: dict[Oid, tuple[int, ber.Value]] = {
        oids.SYS_DESCR: (ber.OCTET_STRING, b"scripted agent"),
        oids.SYS_UPTIME: (ber.TIMETICKS, uptime_ticks),
        oids.SYS_NAME: (ber.OCTET_STRING, sys_name),
    }
    for i, f in interfaces.items():
        idx = (i,)
        t[oids.IF_DESCR + idx] = (ber.OCTET_STRING, f.get("descr", f.get("name", b"if%d" % i)))
        t[oids.IF_SPEED + idx] = (ber.GAUGE32, min(f.get("speed_mbps", 1000) * 1_000_000, 2**32 - 1))
        t[oids.IF_ADMIN_STATUS + idx] = (ber.INTEGER, f.get("admin", 1))
        t[oids.IF_OPER_STATUS + idx] = (ber.INTEGER, f.get("oper", 1))
        t[oids.IF_IN_OCTETS + idx] = (ber.COUNTER32, f.get("in", 0) % 2**32)
        t[oids.IF_IN_DISCARDS + idx] = (ber.COUNTER32, f.get("in_discards", 0))
        t[oids.IF_IN_ERRORS + idx] = (ber.COUNTER32, f.get("in_errors", 0))
        t[oids.IF_OUT_OCTETS + idx] = (ber.COUNTER32, f.get("out", 0) % 2**32)
        t[oids.IF_OUT_DISCARDS + idx] = (ber.COUNTER32, f.get("out_discards", 0))
        t[oids.IF_OUT_ERRORS + idx] = (ber.COUNTER32, f.get("out_errors", 0))
        if f.get("hc", True):
            t[oids.IF_NAME + idx] = (ber.OCTET_STRING, f.get("name", b"if%d" % i))
            t[oids.IF_HC_IN_OCTETS + idx] = (ber.COUNTER64, f.get("in", 0))
            t[oids.IF_HC_OUT_OCTETS + idx] = (ber.COUNTER64, f.get("out", 0))
            t[oids.IF_HIGH_SPEED + idx] = (ber.GAUGE32, f.get("speed_mbps", 1000))
            t[oids.IF_ALIAS + idx] = (ber.OCTET_STRING, f.get("alias", b""))
    return t
