"""TCP probe: connect time, optional TLS handshake with certificate expiry, optional banner."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import socket
import ssl
import time
from dataclasses import dataclass, replace
from typing import Callable, Optional, TypeVar

from netwatch.config.fields import FieldError
from netwatch.egov import certs
from netwatch.model import Outcome, Target
from netwatch.probes import tlsinfo

KIND = "tcp"

MEASUREMENTS = {
    "dns_seconds": "Time to resolve the target's name (0 for an address).",
    "connect_seconds": "Time to establish the TCP connection.",
    "tls_seconds": "Time for the TLS handshake (only with tls: true).",
    "banner_seconds": "Time from connected (and TLS done) until the expected banner was read.",
}

BANNER_MAX_BYTES = 65536
_UNREACHABLE_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN,
                       errno.EADDRNOTAVAIL}

P = TypeVar("P", bound=asyncio.BaseProtocol)


class Failure(Exception):
    """An expected probe failure on the way: carries the error class and a capped detail."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = tlsinfo.clean_detail(detail, 300)

    def outcome(self, measurements: dict[str, float] | None = None) -> Outcome:
        return Outcome(ok=False, error=self.error, detail=self.detail, measurements=measurements or {})


@dataclass(frozen=True)
class Settings:
    port: int
    tls: bool = False
    server_name: Optional[str] = None
    verify_tls: bool = True
    ca_file: Optional[str] = None
    send: Optional[str] = None
    expect: Optional[str] = None
    max_read_bytes: int = 4096
    tls_warn_days: int = certs.DEFAULT_WARN_DAYS
    tls_critical_days: int = certs.DEFAULT_CRITICAL_DAYS

    def __post_init__(self) -> None:
        certs.validate_days(self.tls_warn_days, self.tls_critical_days)
        if not 0 < self.port < 65536:
            raise FieldError("port", "must be between 1 and 65535")
        if not self.tls:
            for name in ("server_name", "ca_file"):
                if getattr(self, name) is not None:
                    raise FieldError(name, "only makes sense with tls: true")
        if self.ca_file is not None:
            tlsinfo.check_ca_file(self.ca_file)
        if self.expect is not None:
            try:
                re.compile(self.expect)
            except re.error as exc:
                raise FieldError("expect", f"not a valid regular expression: {exc}") from None
        if not 1 <= self.max_read_bytes <= BANNER_MAX_BYTES:
            raise FieldError("max_read_bytes", f"must be between 1 and {BANNER_MAX_BYTES}")


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def resolve(host: str, port: int) -> list[tuple[int, str]]:
    """(family, address) pairs for host; raises Failure('dns').

    RFC 6761 says resolvers should answer names under `.invalid` negatively at once, without
    asking any server, so we do.
    """
    if is_address(host):
        return [(socket.AF_INET6 if ":" in host else socket.AF_INET, host)]
    lowered = host.lower().rstrip(".")
    if lowered == "invalid" or lowered.endswith(".invalid"):
        raise Failure("dns", f"{host} does not resolve (the .invalid domain never exists)")
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Failure("dns", f"{host} does not resolve: {exc.strerror}") from None
    seen: list[tuple[int, str]] = []
    for family, _, _, _, sockaddr in infos:
        pair = (family, str(sockaddr[0]))
        if pair not in seen:
            seen.append(pair)
    if not seen:
        raise Failure("dns", f"{host} has no address")
    return seen


def connect_failure(exc: OSError, host: str, port: int) -> Failure:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(exc, ConnectionRefusedError):
        return Failure("refused", f"{where} refused the connection")
    if isinstance(exc, TimeoutError):
        return Failure("timeout", f"no TCP answer from {where}")
    if exc.errno in _UNREACHABLE_ERRNOS:
        return Failure("unreachable", f"{where} is unreachable: {exc.strerror}")
    return Failure("unreachable", f"cannot connect to {where}: {exc.strerror or exc}")


async def connect(host: str, port: int, factory: Callable[[], P]) -> tuple[asyncio.Transport, P, float, float]:
    """Resolve and connect; returns (transport, protocol, dns_seconds, connect_seconds).

    Addresses are tried in resolver order; the caller's deadline bounds the whole attempt.
    """
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    addresses = await resolve(host, port)
    resolved = time.perf_counter()
    if len(addresses) == 1 and addresses[0][1] == host:
        start = resolved  # an address literal: no lookup happened, report 0 rather than our overhead
    failure: Failure | None = None
    for _family, address in addresses:
        try:
            transport, protocol = await loop.create_connection(factory, address, port)
        except OSError as exc:
            failure = connect_failure(exc, host, port)
            continue
        return transport, protocol, resolved - start, time.perf_counter() - resolved  # type: ignore[return-value]
    assert failure is not None
    raise failure


