"""TCP connections for probes: resolve, connect with error classes, and upgrade to TLS."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import ssl
import time
from typing import Callable, TypeVar

from netwatch.model import Outcome
from netwatch.net import tls as tlsinfo
from netwatch.net.resolver import resolver

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
    try:
        infos = await resolver().getaddrinfo(host, port, type=socket.SOCK_STREAM)
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


async def connect(host: str, port: int, factory: Callable[[], P],
                  addresses: list[tuple[int, str]] | None = None) -> tuple[asyncio.Transport, P, float, float]:
    """Resolve and connect; returns (transport, protocol, dns_seconds, connect_seconds).

    Addresses are tried in resolver order; the caller's deadline bounds the whole attempt. `addresses`,
    when given, were resolved (and checked) by the caller: exactly those are used, with no second lookup.
    """
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    if addresses is None:
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
