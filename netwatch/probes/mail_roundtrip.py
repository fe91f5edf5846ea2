"""End-to-end official mail: submit a tokened message over SMTP, wait for it in IMAP, time it, delete it."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Optional

from netwatch.fields import Duration, FieldError, Secret
from netwatch.net import certs
from netwatch.net import mail
from netwatch.model import Outcome, Target
from netwatch.net import tls as tlsinfo
from netwatch.net.tcp import Failure
from netwatch.probes.contract import ProbeContext, ProbeKind

KIND = "mail_roundtrip"
# The default timeout's ceiling (instead of 5 s): a message through SMTP, the mail system and IMAP takes tens of seconds.
DEFAULT_TIMEOUT_SECONDS = 120.0

MEASUREMENTS = {
    "delivery_seconds": "Time from the end of SMTP DATA until the message was visible over IMAP.",
    "imap_login_seconds": "Time to connect, log in and select the mailbox over IMAP.",
    "smtp_seconds": "Time to connect, authenticate and submit the message over SMTP.",
    "cleanup_seconds": "Time to delete the test message (and stale ones).",
    "stale_messages": "Test messages of earlier runs found and deleted at the start.",
    "total_seconds": "Time for the whole round trip.",
}
LATENCY = "delivery_seconds"
CONCURRENCY = 16

SUBJECT_PREFIX = "netwatch-roundtrip"
# Kept back from the check's timeout to delete the message and log out cleanly.
CLEANUP_RESERVE_SECONDS = 2.0


@dataclass(frozen=True)
class SmtpEndpoint:
    """Authenticated submission (587 STARTTLS or 465 implicit TLS)."""

    username: str
    password: Secret
    host: Optional[str] = None               # default: the target's host
    port: int = 587
    tls: Optional[mail.TlsMode] = None
    server_name: Optional[str] = None
    mode: mail.TlsMode = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", mail.tls_mode(self.tls, self.port, (465,)))
        mail.validate_endpoint("", self.port, self.mode, self.username, self.password, password_required=True)


@dataclass(frozen=True)
class ImapEndpoint:
    username: str
    password: Secret
    host: Optional[str] = None
    port: int = 993
    tls: Optional[mail.TlsMode] = None
    server_name: Optional[str] = None
    mailbox: str = "INBOX"
    mode: mail.TlsMode = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", mail.tls_mode(self.tls, self.port, (993,)))
        mail.validate_endpoint("", self.port, self.mode, self.username, self.password, password_required=True)
        if not self.mailbox or any(ch in self.mailbox for ch in "\r\n\0"):
            raise FieldError("mailbox", "must be a mailbox name on one line")


@dataclass(frozen=True)
class Settings:
    smtp: SmtpEndpoint
    imap: ImapEndpoint
    mail_from: str
    rcpt_to: str
    max_delivery_seconds: Duration = Duration(60)   # slower than this: degraded `mail_slow`
    poll_interval: Duration = Duration(1)
    verify_tls: bool = True
    ca_file: Optional[str] = None
    helo: str = "netwatch.localdomain"
    tls_warn_days: int = certs.DEFAULT_WARN_DAYS
    tls_critical_days: int = certs.DEFAULT_CRITICAL_DAYS

    def __post_init__(self) -> None:
        mail.validate_address("mail_from", self.mail_from)
        mail.validate_address("rcpt_to", self.rcpt_to)
        mail.validate_helo(self.helo)
        if self.max_delivery_seconds <= 0:
            raise FieldError("max_delivery_seconds", "must be positive")
        if not 0.05 <= self.poll_interval <= 60:
            raise FieldError("poll_interval", "must be between 50ms and 60s")
        if self.ca_file is not None:
            mail.validate_endpoint("", 1, "implicit", None, None, self.ca_file)
        certs.validate_days(self.tls_warn_days, self.tls_critical_days)


def marker(target: Target, settings: Settings) -> str:
    """The subject prefix of this check's test messages: stale ones of other checks are left alone."""
    where = repr((settings.smtp.host, settings.smtp.port, settings.imap.host, settings.imap.port,
                  settings.imap.mailbox, settings.mail_from, settings.rcpt_to))
    return f"{SUBJECT_PREFIX} {target.id} {hashlib.sha256(where.encode()).hexdigest()[:8]}"


def message(settings: Settings, subject: str, token: str) -> bytes:
    lines = [
        f"From: <{settings.mail_from}>",
        f"To: <{settings.rcpt_to}>",
        f"Subject: {subject}",
        f"Date: {email.utils.formatdate(usegmt=True)}",
        f"Message-ID: <{token}@netwatch.invalid>",
        "Auto-Submitted: auto-generated",   # RFC 3834: no vacation replies to a probe
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "netwatch end-to-end delivery probe. It deletes this message itself; please ignore it.",
    ]
    return "\r\n".join(lines).encode("utf-8")


