"""SMTP probe: banner, EHLO, STARTTLS or implicit TLS with certificate checks, optional AUTH; per-phase timings."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Optional

from netwatch.fields import Secret
from netwatch.net import certs
from netwatch.net import mail
from netwatch.model import Outcome, Target
from netwatch.net import tls as tlsinfo
from netwatch.net.tcp import Failure
from netwatch.probes.contract import ProbeContext, ProbeKind

KIND = "smtp"

MEASUREMENTS = {
    "dns_seconds": "Time to resolve the server's name (0 for an address).",
    "connect_seconds": "Time to establish the TCP connection.",
    "tls_seconds": "Time for the TLS handshake (implicit or after STARTTLS).",
    "banner_seconds": "Time from connected until the 220 greeting.",
    "ehlo_seconds": "Time for the first EHLO exchange.",
    "auth_seconds": "Time for AUTH (only with a username).",
    "total_seconds": "Time for the whole conversation.",
}
LATENCY = "total_seconds"

IMPLICIT_TLS_PORTS = (465,)
TIMEOUT_ORDER = (("connect_seconds", "connect"), ("banner_seconds", "banner"), ("ehlo_seconds", "EHLO"),
                 ("tls_seconds", "TLS handshake"), ("auth_seconds", "AUTH"))


@dataclass(frozen=True)
class Settings:
    port: int = 25
    tls: Optional[mail.TlsMode] = None        # default: implicit on 465, else starttls
    server_name: Optional[str] = None         # certificate name to expect; default: the target's host
    verify_tls: bool = True
    ca_file: Optional[str] = None
    helo: str = "netwatch.localdomain"
    username: Optional[str] = None
    password: Optional[Secret] = None
    tls_warn_days: int = certs.DEFAULT_WARN_DAYS
    tls_critical_days: int = certs.DEFAULT_CRITICAL_DAYS
    mode: mail.TlsMode = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", mail.tls_mode(self.tls, self.port, IMPLICIT_TLS_PORTS))
        mail.validate_endpoint("", self.port, self.mode, self.username, self.password, self.ca_file)
        mail.validate_helo(self.helo)
        certs.validate_days(self.tls_warn_days, self.tls_critical_days)


async def probe(target: Target, settings: Settings, timeout_seconds: float,
                context: ProbeContext | None = None) -> Outcome:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    session: mail.Smtp | None = None
    try:
        async with asyncio.timeout(timeout_seconds):
            session = await mail.open_smtp(
                target.host, settings.port, settings.mode, settings.server_name or target.host,
                lambda: tlsinfo.client_context(settings.verify_tls, settings.ca_file), settings.verify_tls,
                settings.helo, timings)
            if settings.username and settings.password:
                auth_started = time.perf_counter()
                await session.login(settings.username, settings.password.reveal())
                timings["auth_seconds"] = time.perf_counter() - auth_started
            await session.quit()
    except Failure as failure:
        return failure.outcome(_measurements(timings, started))
    except TimeoutError:
        return Outcome(ok=False, error="timeout", measurements=_measurements(timings, started),
                       detail=mail.describe_timeout(timings, TIMEOUT_ORDER, timeout_seconds))
    except OSError as exc:
        return Outcome(ok=False, error="protocol", measurements=_measurements(timings, started),
                       detail=tlsinfo.clean_detail(f"connection failed: {exc}"))
    finally:
        if session is not None:
            session.conn.close()
    return judge(settings, _measurements(timings, started), time.time())


def judge(settings: Settings, measurements: dict[str, float], now: float) -> Outcome:
    steps = ["banner", "EHLO"] + (["TLS"] if settings.mode != "none" else []) + (["AUTH"] if settings.username else [])
    summary = f"{' + '.join(steps)} in {measurements['total_seconds'] * 1000:.0f} ms"
    error, degraded, detail = certs.judge_expiry(measurements.get("tls_cert_expiry_timestamp_seconds"), now,
                                                 settings.tls_warn_days, settings.tls_critical_days)
    if error:
        return Outcome(ok=False, error=error, detail=detail, measurements=measurements)
    return Outcome(ok=True, degraded=degraded, detail=f"{summary}; {detail}" if detail else summary,
                   measurements=measurements)


def _measurements(timings: dict[str, float], started: float) -> dict[str, float]:
    return {**timings, "total_seconds": time.perf_counter() - started}


CONTRACT = ProbeKind(kind=KIND, settings=Settings, measurements=MEASUREMENTS, probe=probe, latency=LATENCY)
