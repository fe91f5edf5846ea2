"""HTTP(S) probe: status, phase timings, body checks and TLS certificate expiry of one URL."""

from __future__ import annotations

import asyncio
import re
import time
import unicodedata
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping, Optional

from netwatch.deadline import Deadline
from netwatch.fields import Duration, FieldError, Secret
from netwatch.net import certs
from netwatch.model import Outcome, Target, build_outcome
from netwatch.net import http as httpclient
from netwatch.net import redirects
from netwatch.net import tls as tlsinfo
from netwatch.net.tcp import Failure
from netwatch.probes.contract import ProbeContext, ProbeKind

KIND = "http"

MEASUREMENTS = {
    "status_code": "HTTP status code of the final response.",
    "dns_seconds": "Time spent resolving host names, summed over redirects.",
    "connect_seconds": "Time spent establishing TCP connections, summed over redirects.",
    "tls_seconds": "Time spent in TLS handshakes, summed over redirects.",
    "first_byte_seconds": "Time from request sent to first response byte, summed over redirects.",
    "total_seconds": "Time for the whole probe, redirects and body included.",
    "body_bytes": "Size of the final response body in bytes.",
    "redirects": "Number of redirects followed.",
}
LATENCY = "total_seconds"

DEFAULT_STATUS_RANGE = (200, 399)  # 3xx only counts when redirects are not followed or lack a Location
MAX_BODY_LIMIT_BYTES = 64 << 20