async def probe(target: Target, settings: Settings, timeout_seconds: float,
                context: ProbeContext | None = None) -> Outcome:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    deadline = loop.time() + timeout_seconds
    reserve = min(CLEANUP_RESERVE_SECONDS, 0.2 * timeout_seconds)
    prefix = marker(target, settings)
    token = secrets.token_hex(10)
    imap_timings: dict[str, float] = {}
    smtp_timings: dict[str, float] = {}
    m: dict[str, float] = {}
    imap: mail.Imap | None = None
    smtp: mail.Smtp | None = None
    phase = "IMAP login"
    sent_at: float | None = None
    found: list[int] = []
    verify = settings.verify_tls

    def context() -> object:
        return tlsinfo.client_context(verify, settings.ca_file)

    try:
        async with asyncio.timeout_at(deadline - reserve):
            t0 = time.perf_counter()
            imap = await mail.open_imap(settings.imap.host or target.host, settings.imap.port, settings.imap.mode,
                                        settings.imap.server_name or settings.imap.host or target.host,
                                        context, verify, settings.imap.username,  # type: ignore[arg-type]
                                        settings.imap.password.reveal(), imap_timings)
            await imap.select(settings.imap.mailbox)
            m["imap_login_seconds"] = time.perf_counter() - t0
            phase = "stale cleanup"
            t0 = time.perf_counter()
            stale = await imap.search_subject(prefix)
            await imap.delete(stale)
            m["stale_messages"] = float(len(stale))
            m["cleanup_seconds"] = time.perf_counter() - t0
            phase = "SMTP submission"
            t0 = time.perf_counter()
            smtp = await mail.open_smtp(settings.smtp.host or target.host, settings.smtp.port, settings.smtp.mode,
                                        settings.smtp.server_name or settings.smtp.host or target.host,
                                        context, verify, settings.helo, smtp_timings)  # type: ignore[arg-type]
            await smtp.login(settings.smtp.username, settings.smtp.password.reveal())
            await smtp.send(settings.mail_from, [settings.rcpt_to], message(settings, f"{prefix} {token}", token))
            sent_at = time.perf_counter()
            m["smtp_seconds"] = sent_at - t0
            await smtp.quit()
            smtp.conn.close()
            phase = "delivery"
            while True:
                found = await imap.search_subject(token)
                if found:
                    m["delivery_seconds"] = time.perf_counter() - sent_at
                    break
                await asyncio.sleep(settings.poll_interval)
                await imap.noop()
    except Failure as failure:
        _close(imap, smtp)
        where = "IMAP" if phase in ("IMAP login", "stale cleanup", "delivery") else "SMTP"
        return Outcome(ok=False, error=failure.error, detail=tlsinfo.clean_detail(f"{where}: {failure.detail}", 300),
                       measurements=_measurements(m, imap_timings, smtp_timings, started))
    except TimeoutError:
        _close(imap, smtp)
        measurements = _measurements(m, imap_timings, smtp_timings, started)
        if sent_at is not None:
            waited = time.perf_counter() - sent_at
            return Outcome(ok=False, error="mail_timeout", measurements=measurements,
                           detail=f"message not delivered within {waited:.1f}s (token {token})")
        return Outcome(ok=False, error="timeout", measurements=measurements,
                       detail=f"{phase} not done within {timeout_seconds:g}s")
    except OSError as exc:
        _close(imap, smtp)
        return Outcome(ok=False, error="protocol", measurements=_measurements(m, imap_timings, smtp_timings, started),
                       detail=tlsinfo.clean_detail(f"{phase}: connection failed: {exc}"))
    assert imap is not None
    cleanup_problem = ""
    try:
        async with asyncio.timeout_at(deadline):
            t0 = time.perf_counter()
            await imap.delete(found)
            m["cleanup_seconds"] = m.get("cleanup_seconds", 0.0) + time.perf_counter() - t0
            await imap.logout()
    except (Failure, TimeoutError, OSError) as exc:
        cleanup_problem = getattr(exc, "detail", "") or type(exc).__name__
    finally:
        _close(imap, None)
    return judge(settings, _measurements(m, imap_timings, smtp_timings, started), cleanup_problem, time.time())


def judge(settings: Settings, measurements: dict[str, float], cleanup_problem: str, now: float) -> Outcome:
    delivery = measurements["delivery_seconds"]
    summary = f"delivered in {delivery:.2f}s"
    error, degraded, tls_detail = certs.judge_expiry(measurements.get("tls_cert_expiry_timestamp_seconds"), now,
                                                     settings.tls_warn_days, settings.tls_critical_days)
    if error:
        return Outcome(ok=False, error=error, detail=tls_detail, measurements=measurements)
    if delivery > settings.max_delivery_seconds:
        return Outcome(ok=True, degraded="mail_slow", measurements=measurements,
                       detail=f"{summary}, slower than {settings.max_delivery_seconds:g}s")
    if cleanup_problem:
        return Outcome(ok=True, degraded="mail_cleanup", measurements=measurements,
                       detail=tlsinfo.clean_detail(f"{summary}, but deleting it failed: {cleanup_problem}", 300))
    return Outcome(ok=True, degraded=degraded, measurements=measurements,
                   detail=f"{summary}; {tls_detail}" if tls_detail else summary)


def _measurements(m: dict[str, float], imap_timings: dict[str, float], smtp_timings: dict[str, float],
                  started: float) -> dict[str, float]:
    out = dict(m)
    # The certificate that ends first is the one that matters.
    expiries = [t["tls_cert_expiry_timestamp_seconds"] for t in (imap_timings, smtp_timings)
                if "tls_cert_expiry_timestamp_seconds" in t]
    if expiries:
        out["tls_cert_expiry_timestamp_seconds"] = min(expiries)
    out["total_seconds"] = time.perf_counter() - started
    return out


def _close(imap: mail.Imap | None, smtp: mail.Smtp | None) -> None:
    for session in (imap, smtp):
        if session is not None:
            session.conn.close()


CONTRACT = ProbeKind(
    kind=KIND,
    settings=Settings,
    measurements=MEASUREMENTS,
    probe=probe,
    concurrency=CONCURRENCY,
    latency=LATENCY,
    default_timeout_seconds=DEFAULT_TIMEOUT_SECONDS,
)
