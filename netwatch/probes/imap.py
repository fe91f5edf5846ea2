"""IMAP probe: connect (993 or STARTTLS) with certificate checks, log in with a secret, select a mailbox."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Optional

from netwatch.fields import FieldError, Secret
from netwatch.net import certs
from netwatch.net import mail
from netwatch.model import Outcome, Target
from netwatch.net import tls as tlsinfo
from netwatch.net.tcp import Failure
from netwatch.probes.contract import ProbeContext, ProbeKind

KIND = "imap"

MEASUREMENTS = {
    "dns_seconds": "Time to resolve the server's name (0 for an address).",
    "connect_seconds": "Time to establish the TCP connection.",
    "tls_seconds": "Time for the TLS handshake (implicit or after STARTTLS).",
    "greeting_seconds": "Time from connected until the server's greeting.",
    "login_seconds": "Time for LOGIN.",
    "select_seconds": "Time to SELECT the mailbox.",
    "total_seconds": "Time for the whole session.",
    "messages": "Messages in the selected mailbox (EXISTS).",
}
LATENCY = "total_seconds"

IMPLICIT_TLS_PORTS = (993,)
TIMEOUT_ORDER = (("connect_seconds", "connect"), ("greeting_seconds", "greeting"),
                 ("login_seconds", "LOGIN"), ("select_seconds", "SELECT"))


@dataclass(frozen=True)
class Settings:
    username: str
    password: Secret
    port: int = 993
    tls: Optional[mail.TlsMode] = None        # default: implicit on 993, else starttls
    mailbox: str = "INBOX"
    server_name: Optional[str] = None
    verify_tls: bool = True
    ca_file: Optional[str] = None
    tls_warn_days: int = certs.DEFAULT_WARN_DAYS
    tls_critical_days: int = certs.DEFAULT_CRITICAL_DAYS
    mode: mail.TlsMode = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", mail.tls_mode(self.tls, self.port, IMPLICIT_TLS_PORTS))
        mail.validate_endpoint("", self.port, self.mode, self.username, self.password, self.ca_file,
                               password_required=True)
        if not self.mailbox or any(ch in self.mailbox for ch in "\r\n\0"):
            raise FieldError("mailbox", "must be a mailbox name on one line")
        certs.validate_days(self.tls_warn_days, self.tls_critical_days)


async def probe(target: Target, settings: Settings, timeout_seconds: float,
                context: ProbeContext | None = None) -> Outcome:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    session: mail.Imap | None = None
    messages = 0
    try:
        async with asyncio.timeout(timeout_seconds):
            session = await mail.open_imap(
                target.host, settings.port, settings.mode, settings.server_name or target.host,
                lambda: tlsinfo.client_context(settings.verify_tls, settings.ca_file), settings.verify_tls,
                settings.username, settings.password.reveal(), timings)
            select_started = time.perf_counter()
            messages = await session.select(settings.mailbox)
            timings["select_seconds"] = time.perf_counter() - select_started
            await session.logout()
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
    measurements = _measurements(timings, started)
    measurements["messages"] = float(messages)
    summary = (f"LOGIN + SELECT {tlsinfo.clean_detail(settings.mailbox, 60)} ({messages} messages) "
               f"in {measurements['total_seconds'] * 1000:.0f} ms")
    error, degraded, detail = certs.judge_expiry(measurements.get("tls_cert_expiry_timestamp_seconds"), time.time(),
                                                 settings.tls_warn_days, settings.tls_critical_days)
    if error:
        return Outcome(ok=False, error=error, detail=detail, measurements=measurements)
    return Outcome(ok=True, degraded=degraded, detail=f"{summary}; {detail}" if detail else summary,
                   measurements=measurements)


def _measurements(timings: dict[str, float], started: float) -> dict[str, float]:
    return {**timings, "total_seconds": time.perf_counter() - started}


CONTRACT = ProbeKind(kind=KIND, settings=Settings, measurements=MEASUREMENTS, probe=probe, latency=LATENCY)
