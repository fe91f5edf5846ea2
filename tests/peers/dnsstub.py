"""A tiny authoritative DNS stub on loopback UDP: fixed A/AAAA records, NXDOMAIN, SERVFAIL and silence."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


@dataclass
class DnsStub(asyncio.DatagramProtocol):
    """`records` maps `(name, "A"|"AAAA")` to addresses; names in `servfail` / `silent` misbehave."""

    records: dict[tuple[str, str], list[str]]
    servfail: set[str] = field(default_factory=set)
    silent: set[str] = field(default_factory=set)
    ttl: int = 300
    transport: asyncio.DatagramTransport | None = None
    queries: int = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queries += 1
        try:
            query = dns.message.from_wire(data)
        except Exception:
            return
        question = query.question[0]
        name = question.name.to_text().lower()
        if name in self.silent:
            return
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        rdtype = dns.rdatatype.to_text(question.rdtype)
        known = {n for n, _ in self.records}
        if name in self.servfail:
            reply.set_rcode(dns.rcode.SERVFAIL)
        elif name not in known:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        else:
            addresses = self.records.get((name, rdtype), [])
            if addresses:
                reply.answer.append(dns.rrset.from_text_list(question.name, self.ttl, dns.rdataclass.IN,
                                                             rdtype, addresses))
        assert self.transport is not None
        self.transport.sendto(reply.to_wire(), addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    @property
    def port(self) -> int:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[1]


async def start_stub(records: dict[tuple[str, str], list[str]], servfail: set[str] | None = None,
                     silent: set[str] | None = None, host: str = "127.0.0.1") -> DnsStub:
    loop = asyncio.get_running_loop()
    stub = DnsStub(records, servfail or set(), silent or set())
    await loop.create_datagram_endpoint(lambda: stub, local_addr=(host, 0))
    return stub
