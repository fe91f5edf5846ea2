"""The cause catalogue covers every error and degraded class the probes and protocol clients can return."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from netwatch import causes
from netwatch.net import tls

ROOT = Path(__file__).resolve().parents[2] / "netwatch"
SOURCES = [*sorted((ROOT / "probes").rglob("*.py")), *sorted((ROOT / "net").rglob("*.py")),
           ROOT / "runner.py", ROOT / "egov" / "fingerprint.py"]

# Every way the sources name an error class: exception constructors, Outcome fields, defaults of helpers.
ERROR_PATTERNS = [
    re.compile(r"\b(?:Failure|SnmpError|StepFailure|_Failure|Finding)\(\s*\"([a-z_0-9]+)\""),
    re.compile(r"\berror=\"([a-z_0-9]+)\""),
    re.compile(r"\.fail\(\s*\"([a-z_0-9]+)\""),
    re.compile(r"\bfailed\(\s*\"([a-z_0-9]+)\""),
    re.compile(r"\bok_error=\"([a-z_0-9]+)\""),
    re.compile(r"\berror: str = \"([a-z_0-9]+)\""),
    re.compile(r"self\.expect\(.*, \"([a-z_0-9]+)\"\)$", re.M),  # mail.expect(text, codes, what, "mail_rejected")
    re.compile(r"return \"(tls_[a-z_]+)\", None"),             # certs.judge_expiry's error
    re.compile(r"^\s+error = \"([a-z_0-9]+)\"", re.M),
    re.compile(r"_outcome\(last, \"([a-z_0-9]+)\""),            # SNMP interface children
]
DEGRADED_PATTERNS = [
    re.compile(r"\bdegraded=\"([a-z_0-9]+)\""),
    re.compile(r"\bdegraded\.append\(\"([a-z_0-9]+)\"\)"),
    re.compile(r"return None, \"([a-z_0-9]+)\""),              # certs.judge_expiry's warning
]


def _found(patterns: list[re.Pattern[str]], paths: list[Path]) -> set[str]:
    out: set[str] = set()
    for path in paths:
        text = path.read_text()
        for pattern in patterns:
            out.update(pattern.findall(text))
    return out


def test_enumeration_finds_the_known_classes() -> None:
    # guards the regexes themselves: if a pattern stops matching, this fails before coverage silently shrinks
    errors = _found(ERROR_PATTERNS, SOURCES)
    assert {"timeout", "refused", "status", "content", "snmp_auth", "if_down", "mail_rejected", "tls_expiring",
            "host_key_changed", "config_drift", "forbidden_content", "internal", "mailbox", "auth"} <= errors
    degraded = _found(DEGRADED_PATTERNS, SOURCES)
    assert {"warn_response_seconds", "rtt", "cpu", "tls_cert_expiry", "utilisation"} <= degraded


def test_every_error_class_has_vi_and_en() -> None:
    classes = _found(ERROR_PATTERNS, SOURCES) | set(tls._VERIFY_CLASSES.values()) | {"tls_untrusted", "tls_hostname"}
    missing = sorted(c for c in classes if c not in causes.ERRORS)
    assert not missing, f"error classes without words in netwatch/causes.py: {missing}"
    for name in classes:
        c = causes.ERRORS[name]
        assert c.vi.strip() and c.en.strip() and c.vi != c.en, name
        assert c.category in causes.CATEGORY_ORDER


def test_every_degraded_class_has_vi_and_en() -> None:
    classes = _found(DEGRADED_PATTERNS, SOURCES)
    missing = sorted(c for c in classes if c not in causes.DEGRADED)
    assert not missing, f"degraded classes without words in netwatch/causes.py: {missing}"
    for name in classes:
        assert causes.DEGRADED[name].vi.strip() and causes.DEGRADED[name].en.strip()


def test_every_category_has_words() -> None:
    for lang in ("vi", "en"):
        for cat in causes.CATEGORY_ORDER:
            assert causes.category_words(cat, lang)


@pytest.mark.parametrize("error, detail, vi, en", [
    (None, "200 OK in 0.606s, slower than 0.3s", "phản hồi chậm (phản hồi 0,606 s, ngưỡng 0,3 s)",
     "slow response (response 0.606 s, threshold 0.3 s)"),
    ("timeout", "banner not done within 4s", "không phản hồi trong thời hạn (chờ quá 4 s)",
     "no answer in time (no answer within 4 s)"),
    ("status", "got 500 Internal Server Error from http://127.0.0.1:8080/, expected 200-399",
     "trang web báo lỗi (máy chủ trả mã 500, cần 200-399)",
     "website returned an error (server answered 500, expected 200-399)"),
    ("tls_expiring", "certificate expires in 2.5 days (2026-12-05 10:00 UTC), critical below 7 days",
     "chứng chỉ số sắp hết hạn, cần gia hạn ngay (còn 2,5 ngày, ngưỡng nguy cấp 7 ngày)",
     "certificate expires very soon, renew now (2.5 days left, critical below 7 days)"),
    ("status", "got 503 Service Unavailable from https://127.0.0.1:1/, expected 2xx",
     "trang web báo lỗi (máy chủ trả mã 503, cần 2xx)",
     "website returned an error (server answered 503, expected 2xx)"),
    ("status", "got 404 Not Found from http://127.0.0.1:1/a, expected 200, 204",
     "trang web báo lỗi (máy chủ trả mã 404, cần 200, 204)",
     "website returned an error (server answered 404, expected 200, 204)"),
    ("content_changed", "42% of the text differs", "trang bị thay đổi giao diện so với bản gốc",
     "page differs from the approved baseline"),
])
def test_describe_keeps_numbers(error: str | None, detail: str, vi: str, en: str) -> None:
    degraded = None if error else "warn_response_seconds"
    assert causes.describe(error, detail, "vi", degraded) == vi
    assert causes.describe(error, detail, "en", degraded) == en


def test_degraded_lists_and_unknowns_stay_in_words() -> None:
    assert causes.cause_words(None, "cpu,memory", "vi") == "tải bộ xử lý cao, bộ nhớ gần đầy"
    # an SNMP extra OID name or an Alertmanager alert name is a config key: never shown as the cause
    assert causes.cause_words(None, "ups_battery", "vi") == "chỉ số vượt ngưỡng cảnh báo"
    assert causes.cause("HighLatency").vi == "lỗi chưa phân loại"
    assert causes.cause("content_changed").category == "security"
    assert causes.is_security("host_key_changed") and not causes.is_security("timeout")
    assert causes.sort_key("content_changed") < causes.sort_key("timeout") < causes.sort_key(None, "cpu")


def test_egov_names_are_a_view_of_the_catalogue() -> None:
    from netwatch import egov
    assert egov.ERROR_NAMES["vi"]["content_changed"] == causes.ERRORS["content_changed"].vi
    for name in egov.SECURITY_ERRORS:
        assert causes.cause(name).category == "security"


def test_every_snmp_malformation_has_words() -> None:
    """Each way an SNMP answer can be malformed (issue 13) fails as `protocol` with a detail that the
    catalogue words in both languages; the details come from the code that raises them."""
    from netwatch.net.snmp import ber, client, oids
    from netwatch.probes import snmp

    details = []
    msg = ber.encode_message(ber.Message(ber.V2C, b"c", ber.RESPONSE, 7, varbinds=[(oids.SYS_UPTIME, ber.TIMETICKS, 5)]))
    for raw in (msg[:len(msg) // 2], msg[:-3] + b"\x4f\x01\x01"):
        with pytest.raises(ber.BerError) as info:
            ber.decode_message(raw)
        details.append(client.malformed(info.value, ("127.0.0.1", 161)).detail)   # example
    good = {oids.IF_ADMIN_STATUS: {(1,): (ber.INTEGER, 1)}, oids.IF_OPER_STATUS: {(1,): (ber.INTEGER, 1)}}
    for column, cells in ((oids.IF_OPER_STATUS, {(1,): (ber.OCTET_STRING, b"up")}),
                          (oids.IF_ADMIN_STATUS, {(1,): (ber.NULL, None)}),
                          (oids.IF_OPER_STATUS, {(1,): (ber.INTEGER, 9)}),
                          (oids.IF_NAME, {(1, 2): (ber.OCTET_STRING, b"x")}),
                          (oids.IF_OPER_STATUS, {(1,): (ber.INTEGER, 1), (2,): (ber.INTEGER, 1)}),
                          (oids.IF_ADMIN_STATUS, {(1,): (ber.INTEGER, 1), (2,): (ber.INTEGER, 1)})):
        with pytest.raises(client.SnmpError) as err:
            snmp.interfaces_of({**good, column: cells}, {})
        assert err.value.error == "protocol"
        details.append(err.value.detail)
    assert len(set(details)) == len(details)
    for detail in details:
        vi, en = (causes.describe("protocol", detail, lang) for lang in ("vi", "en"))
        assert vi != causes.ERRORS["protocol"].vi and en != causes.ERRORS["protocol"].en, detail
        assert vi.isascii() is False and en.isascii(), (vi, en)
