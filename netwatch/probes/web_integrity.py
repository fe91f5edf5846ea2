"""Defacement check: compare a web page (or many member sites) with its approved baseline and rules."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import zlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, Optional

from netwatch.fields import FieldError, Secret
from netwatch.egov import baselines
from netwatch.net import certs
from netwatch.egov.fingerprint import Finding, Fingerprint, Page, Profile, Requirement, Rules, Selector, Verdict
from netwatch.egov import fingerprint as fp
from netwatch.model import Event, Outcome, Target
from netwatch.net import http as httpclient
from netwatch.net import tls as tlsinfo
from netwatch.net.tcp import Failure
from netwatch.probes.contract import ProbeContext, ProbeKind
from netwatch.store.db import DB_ERRORS

KIND = "web_integrity"

MEASUREMENTS = {
    "status_code": "HTTP status code of the page.",
    "total_seconds": "Time to fetch the page, redirects included.",
    "body_bytes": "Size of the page body in bytes.",
    "text_change_ratio": "Share of the stable text that differs from the baseline (0 to 1).",
    "baseline_age_seconds": "Age of the approved baseline the page was compared with.",
    "findings": "Number of integrity rules the page breaks (summed over member sites).",
    "sites": "Member sites checked with one rule set (urls).",
    "sites_failed": "Member sites that failed their check.",
}
LATENCY = "total_seconds"
CONCURRENCY = 32

# Conservative: words that only a defacer or a gambling spammer puts on a government page. News
# about a gambling crackdown would trip broader terms such as "cá cược"; add those per site.
DEFAULT_FORBIDDEN = (
    "hacked by", "defaced by", "h4ck3d", "nhà cái uy tín", "casino trực tuyến", "casino online",
    "game bài đổi thưởng", "nổ hũ", "tài xỉu online",
)
MEMBER_CONCURRENCY = 8
MAX_BODY_LIMIT_BYTES = 16 << 20
DETAIL_CHARS = 500
_SLUG_RE = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass(frozen=True)
class Settings:
    url: Optional[str] = None
    urls: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = DEFAULT_FORBIDDEN
    required: tuple[str, ...] = ()
    max_text_change_ratio: float = 0.25
    allow_domains: tuple[str, ...] = ()
    allow_title_change: bool = False
    check_forms: bool = True
    baseline_on_first_run: bool = True
    baseline_at_phase: Optional[str] = None
    headers: Mapping[str, Secret] = field(default_factory=lambda: MappingProxyType({}))
    verify_tls: bool = True
    ca_file: Optional[str] = None
    max_redirects: int = 5
    max_body_bytes: int = 2 << 20
    tls_warn_days: int = certs.DEFAULT_WARN_DAYS
    tls_critical_days: int = certs.DEFAULT_CRITICAL_DAYS
    pages: tuple[httpclient.Url, ...] = field(init=False, repr=False, compare=False)
    profile: Profile = field(init=False, repr=False, compare=False)
    rules: Rules = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        texts = ([self.url] if self.url else []) + list(self.urls)
        if not texts:
            raise FieldError("url", "give url (one page) or urls (member sites sharing these rules)")
        pages = []
        for i, text in enumerate(texts):
            try:
                pages.append(httpclient.parse_url(text))
            except ValueError as exc:
                raise FieldError("url" if self.url and i == 0 else f"urls.{i - (1 if self.url else 0)}",
                                 str(exc)) from None
        if len({str(p) for p in pages}) != len(pages):
            raise FieldError("urls", "lists the same page twice")
        object.__setattr__(self, "pages", tuple(pages))
        object.__setattr__(self, "profile", Profile(_selectors(self.include, "include"),
                                                    _selectors(self.ignore, "ignore")))
        required = []
        for i, text in enumerate(self.required):
            try:
                required.append(Requirement.parse(text))
            except ValueError as exc:
                raise FieldError(f"required.{i}", str(exc)) from None
        forbidden = tuple(w for w in (fp.fold(w) for w in self.forbidden) if w)
        if len(forbidden) != len(self.forbidden):
            raise FieldError("forbidden", "contains an empty word")
        if not 0.0 < self.max_text_change_ratio <= 1.0:
            raise FieldError("max_text_change_ratio", "must be above 0 and at most 1")
        object.__setattr__(self, "rules", Rules(forbidden, tuple(required), self.max_text_change_ratio,
                                                tuple(d.lower().strip(".") for d in self.allow_domains),
                                                self.allow_title_change, self.check_forms))
        for name, value in self.headers.items():
            if not httpclient._TOKEN_RE.fullmatch(name) or name.lower() in httpclient.RESERVED_HEADERS:
                raise FieldError("headers", f"{name!r} cannot be set")
            if any(ch in value.reveal() for ch in "\r\n\0"):
                raise FieldError("headers", f"the value of {name} contains a line break or NUL")
        if self.ca_file is not None:
            tlsinfo.check_ca_file(self.ca_file)
        if not 0 <= self.max_redirects <= 30:
            raise FieldError("max_redirects", "must be between 0 and 30")
        if not 1024 <= self.max_body_bytes <= MAX_BODY_LIMIT_BYTES:
            raise FieldError("max_body_bytes", f"must be between 1024 and {MAX_BODY_LIMIT_BYTES}")
        certs.validate_days(self.tls_warn_days, self.tls_critical_days)


def _selectors(texts: tuple[str, ...], name: str) -> tuple[Selector, ...]:
    out = []
    for i, text in enumerate(texts):
        try:
            out.append(Selector.parse(text))
        except ValueError as exc:
            raise FieldError(f"{name}.{i}", str(exc)) from None
    return tuple(out)


def child_suffix(settings: Settings, url: httpclient.Url) -> str:
    """`integrity/<host>[_<path>]`: the derived check id of one member site."""
    same_host = sum(1 for p in settings.pages if p.host == url.host) > 1
    name = url.host + (f":{url.port}" if url.port not in (80, 443) else "")
    if same_host and url.target != "/":
        name += "_" + url.target.strip("/")
    return "integrity/" + _SLUG_RE.sub("_", name)[:120].strip("_")


@dataclass
class Fetched:
    response: httpclient.Response
    measurements: dict[str, float]


async def fetch_page(settings: Settings, url: httpclient.Url) -> Fetched:
    """Fetch with the shared HTTP client; raises Failure (the caller bounds the time)."""
    trace = httpclient.Trace()
    started = time.perf_counter()
    headers = [(k, v.reveal()) for k, v in settings.headers.items()]
    try:
        response = await httpclient.fetch(
            url, headers=headers, trace=trace, verify=settings.verify_tls,
            context=lambda: tlsinfo.client_context(settings.verify_tls, settings.ca_file),
            max_body_bytes=settings.max_body_bytes, keep_body=True, max_redirects=settings.max_redirects)
    except TimeoutError:
        raise Failure("timeout", f"{trace.phase} not done ({trace.url or url})") from None
    except OSError as exc:
        raise Failure("protocol", f"connection failed during {trace.phase}: {exc}") from None
    measurements = {"total_seconds": time.perf_counter() - started, "body_bytes": float(trace.body_bytes),
                    "status_code": float(response.status)}
    if trace.cert_expiry_timestamp_seconds is not None:
        measurements["tls_cert_expiry_timestamp_seconds"] = trace.cert_expiry_timestamp_seconds
    if not 200 <= response.status < 300:
        raise Failure("status", f"got {response.status} {response.reason} from {response.url}, expected 2xx")
    return Fetched(response, measurements)


def analyse(body: bytes, url: str, content_type: str | None, profile: Profile) -> tuple[Page, Fingerprint]:
    page = fp.parse(body, url, content_type)
    return page, fp.fingerprint(page, profile)


async def probe(target: Target, settings: Settings, timeout_seconds: float,
                context: ProbeContext | None = None) -> Outcome:
    """One page, or every member site concurrently within the same deadline (one child each)."""
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    repo = context.baselines if context is not None else None
    if len(settings.pages) == 1:
        return await check_page(target, settings, settings.pages[0], repo, deadline, timeout_seconds)
    limit = asyncio.Semaphore(MEMBER_CONCURRENCY)

    async def one(url: httpclient.Url) -> Outcome:
        async with limit:
            return await check_page(target, settings, url, repo, deadline, timeout_seconds)

    outcomes = await asyncio.gather(*(one(u) for u in settings.pages))
    children = {child_suffix(settings, u): o for u, o in zip(settings.pages, outcomes)}
    failed = sorted(((u, o) for u, o in zip(settings.pages, outcomes) if not o.ok), key=lambda uo: _rank(uo[1].error))
    measurements = {"findings": float(sum(o.measurements.get("findings", 0.0) for o in outcomes)),
                    "sites": float(len(outcomes)), "sites_failed": float(len(failed))}
    # The parent is the group's summary row: each member site is its own derived check and pages
    # on its own, so a defaced member is reported once, not twice.
    if failed:
        listed = "; ".join(f"{u.host}: {o.error}" for u, o in failed[:5])
        detail = f"{len(failed)} of {len(outcomes)} sites failed: {listed}"
    else:
        detail = f"{len(outcomes)} sites pass"
    return Outcome(ok=True, detail=tlsinfo.clean_detail(detail, DETAIL_CHARS), measurements=measurements,
                   children=MappingProxyType(children))


def _rank(error: str | None) -> int:
    return fp.SEVERITY.index(error) if error in fp.SEVERITY else len(fp.SEVERITY)


async def check_page(target: Target, settings: Settings, url: httpclient.Url, repo: baselines.Baselines | None,
                     deadline: float, timeout_seconds: float) -> Outcome:
    try:
        async with asyncio.timeout_at(deadline):
            fetched = await fetch_page(settings, url)
    except Failure as failure:
        return failure.outcome()
    except TimeoutError:
        return Outcome(ok=False, error="timeout", detail=f"{url} not fetched within {timeout_seconds:g}s")
    response = fetched.response
    measurements = fetched.measurements
    try:
        async with asyncio.timeout_at(deadline):
            page, current = await asyncio.to_thread(analyse, response.body, str(response.url),
                                                    response.header("content-type"), settings.profile)
    except TimeoutError:
        return Outcome(ok=False, error="timeout", measurements=measurements,
                       detail=f"{url} fetched but not analysed within {timeout_seconds:g}s")
    key = (target.id, str(url))
    seen = (target.id, f"{url} {settings.profile.digest()}")   # checks of one page with other selectors
    try:
        baseline = await asyncio.to_thread(repo.get, *key) if repo is not None else None
    except (*DB_ERRORS, zlib.error, ValueError) as exc:
        # A broken store must not hide a defacement: judge by the rules alone and say why.
        return _rules_only(page, settings, measurements, key, url, f"baseline store unreadable: {exc}")
    now = time.time()
    findings = fp.check_rules(page, settings.rules)
    reason = _rebaseline_reason(settings, repo, baseline, now)
    if reason and not findings:
        assert repo is not None
        try:
            await asyncio.to_thread(repo.put, target.id, str(url), response.body, response.header("content-type"),
                                    {settings.profile.digest(): current}, now, f"netwatch ({reason})")
        except DB_ERRORS as exc:
            return _rules_only(page, settings, measurements, key, url, f"cannot store the baseline: {exc}")
        summary = f"baseline taken for {url} ({reason})"
        event = Event("baseline", summary, {"url": str(url), "reason": reason, "title": current.title})
        measurements["findings"] = 0.0
        return _with_tls(settings, Outcome(ok=True, detail=summary, measurements=measurements, events=(event,)), now)
    if baseline is None:
        verdict = Verdict(tuple(findings), None, ())
    else:
        base = baseline.fingerprints.get(settings.profile.digest())
        if base is None:
            base = await asyncio.to_thread(_refingerprint, repo, baseline, settings.profile)
        verdict = fp.compare(base, current, page, settings.rules)
        measurements["text_change_ratio"] = verdict.change_ratio or 0.0
        measurements["baseline_age_seconds"] = max(0.0, now - baseline.taken_at)
    measurements["findings"] = float(len(verdict.findings))
    if verdict.findings:
        return _defaced(seen, url, verdict, measurements, repo)
    if repo is not None:
        repo.reported.pop(seen, None)
    if baseline is None:
        why = ("no baseline store" if repo is None else "read-only baselines" if not repo.writable
               else "baseline_on_first_run is off")
        return Outcome(ok=True, degraded="no_baseline", measurements=measurements,
                       detail=f"rules pass; no baseline for {url} yet ({why}): run netwatch baseline")
    ratio = verdict.change_ratio or 0.0
    return _with_tls(settings, Outcome(ok=True, measurements=measurements,
                                       detail=f"matches the baseline ({ratio:.1%} of the text changed)"), now)


def _rules_only(page: Page, settings: Settings, measurements: dict[str, float], key: tuple[str, str],
                url: httpclient.Url, why: str) -> Outcome:
    findings = fp.check_rules(page, settings.rules)
    measurements["findings"] = float(len(findings))
    if findings:
        return _defaced(key, url, Verdict(tuple(findings), None, ()), measurements, None)
    return Outcome(ok=True, degraded="no_baseline", measurements=measurements,
                   detail=tlsinfo.clean_detail(f"rules pass; {why}", 300))


def _rebaseline_reason(settings: Settings, repo: baselines.Baselines | None, baseline: baselines.Baseline | None,
                       now: float) -> str | None:
    if repo is None or not repo.writable:
        return None
    if baseline is None:
        return "first run" if settings.baseline_on_first_run else None
    if settings.baseline_at_phase:
        phase = repo.phase_at(now)
        if phase is not None and phase.id == settings.baseline_at_phase and baseline.taken_at < phase.start:
            return f"start of phase {phase.id}"
    return None


def _refingerprint(repo: baselines.Baselines | None, baseline: baselines.Baseline, profile: Profile) -> Fingerprint:
    """The check's selectors changed since approval: read the approved page again with the new ones."""
    _, base = analyse(baseline.body, baseline.url, baseline.content_type, profile)
    if repo is not None:
        repo.add_fingerprint(baseline.target_id, baseline.url, profile.digest(), base)
    return base


