"""Pure functions of page fingerprints: normalisation, regions, sources, text change, certificate days."""

from __future__ import annotations

import unicodedata

import pytest

from netwatch.fields import FieldError
from netwatch.egov import SECURITY_ERRORS, category_of
from netwatch.net import certs
from netwatch.egov import fingerprint as fp

PAGE = """<html><head><title> Cổng  thông tin </title>
<script src="/own.js"></script><script src="https://cdn.tinh.test/a.js"></script>
<link rel="stylesheet" href="https://fonts.test/f.css"><link rel="canonical" href="https://x.test/">
</head><body>
<div id="ticker">Tin lúc 08:00</div>
<main><h1>Đại hội</h1><p>Đoạn <b>một</b> có   khoảng trắng</p><p>Đoạn hai</p>
<div class="news"><p>Tin tức thay đổi</p></div></main>
<form action="tim-kiem"><input></form><form method="post" action="https://dvc.tinh.test/nop"></form>
<iframe src="//maps.test/embed"></iframe><object data="data:text/html,x"></object>
</body></html>"""


def page(html: str = PAGE, url: str = "https://portal.tinh.test/trang/") -> fp.Page:
    return fp.parse(html.encode(), url)


@pytest.mark.parametrize("raw,expected", [
    ("  a \n\t b  ", "a b"),
    (unicodedata.normalize("NFD", "Đại hội đại biểu"), "Đại hội đại biểu"),   # decomposed Vietnamese
    ("h\u200backed\u00ad by", "hacked by"),
    ("", ""),
])
def test_normalise(raw: str, expected: str) -> None:
    assert fp.normalise(raw) == expected


def test_fold_maps_fullwidth_and_case_but_keeps_diacritics() -> None:
    assert fp.fold("ＨＡＣＫＥＤ By") == "hacked by"
    assert fp.fold("Cờ Bạc") == "cờ bạc" and fp.fold("Cờ Bạc") != fp.fold("Có bác")


def test_fingerprint_reads_title_text_sources_and_forms() -> None:
    f = fp.fingerprint(page(), fp.Profile())
    assert f.title == "Cổng thông tin"
    assert f.blocks == ("Tin lúc 08:00", "Đại hội", "Đoạn một có khoảng trắng", "Đoạn hai", "Tin tức thay đổi")
    assert f.sources == (("iframe", "https://maps.test/embed"), ("link", "https://fonts.test/f.css"),
                         ("object", "data:text/html,x"), ("script", "https://cdn.tinh.test/a.js"),
                         ("script", "https://portal.tinh.test/own.js"))
    assert f.forms == ("GET https://portal.tinh.test/trang/tim-kiem", "POST https://dvc.tinh.test/nop")
    assert f.active_domains("portal.tinh.test") == {"maps.test", "data:", "cdn.tinh.test"}
    assert fp.Fingerprint.from_json(f.to_json()) == f


def test_include_and_ignore_regions() -> None:
    profile = fp.Profile(include=(fp.Selector.parse("main"), fp.Selector.parse("//main/h1")),
                         ignore=(fp.Selector.parse("div.news"),))
    assert fp.fingerprint(page(), profile).blocks == ("Đại hội", "Đoạn một có khoảng trắng", "Đoạn hai")
    assert profile.digest() != fp.Profile().digest()


@pytest.mark.parametrize("text", ["div[", "//p[", "xpath:)", ""])
def test_bad_selectors(text: str) -> None:
    with pytest.raises(ValueError):
        fp.Selector.parse(text)


def test_requirements() -> None:
    p = page()
    assert fp.Requirement.parse("main h1").met(p)
    assert fp.Requirement.parse("text:ĐẠI HỘI").met(p)
    assert not fp.Requirement.parse("#congress-banner").met(p)
    assert not fp.Requirement.parse("text:bế mạc").met(p)


@pytest.mark.parametrize("old,new,low,high", [
    (["a b c"], ["a b c"], 0.0, 0.0),
    (["a b c"], ["x y z"], 1.0, 1.0),
    ([], ["new"], 1.0, 1.0),
    (["một hai ba bốn năm sáu bảy tám chín mười"], ["một hai ba bốn năm sáu bảy tám chín MƯỜI"], 0.05, 0.15),
    (["p1 " * 20, "p2 " * 20, "p3 " * 20], ["p1 " * 20, "p2 " * 20, "p3 " * 20, "added"], 0.01, 0.1),
])
def test_text_change_ratio(old: list[str], new: list[str], low: float, high: float) -> None:
    ratio, _ = fp.text_change(old, new)
    assert low <= ratio <= high


def test_diff_is_capped_and_escaped() -> None:
    old = [f"dòng {i}" for i in range(100)]
    new = [f"\u202eđổi {i} " + "x" * 500 for i in range(100)]
    _, diff = fp.text_change(old, new)
    capped = fp.cap_diff(diff)
    assert len(capped) <= fp.DIFF_MAX_LINES + 1 and capped[-1].startswith("…")
    assert all("\u202e" not in line and len(line) <= fp.DIFF_LINE_CHARS + 2 for line in capped)


def test_compare_orders_findings_by_severity() -> None:
    base = fp.fingerprint(page(), fp.Profile())
    defaced_html = PAGE.replace("Đoạn hai", "hacked by x").replace('action="tim-kiem"', 'action="https://e.test/"')
    p = page(defaced_html)
    rules = fp.Rules(forbidden=(fp.fold("Hacked by"),), max_text_change_ratio=0.9)
    verdict = fp.compare(base, fp.fingerprint(p, fp.Profile()), p, rules)
    assert [f.error for f in verdict.findings] == ["forbidden_content", "form_changed"]
    assert verdict.error == "forbidden_content"
    assert set(fp.SEVERITY) == SECURITY_ERRORS


def test_security_category_table() -> None:
    assert category_of("content_changed") == "security"
    assert category_of("timeout") is None and category_of(None) is None


@pytest.mark.parametrize("days_left,error,degraded", [
    (60, None, None), (20, None, "tls_cert_expiry"), (3, "tls_expiring", None), (-1, "tls_expiring", None),
])
def test_certificate_days(days_left: float, error: str | None, degraded: str | None) -> None:
    now = 1_800_000_000.0
    got = certs.judge_expiry(now + days_left * 86400, now, 30, 7)
    assert got[:2] == (error, degraded)


def test_certificate_days_off_and_invalid() -> None:
    assert certs.judge_expiry(100.0, 0.0, 0, 0) == (None, None, "")
    assert certs.judge_expiry(None, 0.0, 30, 7) == (None, None, "")
    with pytest.raises(FieldError):
        certs.validate_days(5, 10)


from hypothesis import given, settings as hsettings, strategies as st  # noqa: E402


@hsettings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=3000),
                 st.text(max_size=2000).map(lambda t: f"<html><title>{t}</title><body><p>{t}</p>{t}".encode())))
def test_any_bytes_parse_and_compare_without_raising(body: bytes) -> None:
    p = fp.parse(body, "https://portal.tinh.test/")
    f = fp.fingerprint(p, fp.Profile(ignore=(fp.Selector.parse("p"),)))
    verdict = fp.compare(f, f, p, fp.Rules(forbidden=("hacked by",)))
    assert verdict.change_ratio == 0.0
    assert all(b.isprintable() or not b for b in (f.title,))
