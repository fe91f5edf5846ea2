"""DNS probe: resolve a name's A or AAAA records, time it and compare with expected addresses."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, field
from typing import Literal, Optional

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset

from netwatch.fields import FieldError
from netwatch.model import Outcome, Target
from netwatch.net import tls as tlsinfo
from netwatch.probes.contract import ProbeContext, ProbeKind

KIND = "dns"

MEASUREMENTS = {
    "resolve_seconds": "Time from query sent to answer received.",
    "answers": "Number of addresses in the answer.",
    "ttl_seconds": "TTL of the answer's address records.",
}
LATENCY = "resolve_seconds"


@dataclass(frozen=True)
class Settings:
    """`server` is `address[:port]` (IPv6 as `[::1]:5353`); without it the system resolver is asked.

    `expect` is an allow-list: the check fails if the answer holds an address not listed
    (a hijacked or stale record), and passes if it holds any subset of them.
    """

    name: str
    record: Literal["A", "AAAA"] = "A"
    server: Optional[str] = None
    expect: tuple[str, ...] = ()
    server_address: Optional[tuple[str, int]] = field(init=False, repr=False, compare=False)
    expected: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            dns.name.from_text(self.name)
        except dns.exception.DNSException as exc:
            raise FieldError("name", f"not a valid DNS name: {exc}") from None
        address = None
        if self.server is not None:
            try:
                address = parse_server(self.server)
            except ValueError as exc:
                raise FieldError("server", str(exc)) from None
        object.__setattr__(self, "server_address", address)
        expected = set()
        version = 4 if self.record == "A" else 6
        for text in self.expect:
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                raise FieldError("expect", f"{text!r} is not an IP address") from None
            if ip.version != version:
                raise FieldError("expect", f"{text} is not an IPv{version} address for a {self.record} record")
            expected.add(str(ip))
        object.__setattr__(self, "expected", frozenset(expected))


def parse_server(text: str) -> tuple[str, int]:
    """`127.0.0.1`, `127.0.0.1:5353`, `::1` or `[::1]:5353` -> (address, port)."""
    host, port = text, 53
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError("write an IPv6 server as [address]:port")
        if rest:
            port = _port(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _port(port_text)
    try:
        return str(ipaddress.ip_address(host)), port
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address (a DNS server is given by address)") from None


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"bad port {text!r}")
    return int(text)


async def probe(target: Target, settings: Settings, timeout_seconds: float,
                context: ProbeContext | None = None) -> Outcome:
    """`target.host` is not used: the check names the record and, optionally, the server to ask."""
    rdtype = dns.rdatatype.from_text(settings.record)
    qname = dns.name.from_text(settings.name)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_seconds):
            if settings.server_address is None:
                rrset = await _ask_system(qname, rdtype, timeout_seconds)
            else:
                rrset = await _ask_server(qname, rdtype, settings.server_address, timeout_seconds)
    except _Failure as failure:
        return Outcome(ok=False, error=failure.error, detail=failure.detail,
                       measurements={"resolve_seconds": time.perf_counter() - started})
    except (TimeoutError, dns.exception.Timeout):
        return Outcome.fail("timeout", f"no answer for {settings.name} {settings.record} "
                                       f"within {timeout_seconds:g}s")
    elapsed = time.perf_counter() - started
    addresses = sorted({rd.to_text() for rd in rrset}) if rrset is not None else []
    measurements = {"resolve_seconds": elapsed, "answers": float(len(addresses))}
    if not addresses:
        return Outcome(ok=False, error="nodata", measurements=measurements,
                       detail=f"{settings.name} exists but has no {settings.record} record")
    measurements["ttl_seconds"] = float(rrset.ttl) if rrset is not None else 0.0
    if settings.expected:
        unexpected = [a for a in addresses if str(ipaddress.ip_address(a)) not in settings.expected]
        if unexpected:
            return Outcome(ok=False, error="content", measurements=measurements,
                           detail=tlsinfo.clean_detail(
                               f"{settings.name} {settings.record} gave unexpected {', '.join(unexpected[:8])}"
                               f" (expected {', '.join(sorted(settings.expected)[:8])})", 300))
    return Outcome(ok=True, measurements=measurements,
                   detail=tlsinfo.clean_detail(", ".join(addresses[:8]), 200))


class _Failure(Exception):
    def __init__(self, error: str, detail: str) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = tlsinfo.clean_detail(detail, 300)


async def _ask_server(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType, server: tuple[str, int],
                      timeout_seconds: float) -> dns.rrset.RRset | None:
    query = dns.message.make_query(qname, rdtype)
    where = f"[{server[0]}]:{server[1]}" if ":" in server[0] else f"{server[0]}:{server[1]}"
    try:
        response, _ = await dns.asyncquery.udp_with_fallback(query, server[0], timeout=timeout_seconds,
                                                            port=server[1])
    except ConnectionRefusedError:
        raise _Failure("refused", f"no DNS server answers at {where} (port unreachable)") from None
    except OSError as exc:
        raise _Failure("unreachable", f"cannot reach DNS server {where}: {exc.strerror or exc}") from None
    except dns.exception.Timeout:
        raise
    except dns.exception.DNSException as exc:
        raise _Failure("dns", f"bad answer from {where}: {exc}") from None
    rcode = response.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        raise _Failure("nxdomain", f"{qname} does not exist (NXDOMAIN from {where})")
    if rcode == dns.rcode.SERVFAIL:
        raise _Failure("servfail", f"{where} failed to resolve {qname} (SERVFAIL)")
    if rcode != dns.rcode.NOERROR:
        raise _Failure("dns", f"{where} answered {dns.rcode.to_text(rcode)} for {qname}")
    try:
        return response.resolve_chaining().answer
    except dns.exception.DNSException as exc:
        raise _Failure("dns", f"bad answer from {where}: {exc}") from None


async def _ask_system(qname: dns.name.Name, rdtype: dns.rdatatype.RdataType,
                      timeout_seconds: float) -> dns.rrset.RRset | None:
    # RFC 6761 6.4: resolver libraries should answer names under .invalid negatively at once.
    if qname.labels[-2:-1] and qname.labels[-2].lower() == b"invalid":
        raise _Failure("nxdomain", f"{qname} does not exist (the .invalid domain never does)")
    try:
        resolver = dns.asyncresolver.Resolver()
        answer = await resolver.resolve(qname, rdtype, lifetime=timeout_seconds, search=False,
                                        raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        raise _Failure("nxdomain", f"{qname} does not exist (NXDOMAIN)") from None
    except dns.resolver.NoNameservers as exc:
        raise _Failure("servfail", f"no name server could resolve {qname}: {exc}") from None
    except dns.resolver.LifetimeTimeout:
        raise dns.exception.Timeout() from None
    except dns.exception.DNSException as exc:
        raise _Failure("dns", f"cannot resolve {qname}: {exc}") from None
    return answer.rrset


CONTRACT = ProbeKind(kind=KIND, settings=Settings, measurements=MEASUREMENTS, probe=probe, latency=LATENCY)
