"""Multi-step web check: ordered requests sharing cookies, each with expectations and its own timing."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping, Optional

from netwatch.fields import Duration, FieldError, Secret
from netwatch.net import certs
from netwatch.egov import fingerprint as fp
from netwatch.net.cookies import CookieJar
from netwatch.net.mail import scrub
from netwatch.model import Outcome, Series, Target
from netwatch.net import http as httpclient
from netwatch.net import redirects
from netwatch.net import tls as tlsinfo
from netwatch.net.tcp import Failure
from netwatch.probes.contract import ProbeContext, ProbeKind

KIND = "http_flow"

MEASUREMENTS = {
    "total_seconds": "Time for the whole flow.",
    "steps_passed": "Steps that met their expectations, in order, before the first failure.",
}
SERIES = {
    "http_flow_step_seconds": ("Time of one step of a multi-step web check, redirects included.", ("step",)),
}
LATENCY = "total_seconds"

_VAR_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
MAX_STEPS = 20
MAX_VALUE_CHARS = 1000
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Step:
    url: str
    name: str = ""
    method: Literal["GET", "POST", "HEAD"] = "GET"
    form: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    expect_status: tuple[int, ...] = ()
    must_contain: tuple[str, ...] = ()
    must_not_contain: tuple[str, ...] = ()
    require: tuple[str, ...] = ()                  # CSS/XPath selectors that must match (a result field)
    extract: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # var -> regex, group 1
    follow_redirects: bool = True
    warn_seconds: Optional[Duration] = None
    selectors: tuple[fp.Selector, ...] = field(init=False, repr=False, compare=False)
    patterns: Mapping[str, re.Pattern[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _VAR_RE.search(self.url):
            try:
                httpclient.parse_url(self.url)
            except ValueError as exc:
                raise FieldError("url", str(exc)) from None
        elif not self.url.lower().startswith(("http://", "https://")):
            raise FieldError("url", "must start with http:// or https://")
        if self.form and self.method != "POST":
            raise FieldError("form", "a form is sent with method: POST")
        for name, value in self.headers.items():
            if name.endswith("_file"):
                # Never send `Authorization_file: /path` literally: step headers are not secrets.
                raise FieldError("headers", f"{name!r}: a step's headers are not read from files; put the "
                                            "secret in the check's password(_file) and write {{password}}")
            if not httpclient._TOKEN_RE.fullmatch(name) or name.lower() in httpclient.RESERVED_HEADERS \
                    or name.lower() == "cookie":
                raise FieldError("headers", f"{name!r} cannot be set (cookies come from the flow's jar)")
            if any(ch in value for ch in "\r\n\0"):
                raise FieldError("headers", f"the value of {name} contains a line break or NUL")
        for code in self.expect_status:
            if not 100 <= code <= 599:
                raise FieldError("expect_status", f"{code} is not an HTTP status code")
        selectors = []
        for i, text in enumerate(self.require):
            try:
                selectors.append(fp.Selector.parse(text))
            except ValueError as exc:
                raise FieldError(f"require.{i}", str(exc)) from None
        object.__setattr__(self, "selectors", tuple(selectors))
        patterns = {}
        for var, text in self.extract.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var) or var in ("username", "password"):
                raise FieldError("extract", f"{var!r} is not a usable variable name")
            try:
                patterns[var] = re.compile(text)
            except re.error as exc:
                raise FieldError("extract", f"{var}: not a valid regular expression: {exc}") from None
            if patterns[var].groups < 1:
                raise FieldError("extract", f"{var}: the expression needs one group ( ... ) to capture")
        object.__setattr__(self, "patterns", MappingProxyType(patterns))
        if self.method == "HEAD" and (self.must_contain or self.must_not_contain or self.require or self.extract):
            raise FieldError("method", "a HEAD response has no body to check")
        if self.warn_seconds is not None and self.warn_seconds <= 0:
            raise FieldError("warn_seconds", "must be positive")


@dataclass(frozen=True)
class Settings:
    steps: tuple[Step, ...]
    username: Optional[str] = None       # usable as {{username}}
    password: Optional[Secret] = None    # usable as {{password}}; password_file: reads it from a file
    verify_tls: bool = True
    ca_file: Optional[str] = None
    max_redirects: int = 5
    max_body_bytes: int = 1 << 20
    tls_warn_days: int = certs.DEFAULT_WARN_DAYS
    tls_critical_days: int = certs.DEFAULT_CRITICAL_DAYS
    # Networks a redirect may lead to although the redirect policy (net/redirects.py) would refuse them.
    allow_redirects_to: tuple[str, ...] = ()
    redirect_networks: tuple[redirects.Network, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "redirect_networks", redirects.parse_networks(self.allow_redirects_to))
        except ValueError as exc:
            raise FieldError("allow_redirects_to", str(exc)) from None
        if not 1 <= len(self.steps) <= MAX_STEPS:
            raise FieldError("steps", f"give 1 to {MAX_STEPS} steps")
        known = {"username", "password"}
        for i, step in enumerate(self.steps):
            used = set(_VAR_RE.findall(step.url + "".join(step.form.values()) + "".join(step.headers.values())))
            unknown = used - known
            if unknown:
                raise FieldError(f"steps.{i}", f"uses {{{{{sorted(unknown)[0]}}}}} before any step extracts it")
            known |= set(step.extract)
        if self.ca_file is not None:
            tlsinfo.check_ca_file(self.ca_file)
        if not 0 <= self.max_redirects <= 30:
            raise FieldError("max_redirects", "must be between 0 and 30")
        if not 0 <= self.max_body_bytes <= 64 << 20:
            raise FieldError("max_body_bytes", "must be between 0 and 64 MiB")
        certs.validate_days(self.tls_warn_days, self.tls_critical_days)


def step_name(step: Step, index: int) -> str:
    return step.name or f"step{index + 1}"


def render(template: str, variables: Mapping[str, str], quote: bool = False) -> str:
    def sub(m: re.Match[str]) -> str:
        value = variables[m.group(1)]
        return urllib.parse.quote(value, safe="") if quote else value

    return _VAR_RE.sub(sub, template)


async def exchange(url: httpclient.Url, method: str, headers: list[tuple[str, str]], body: bytes,
                   trace: httpclient.Trace, settings: Settings,
                   addresses: list[tuple[int, str]] | None = None) -> httpclient.Response:
    return await httpclient.exchange(
        url, method, headers, trace, context=lambda: tlsinfo.client_context(settings.verify_tls, settings.ca_file),
        verify=settings.verify_tls, max_body_bytes=settings.max_body_bytes, keep_body=True,
        read_body=lambda status, response_headers: True, body=body, addresses=addresses)


class StepFailure(Exception):
    def __init__(self, error: str, detail: str) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail


async def run_step(step: Step, settings: Settings, jar: CookieJar, variables: dict[str, str],
                   trace: httpclient.Trace) -> httpclient.Response:
    url = httpclient.parse_url(render(step.url, variables, quote=True)) if _VAR_RE.search(step.url) \
        else httpclient.parse_url(step.url)
    origin = url.origin
    method = step.method
    step_headers = [(k, render(v, variables)) for k, v in step.headers.items()]
    if any(ch in v for _, v in step_headers for ch in "\r\n\0"):
        raise StepFailure("content", "an extracted value put a line break into a header")
    body = urllib.parse.urlencode([(k, render(v, variables)) for k, v in step.form.items()]).encode() \
        if step.form else b""
    hops = 0
    addresses: list[tuple[int, str]] | None = None   # the configured step URL: not judged
    while True:
        # Configured headers (credentials) and the form go to the step's own origin only.
        same_origin = url.origin == origin
        headers = list(step_headers) if same_origin else []
        if body and same_origin:
            headers.append(("Content-Type", FORM_TYPE))
        cookie = jar.header(url)
        if cookie:
            headers.append(("Cookie", cookie))
        response = await exchange(url, method, headers, body if same_origin else b"", trace, settings, addresses)
        jar.update(url, response.headers)
        location = response.header("location")
        if not (step.follow_redirects and response.status in httpclient.REDIRECT_STATUSES and location):
            return response
        if hops >= settings.max_redirects:
            raise StepFailure("redirects", f"more than {settings.max_redirects} redirects")
        try:
            next_url = httpclient.parse_url(urllib.parse.urljoin(str(url), location))
        except ValueError as exc:
            raise StepFailure("protocol", f"redirect to a bad Location: {exc}") from None
        if response.status in (307, 308) and body and next_url.origin != origin:
            raise StepFailure("redirects", f"{response.status} redirect to {next_url.host} would forward the form "
                                           "to another host; refused")
        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
            method, body = "GET", b""
        try:
            addresses = await httpclient.judged_hop(url, next_url, trace, settings.redirect_networks)
        except Failure as failure:
            raise StepFailure(failure.error, failure.detail) from None
        hops += 1
        trace.redirects += 1
        url = next_url


def judge_step(step: Step, response: httpclient.Response, variables: dict[str, str]) -> None:
    """Raise StepFailure when the response misses an expectation; store extracted variables."""
    status = response.status
    if step.expect_status:
        if status not in step.expect_status:
            raise StepFailure("status", f"got {status}, expected {', '.join(map(str, step.expect_status))}")
    elif not 200 <= status < 300:
        raise StepFailure("status", f"got {status} {tlsinfo.clean_detail(response.reason, 60)}, expected 2xx")
    if not (step.must_contain or step.must_not_contain or step.selectors or step.patterns):
        return
    text = httpclient.text_of(response.body, response.header("content-type"))
    for needle in step.must_contain:
        if needle not in text and fp.normalise(needle) not in fp.normalise(text):
            raise StepFailure("content", f"body does not contain {tlsinfo.clean_detail(needle, 80)!r}")
    for needle in step.must_not_contain:
        if needle in text:
            raise StepFailure("content", f"body contains {tlsinfo.clean_detail(needle, 80)!r}")
    if step.selectors:
        page = fp.parse(response.body, str(response.url), response.header("content-type"))
        for selector in step.selectors:
            if not selector.select(page.root):
                raise StepFailure("content", f"no element matches {tlsinfo.clean_detail(selector.text, 80)!r}")
    for var, pattern in step.patterns.items():
        m = pattern.search(text)
        if not m or m.group(1) is None:
            raise StepFailure("content", f"nothing to extract for {var} (/{tlsinfo.clean_detail(pattern.pattern, 60)}/)")
        variables[var] = m.group(1)[:MAX_VALUE_CHARS]


async def probe(target: Target, settings: Settings, timeout_seconds: float,
                context: ProbeContext | None = None) -> Outcome:
    """`target.host` is not used: every step names its URL."""
    started = time.perf_counter()
    jar = CookieJar()
    variables: dict[str, str] = {}
    if settings.username is not None:
        variables["username"] = settings.username
    if settings.password is not None:
        variables["password"] = settings.password.reveal()
    series: list[Series] = []
    slow: list[str] = []
    expiry: float | None = None
    passed = 0
    index, name, trace = 0, "", httpclient.Trace()

    def measurements() -> dict[str, float]:
        out = {"total_seconds": time.perf_counter() - started, "steps_passed": float(passed)}
        if expiry is not None:
            out["tls_cert_expiry_timestamp_seconds"] = expiry
        return out

    def failed(error: str, detail: str) -> Outcome:
        where = f"step {index + 1} ({tlsinfo.clean_detail(name, 40)})"
        # The server we log in to could echo the password in a reason phrase.
        detail = scrub(detail, [variables["password"]] if "password" in variables else [])
        return Outcome(ok=False, error=error, detail=tlsinfo.clean_detail(f"{where}: {detail}", 400),
                       measurements=measurements(), series=tuple(series))

    try:
        async with asyncio.timeout(timeout_seconds):
            for index, step in enumerate(settings.steps):
                name = step_name(step, index)
                trace = httpclient.Trace()
                step_started = time.perf_counter()
                try:
                    response = await run_step(step, settings, jar, variables, trace)
                finally:
                    if trace.cert_expiry_timestamp_seconds is not None:
                        expiry = min(expiry or trace.cert_expiry_timestamp_seconds, trace.cert_expiry_timestamp_seconds)
                seconds = time.perf_counter() - step_started
                series.append(Series("http_flow_step_seconds", (("step", name),), seconds))
                judge_step(step, response, variables)
                passed += 1
                if step.warn_seconds is not None and seconds > step.warn_seconds:
                    slow.append(f"{name} took {seconds:.2f}s (over {step.warn_seconds:g}s)")
    except StepFailure as failure:
        return failed(failure.error, failure.detail)
    except Failure as failure:
        return failed(failure.error, failure.detail)
    except TimeoutError:
        return failed("timeout", f"{trace.phase} not done within {timeout_seconds:g}s in total")
    except OSError as exc:
        return failed("protocol", f"connection failed during {trace.phase}: {exc}")
    except ValueError as exc:  # an extracted value made an unusable URL
        return failed("content", f"bad URL after filling in variables: {exc}")
    out = measurements()
    error, degraded, tls_detail = certs.judge_expiry(expiry, time.time(), settings.tls_warn_days,
                                                     settings.tls_critical_days)
    if error:
        return Outcome(ok=False, error=error, detail=tls_detail, measurements=out, series=tuple(series))
    summary = f"{passed} steps in {out['total_seconds']:.2f}s"
    if slow:
        return Outcome(ok=True, degraded="step_slow", detail=tlsinfo.clean_detail(f"{summary}; " + "; ".join(slow), 400),
                       measurements=out, series=tuple(series))
    return Outcome(ok=True, degraded=degraded, detail=f"{summary}; {tls_detail}" if tls_detail else summary,
                   measurements=out, series=tuple(series))


CONTRACT = ProbeKind(
    kind=KIND,
    settings=Settings,
    measurements=MEASUREMENTS,
    probe=probe,
    latency=LATENCY,
    series=SERIES,
)