def _defaced(key: tuple[str, str], url: httpclient.Url, verdict: Verdict, measurements: dict[str, float],
             repo: baselines.Baselines | None) -> Outcome:
    detail = tlsinfo.clean_detail("; ".join(f.summary for f in verdict.findings), DETAIL_CHARS)
    digest = hashlib.sha256(repr((verdict.findings, verdict.diff)).encode()).hexdigest()[:16]
    events: tuple[Event, ...] = ()
    if repo is None or repo.reported.get(key) != digest:
        if repo is not None:
            repo.reported[key] = digest
        events = (Event("defacement", tlsinfo.clean_detail(f"{url}: {verdict.findings[0].summary}", 300), {
            "url": str(url), "error": verdict.error, "digest": digest,
            "findings": [{"error": f.error, "summary": f.summary} for f in verdict.findings],
            "change_ratio": verdict.change_ratio, "diff": list(verdict.diff),
        }),)
    return Outcome(ok=False, error=verdict.error, detail=detail, measurements=measurements, events=events)


def _with_tls(settings: Settings, outcome: Outcome, now: float) -> Outcome:
    error, degraded, detail = certs.judge_expiry(outcome.measurements.get("tls_cert_expiry_timestamp_seconds"),
                                                 now, settings.tls_warn_days, settings.tls_critical_days)
    if error:
        return Outcome(ok=False, error=error, detail=detail, measurements=outcome.measurements, events=outcome.events)
    if degraded:
        return Outcome(ok=True, degraded=degraded, detail=f"{outcome.detail}; {detail}",
                       measurements=outcome.measurements, events=outcome.events)
    return outcome


__all__ = ["KIND", "MEASUREMENTS", "Settings", "probe", "fetch_page", "analyse", "child_suffix", "Finding"]


CONTRACT = ProbeKind(
    kind=KIND,
    settings=Settings,
    measurements=MEASUREMENTS,
    probe=probe,
    concurrency=CONCURRENCY,
    latency=LATENCY,
)
