"""TCP probe: connect time, optional TLS handshake with certificate expiry, optional banner."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, replace
from typing import Optional

from netwatch.fields import FieldError
from netwatch.net import certs
from netwatch.model import Outcome, Target
from netwatch.net import tls as tlsinfo
from netwatch.net.tcp import Failure, connect, start_tls
from netwatch.probes.contract import ProbeContext, ProbeKind

KIND = "tcp"

MEASUREMENTS = {
    "dns_seconds": "Time to resolve the target's name (0 for an address).",
    "connect_seconds": "Time to establish the TCP connection.",
    "tls_seconds": "Time for the TLS handshake (only with tls: true).",
    "banner_seconds": "Time from connected (and TLS done) until the expected banner was read.",
}
# The report's latency of a port check is the handshake, not the TLS or banner wait on top.
LATENCY = "connect_seconds"

BANNER_MAX_BYTES = 65536
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


async def probe(target: Target, settings: Settings, timeout_seconds: float,
                context: ProbeContext | None = None) -> Outcome:
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


CONTRACT = ProbeKind(kind=KIND, settings=Settings, measurements=MEASUREMENTS, probe=probe, latency=LATENCY)