async def start_tls(transport: asyncio.Transport, protocol: asyncio.BaseProtocol, context: ssl.SSLContext,
                    server_name: str) -> asyncio.Transport:
    """Upgrade a connection; raises Failure with a tls_* class."""
    loop = asyncio.get_running_loop()
    try:
        tls_transport = await loop.start_tls(transport, protocol, context, server_hostname=server_name)
    except (ssl.SSLError, ssl.CertificateError, ConnectionError, EOFError) as exc:
        transport.abort()
        error, detail = tlsinfo.classify_ssl_error(exc)
        raise Failure(error, detail) from None
    if tls_transport is None:  # the peer closed during the handshake
        transport.abort()
        raise Failure("tls", "connection closed during the TLS handshake")
    return tls_transport


async def probe(target: Target, settings: Settings, timeout_seconds: float) -> Outcome:
    measurements: dict[str, float] = {}
    healthy = Outcome(ok=True)  # a certificate close to expiry turns success into `degraded`
    phase = "connect"
    received = bytearray()
    transport: asyncio.Transport | None = None
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout_seconds):
            reader = asyncio.StreamReader(limit=BANNER_MAX_BYTES, loop=loop)
            transport, protocol, dns_s, connect_s = await connect(
                target.host, settings.port, lambda: asyncio.StreamReaderProtocol(reader, loop=loop))
            measurements["dns_seconds"] = dns_s
            measurements["connect_seconds"] = connect_s
            if settings.tls:
                phase = "TLS handshake"
                started = time.perf_counter()
                context = tlsinfo.client_context(settings.verify_tls, settings.ca_file)
                raw, transport = transport, None
                transport = await start_tls(raw, protocol, context, settings.server_name or target.host)
                measurements["tls_seconds"] = time.perf_counter() - started
                facts, error, detail = tlsinfo.judge_certificate(
                    transport.get_extra_info("ssl_object"), settings.verify_tls)
                measurements.update(facts)
                if error:
                    return Outcome(ok=False, error=error, detail=detail, measurements=measurements)
                if settings.verify_tls:
                    error, degraded, cert_detail = certs.judge_expiry(
                        measurements.get("tls_cert_expiry_timestamp_seconds"), time.time(),
                        settings.tls_warn_days, settings.tls_critical_days)
                    if error:
                        return Outcome(ok=False, error=error, detail=cert_detail, measurements=measurements)
                    if degraded:
                        healthy = Outcome(ok=True, degraded=degraded, detail=cert_detail)
            writer = asyncio.StreamWriter(transport, protocol, reader, loop)
            if settings.send is not None:
                writer.write(settings.send.encode())
            if settings.expect is not None:
                phase = "banner"
                started = time.perf_counter()
                pattern = re.compile(settings.expect)
                while len(received) < settings.max_read_bytes:
                    chunk = await reader.read(settings.max_read_bytes - len(received))
                    if not chunk:
                        break
                    received += chunk
                    if pattern.search(received.decode("utf-8", "replace")):
                        measurements["banner_seconds"] = time.perf_counter() - started
                        return replace(healthy, measurements=measurements)
                return Outcome(ok=False, error="content", measurements=measurements,
                               detail=tlsinfo.clean_detail(_mismatch(settings.expect, received)))
            if settings.send is not None:
                # close() flushes what is buffered (abort() in finally would drop it).
                closing, transport = transport, None
                closing.close()
            return replace(healthy, measurements=measurements)
    except Failure as failure:
        return failure.outcome(measurements)
    except TimeoutError:
        if phase == "banner" and received:
            return Outcome(ok=False, error="content", measurements=measurements,
                           detail=tlsinfo.clean_detail(_mismatch(settings.expect or "", received)))
        return Outcome(ok=False, error="timeout", measurements=measurements,
                       detail=f"{phase} not done within {timeout_seconds:g}s (port {settings.port})")
    except OSError as exc:
        return Outcome(ok=False, error="protocol", measurements=measurements,
                       detail=tlsinfo.clean_detail(f"connection failed during {phase}: {exc}"))
    finally:
        if transport is not None:
            transport.abort()


def _mismatch(expect: str, received: bytes) -> str:
    seen = received[:120].decode("utf-8", "replace")
    return f"expected {expect!r}, got {seen!r}" if received else f"expected {expect!r}, got nothing"