@dataclass(frozen=True)
class Settings:
    url: str
    method: Literal["GET", "HEAD", "OPTIONS"] = "GET"
    headers: Mapping[str, Secret] = field(default_factory=lambda: MappingProxyType({}))
    expect_status: tuple[int, ...] = ()
    must_contain: tuple[str, ...] = ()
    must_not_contain: tuple[str, ...] = ()
    regex: Optional[str] = None
    verify_tls: bool = True
    ca_file: Optional[str] = None
    max_redirects: int = 5
    max_body_bytes: int = 1 << 20
    # Networks a redirect may lead to although the redirect policy (net/redirects.py) would refuse them.
    allow_redirects_to: tuple[str, ...] = ()
    warn_response_seconds: Optional[Duration] = None
    tls_warn_days: int = certs.DEFAULT_WARN_DAYS
    tls_critical_days: int = certs.DEFAULT_CRITICAL_DAYS
    parsed_url: httpclient.Url = field(init=False, repr=False, compare=False)
    redirect_networks: tuple[redirects.Network, ...] = field(init=False, repr=False, compare=False)
    pattern: Optional[re.Pattern[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        certs.validate_days(self.tls_warn_days, self.tls_critical_days)
        try:
            object.__setattr__(self, "parsed_url", httpclient.parse_url(self.url))
        except ValueError as exc:
            raise FieldError("url", str(exc)) from None
        for name, value in self.headers.items():
            if not httpclient._TOKEN_RE.fullmatch(name):
                raise FieldError("headers", f"{name!r} is not a valid header name")
            if name.lower() in httpclient.RESERVED_HEADERS:
                raise FieldError("headers", f"{name} is set by netwatch itself")
            text = value.reveal() if isinstance(value, Secret) else str(value)
            if any(ch in text for ch in "\r\n\0"):
                raise FieldError("headers", f"the value of {name} contains a line break or NUL")
        for code in self.expect_status:
            if not 100 <= code <= 599:
                raise FieldError("expect_status", f"{code} is not an HTTP status code")
        pattern = None
        if self.regex is not None:
            try:
                pattern = re.compile(self.regex)
            except re.error as exc:
                raise FieldError("regex", f"not a valid regular expression: {exc}") from None
        object.__setattr__(self, "pattern", pattern)
        if self.method == "HEAD" and (self.must_contain or self.must_not_contain or self.regex):
            raise FieldError("method", "a HEAD response has no body to check")
        if self.ca_file is not None:
            tlsinfo.check_ca_file(self.ca_file)
        if not 0 <= self.max_redirects <= 30:
            raise FieldError("max_redirects", "must be between 0 and 30")
        try:
            object.__setattr__(self, "redirect_networks", redirects.parse_networks(self.allow_redirects_to))
        except ValueError as exc:
            raise FieldError("allow_redirects_to", str(exc)) from None
        if not 0 <= self.max_body_bytes <= MAX_BODY_LIMIT_BYTES:
            raise FieldError("max_body_bytes", f"must be between 0 and {MAX_BODY_LIMIT_BYTES}")
        if self.warn_response_seconds is not None and self.warn_response_seconds <= 0:
            raise FieldError("warn_response_seconds", "must be positive")

    @property
    def checks_body(self) -> bool:
        return bool(self.must_contain or self.must_not_contain or self.pattern)


async def probe(target: Target, settings: Settings, timeout_seconds: float,
                context: ProbeContext | None = None) -> Outcome:
    """`target.host` is not used: the URL names the host (and virtual host) to ask."""
    trace = httpclient.Trace()
    started = time.perf_counter()
    headers = [(k, v.reveal() if isinstance(v, Secret) else str(v)) for k, v in settings.headers.items()]
    # The deadline as one timer (netwatch/deadline.py), not asyncio.timeout: its state machine cost as much as
    # the rest of this wrapper.
    deadline = Deadline(timeout_seconds)
    try:
        response = await httpclient.fetch(
            settings.parsed_url, method=settings.method, headers=headers, trace=trace,
            context=lambda: tlsinfo.client_context(settings.verify_tls, settings.ca_file),
            verify=settings.verify_tls, max_body_bytes=settings.max_body_bytes,
            keep_body=settings.checks_body, max_redirects=settings.max_redirects,
            allow_redirects_to=settings.redirect_networks)
    except asyncio.CancelledError:
        if not deadline.ours():
            raise   # cancelled from outside
        return Outcome(ok=False, error="timeout", measurements=_measurements(trace, started),
                       detail=tlsinfo.clean_detail(
                           f"{trace.phase} not done within {timeout_seconds:g}s ({trace.url}"
                           + (f", {trace.body_bytes} body bytes so far)" if trace.body_bytes else ")"), 300))
    except Failure as failure:
        return failure.outcome(_measurements(trace, started))
    except OSError as exc:
        return Outcome(ok=False, error="protocol", measurements=_measurements(trace, started),
                       detail=tlsinfo.clean_detail(f"connection failed during {trace.phase}: {exc}", 300))
    finally:
        deadline.close()
    measurements = _measurements(trace, started)
    measurements["status_code"] = float(response.status)
    return judge(settings, response, measurements, time.time())


def judge(settings: Settings, response: httpclient.Response, measurements: dict[str, float],
          now: float) -> Outcome:
    """Status, content, certificate lifetime and speed verdict on a complete response."""
    status_line = tlsinfo.clean_detail(f"{response.status} {response.reason}".strip(), 80)
    if settings.expect_status:
        if response.status not in settings.expect_status:
            wanted = ", ".join(str(c) for c in settings.expect_status)
            return Outcome(ok=False, error="status", measurements=measurements,
                           detail=tlsinfo.clean_detail(f"got {status_line} from {response.url.shown}, expected {wanted}", 300))
    elif not DEFAULT_STATUS_RANGE[0] <= response.status <= DEFAULT_STATUS_RANGE[1]:
        return Outcome(ok=False, error="status", measurements=measurements,
                       detail=tlsinfo.clean_detail(f"got {status_line} from {response.url.shown}, expected 200-399", 300))
    if settings.checks_body:
        text = httpclient.text_of(response.body, response.header("content-type"))
        problem = _content_problem(settings, text)
        if problem:
            return Outcome(ok=False, error="content", measurements=measurements,
                           detail=tlsinfo.clean_detail(problem, 300))
    # verify_tls: false opts out of judging the certificate; its expiry is still exported.
    cert_error, cert_warning, cert_detail = certs.judge_expiry(
        measurements.get("tls_cert_expiry_timestamp_seconds") if settings.verify_tls else None, now,
        settings.tls_warn_days, settings.tls_critical_days)
    if cert_error:
        return Outcome(ok=False, error=cert_error, measurements=measurements, detail=cert_detail)
    warn = settings.warn_response_seconds
    if cert_warning:
        return Outcome(ok=True, degraded=cert_warning, measurements=measurements, detail=cert_detail)
    if warn is not None and measurements["total_seconds"] > warn:
        return Outcome(ok=True, degraded="warn_response_seconds", measurements=measurements,
                       detail=f"{status_line} in {measurements['total_seconds']:.3f}s, slower than {warn:g}s")
    return build_outcome(True, None, status_line, measurements)


def _content_problem(settings: Settings, text: str) -> str | None:
    for needle in settings.must_contain:
        if unicodedata.normalize("NFC", needle) not in text:
            return f"body does not contain {needle!r}"
    for needle in settings.must_not_contain:
        if unicodedata.normalize("NFC", needle) in text:
            return f"body contains {needle!r}"
    if settings.pattern is not None and not settings.pattern.search(text):
        return f"body does not match /{settings.pattern.pattern}/"
    return None


def _measurements(trace: httpclient.Trace, started: float) -> dict[str, float]:
    out = {
        "dns_seconds": trace.dns_seconds,
        "connect_seconds": trace.connect_seconds,
        "first_byte_seconds": trace.first_byte_seconds,
        "total_seconds": time.perf_counter() - started,
        "body_bytes": float(trace.body_bytes),
        "redirects": float(trace.redirects),
    }
    if trace.cert_expiry_timestamp_seconds is not None:
        out["tls_seconds"] = trace.tls_seconds
        out["tls_cert_expiry_timestamp_seconds"] = trace.cert_expiry_timestamp_seconds
    return out


CONTRACT = ProbeKind(kind=KIND, settings=Settings, measurements=MEASUREMENTS, probe=probe, latency=LATENCY)
