"""Notices: one structure per kind, rendered per channel; golden texts in vi and en, digests that add up."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from netwatch.notify import message, templates
from netwatch.notify.senders import _native_request, parse_retry_after

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = 1765674000.0            # 08:00:00 14/12 site time
GOLDEN = Path(__file__).parent / "golden" / "messages.txt"
BASE: dict[str, Any] = {
    "incident": 12, "check": "core-router/icmp", "check_kind": "icmp", "target": "core-router",
    "target_name": "Bộ định tuyến lõi", "zone": "hall", "zone_name": "Hội trường", "since": T0,
    "severity": "critical", "category": "availability", "told": ["duty-sms", "duty-chat"],
    "told_words": ["Lan (SMS)", "nhóm trực (Telegram)"], "on_duty": ["Lan"], "sms_reply": True,
}
KINDS: dict[str, dict[str, Any]] = {
    "problem": {**BASE, "kind": "problem", "state": "down", "error": "timeout", "dependants": 40,
                "detail": "no echo reply from 127.0.0.1 to 3 requests within 4s"},
    "problem_http": {**BASE, "kind": "problem", "state": "down", "incident": 15, "target_name": "Cổng thông tin",
                     "zone_name": "Trung tâm báo chí", "error": "status",
                     "detail": "got 500 Internal Server Error from http://127.0.0.1:8080/, expected 200-399"},
    "recovery": {**BASE, "kind": "resolved", "state": "up", "error": "timeout", "resolved_at": T0 + 725},
    "degraded": {**BASE, "kind": "problem", "state": "degraded", "incident": 13, "target_name": "Cổng thông tin",
                 "severity": "warning", "category": "performance", "detail": "warn_response_seconds",
                 "degraded": "warn_response_seconds", "measured": "200 OK in 0.606s, slower than 0.3s"},
    "flapping": {**BASE, "kind": "flapping", "state": "down", "error": "timeout"},
    "security": {**BASE, "kind": "problem", "state": "down", "incident": 14, "target_name": "Cổng thông tin",
                 "category": "security", "error": "content_changed", "detail": "42% of the text differs"},
    # one target fault: the defacement names it, the portal's http check failing with it is listed
    "security_fault": {**BASE, "kind": "problem", "state": "down", "incident": 17, "target_name": "Cổng thông tin",
                       "category": "security", "error": "content_changed", "detail": "42% of the text differs",
                       "also": [{"check": "portal/http", "state": "down", "error": "content"}]},
    "ack": {**BASE, "kind": "ack", "state": "down", "error": "timeout", "acked_by": "Lan",
            "note": "đang khởi động lại", "acked_at": T0 + 300},
    "escalation": {**BASE, "kind": "escalation", "level": 2, "state": "down", "error": "timeout", "at": T0 + 600,
                   "not_answered": ["Lan (SMS)"]},
    "reminder": {**BASE, "kind": "reminder", "state": "down", "error": "timeout", "at": T0 + 1800},
    "unreachable": {**BASE, "kind": "problem", "state": "unreachable", "incident": 16, "target_name": "Switch báo chí",
                    "cause": "core-router", "cause_name": "Bộ định tuyến lõi", "told_words": [], "on_duty": []},
    "monitoring": {"kind": "degraded", "detail": "scheduler lag 42.5s", "title": "Kỳ họp HĐND"},
    # a device reboot: its own short notice, no incident (nothing is down)
    "reboot": {**{k: v for k, v in BASE.items() if k not in ("incident", "severity", "category", "check")},
               "kind": "reboot", "at": T0 + 21720, "uptime_before": 3 * 86400 + 4 * 3600 + 600, "source": "trap"},
}
DIGEST = [KINDS["problem_http"], KINDS["degraded"], KINDS["security"], KINDS["problem"],
          {**KINDS["problem"], "kind": "resolved", "state": "up", "resolved_at": T0 + 725},
          {**KINDS["recovery"], "incident": 9, "target_name": "AP khách sạn", "since": T0 - 120, "resolved_at": T0 + 5}]
CHATS: dict[str, str] = {"telegram": "html", "slack": "slack", "discord": "markdown", "teams": "markdown",
                         "email": "text"}


def render_all() -> str:
    out: list[str] = []
    for lang in ("vi", "en"):
        for name, facts in [*KINDS.items(), ("digest", None)]:
            items = DIGEST if facts is None else [facts]
            for service, markup in CHATS.items():
                title, body = templates.chat(items, lang, markup, TZ)  # type: ignore[arg-type]
                out.append(f"=== {lang} {name} {service}\n{title}\n{body}")
            sms = templates.sms_text(items, lang, 1, True, TZ)
            out.append(f"=== {lang} {name} sms-1\n{sms.text}  [{sms.encoding} {sms.segments}]")
            sms = templates.sms_text(items, lang, 3, False, TZ)
            out.append(f"=== {lang} {name} sms-3\n{sms.text}  [{sms.encoding} {sms.segments}]")
    return "\n".join(out) + "\n"


def test_golden_texts_per_kind_language_and_channel() -> None:
    """Review the diff of tests/notify/golden/messages.txt when wording changes (NETWATCH_UPDATE_GOLDEN=1)."""
    text = render_all()
    if os.environ.get("NETWATCH_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


# Vietnamese words that are plain ASCII: allowed in vi messages. Anything else ASCII and longer than a
# unit or an acronym is taken for English (or a config key) leaking into a Vietnamese text.
VI_ASCII = set("""
    co su ket noi ban ho tro khu vuc tu tin thu qua kenh he thong giam sat truc va muc khac con da an ninh
    khoi phuc luc gian doan phut giay gio nhan xu ly tren bang trang thai tra loi de ngay nguong cho lai
    nguoi ghi chu chua ai sau trong thoi han phan hoi cham bao lan nhom cong thong dinh tuyen loi tai
    trung tam chi hoi truong khach san ly do nguyen nhan thiet bi cap mat anh huong phu thuoc the tong hop
    dang mo on chap chon nhac chuyen suy giam canh khan hien tren gui thay doi giao dien voi goc duoc
    lich kiem tra tre bi web cao dung gia khung mong nguy quy sai tay theo cung
""".split())
NAMES = {"Lan", "AP", "Switch", "OK", "SMS", "Telegram"}


def _english_words(text: str) -> list[str]:
    from netwatch.notify.sms import strip_diacritics
    bad = []
    for word in re.findall(r"[A-Za-zÀ-ỹĐđ]+", text):
        if word in NAMES or word.isupper() and len(word) <= 4:
            continue
        if word.isascii() and len(word) > 2 and strip_diacritics(word).lower() not in VI_ASCII:
            bad.append(word)
    return bad


@pytest.mark.parametrize("name", [*KINDS, "digest"])
def test_no_english_words_in_vietnamese_messages(name: str) -> None:
    items = DIGEST if name == "digest" else [KINDS[name]]
    texts = [*templates.chat(items, "vi", "text", TZ), templates.sms_text(items, "vi", 3, False, TZ).text]
    for text in texts:
        assert not _english_words(text), (_english_words(text), text)


def test_the_whole_vietnamese_catalogue_is_vietnamese() -> None:
    from netwatch import causes
    texts = [c.vi for c in (*causes.ERRORS.values(), *causes.DEGRADED.values(), *causes.STATES.values(),
                            causes.UNKNOWN, causes.UNKNOWN_DEGRADED)]
    texts += [*causes.CATEGORY_WORDS["vi"].values(), *message.WORDS["vi"].values()]
    texts += [t["vi"] for patterns in causes._TEMPLATES.values() for _, t in patterns]
    for text in texts:
        words = _english_words(re.sub(r"\{\w*\}", "", text))
        assert not words, (words, text)


def test_the_scan_catches_english() -> None:
    # the old texts: "Lỗi: timeout", "Chi tiết: no SNMP answer from ...", "warn_response_seconds"
    assert _english_words("Lỗi: timeout. Chi tiết: no SNMP answer") == ["timeout", "answer"]
    assert _english_words("SUY GIẢM: warn_response_seconds") == ["warn", "response", "seconds"]


def test_every_failure_is_not_loss_of_connection() -> None:
    words = {name: templates.chat([KINDS[name]], "vi", "text", TZ)[0] for name in
             ("problem", "problem_http", "security", "degraded")}
    assert "mất kết nối" in words["problem"]
    assert "lỗi dịch vụ" in words["problem_http"] and "mất kết nối" not in words["problem_http"]
    assert words["security"].startswith("CẢNH BÁO AN NINH #14")
    assert "chậm" in words["degraded"]
    sms = templates.sms_text([KINDS["security"]], "vi", 1, True, TZ).text
    assert sms.startswith("CANH BAO AN NINH #14") and "thay doi giao dien" in sms


def test_degraded_keeps_measured_against_threshold() -> None:
    _, body = templates.chat([KINDS["degraded"]], "vi", "text", TZ)
    assert "phản hồi 0,606 s, ngưỡng 0,3 s" in body and "warn_response_seconds" not in body
    _, body = templates.chat([KINDS["degraded"]], "en", "text", TZ)
    assert "response 0.606 s, threshold 0.3 s" in body


def test_recovery_says_when_and_how_long_not_the_old_error() -> None:
    title, body = templates.chat([KINDS["recovery"]], "vi", "text", TZ)
    assert title == "ĐÃ KHÔI PHỤC #12: Bộ định tuyến lõi (Hội trường)"
    assert "Khôi phục lúc 08:12 14/12, gián đoạn 12 phút 5 giây" in body
    assert "không phản hồi" not in body and "Nguyên nhân" not in body
    sms = templates.sms_text([KINDS["recovery"]], "vi", 1, True, TZ).text
    assert "Khoi phuc luc 08:12 14/12, gian doan 12 phut 5 giay" in sms


def test_notices_say_who_is_on_duty_who_was_told_and_who_did_not_answer() -> None:
    _, body = templates.chat([KINDS["problem"]], "vi", "text", TZ)
    assert "Trực ban: Lan" in body and "Đã báo: Lan (SMS), nhóm trực (Telegram)" in body
    _, body = templates.chat([KINDS["escalation"]], "vi", "text", TZ)
    assert "Chưa ai xác nhận sau 10 phút; chưa trả lời: Lan (SMS)" in body
    _, body = templates.chat([KINDS["ack"]], "vi", "text", TZ)
    assert "Người xử lý: Lan — Ghi chú: đang khởi động lại" in body


def test_ack_hint_is_a_link_in_chat_and_a_reply_in_sms() -> None:
    facts = {**KINDS["problem"], "ack_url": "https://noc.example/ack/TOKEN"}
    _, body = templates.chat([facts], "vi", "text", TZ)
    assert "Nhận xử lý: https://noc.example/ack/TOKEN" in body and "netwatch ack" not in body
    sms = templates.sms_text([KINDS["problem"]], "vi", 2, True, TZ).text
    assert 'Tra loi "OK 12" de nhan xu ly' in sms


def test_digest_adds_up_root_causes_first_each_incident_once() -> None:
    title, body = templates.chat(DIGEST, "vi", "text", TZ)
    # #12 arrived as a problem and then recovered: it counts once, as recovered
    assert title == "AN NINH · TỔNG HỢP: 3 sự cố mới, 2 đã khôi phục"
    lines = body.splitlines()
    items = [ln for ln in lines if ln.startswith("- ")]
    assert len(items) == 5 and sum("#12 " in ln for ln in items) == 1
    assert items[0].startswith("- CẢNH BÁO AN NINH #14") and items[-1].startswith("- ĐÃ KHÔI PHỤC")
    assert "từ 08:00 14/12" in items[0] and "(Hội trường)" in items[0]
    assert "Đang mở: #14 #15 #13" in body
    hints = [ln for ln in lines if ln.startswith(("Nhận xử lý", "Trả lời"))]
    assert hints == ['Trả lời "OK 14" để nhận xử lý']
    linked = [{**f, "ack_url": f"https://noc.example/ack/{f['incident']}"} for f in DIGEST]
    _, body = templates.chat(linked, "vi", "text", TZ)
    hints = [ln for ln in body.splitlines() if "https://" in ln]
    assert [h.split(":")[0] for h in hints] == ["#14", "#15", "#13"]


def test_root_cause_with_dependants_leads_the_digest() -> None:
    items = [KINDS["unreachable"], KINDS["degraded"], KINDS["problem"]]
    _, body = templates.chat(items, "en", "text", TZ)
    first = [ln for ln in body.splitlines() if ln.startswith("- ")]
    assert first[0].startswith("- PROBLEM #12") and first[-1].startswith("- AFFECTED #16")


@pytest.mark.parametrize("segments", [1, 2])
def test_sms_digest_stays_within_budget_and_says_how_many_were_left_out(segments: int) -> None:
    items = [{**KINDS["problem"], "incident": i, "target_name": f"Switch tầng {i}"} for i in range(1, 21)]
    out = templates.sms_text(items, "vi", segments, True, TZ)
    assert out.segments <= segments
    shown = len(re.findall(r"#\d+ ", out.text))
    assert out.text.startswith("TONG HOP: 20 su co moi.")
    assert f"+{20 - shown} muc khac" in out.text and not out.text.endswith("...")


def test_sms_key_facts_survive_one_segment() -> None:
    out = templates.sms_text([KINDS["problem"]], "vi", 1, True, TZ)
    assert out.segments == 1 and out.encoding == "gsm7"
    assert out.text.startswith("SU CO #12 - mat ket noi: Bo dinh tuyen loi (Hoi truong) tu 08:00 14/12.")


HOSTILE = {**KINDS["problem"], "target_name": "@everyone <b>sw</b> *x* [a](http://127.0.0.1/)\n#13 SU CO GIA",
           "zone_name": "\u202eevil\u202c zone", "acked_by": "<i>x</i>", "note": "line1\nline2 @here"}


@pytest.mark.parametrize("markup, must, must_not", [
    ("html", "&lt;b&gt;sw&lt;/b&gt;", "<b>sw"),
    ("markdown", "@\u200beveryone \\<b\\>sw\\</b\\> \\*x\\* \\[a\\]\\(http://127\\.0\\.0\\.1/\\)", "[a](http"),
    ("slack", "@\u200beveryone <b>sw</b>", "&amp;"),     # apprise escapes & < > for Slack: once, not twice
])
def test_device_text_is_escaped_on_every_line(markup: templates.Markup, must: str, must_not: str) -> None:
    for kind in ("problem", "ack"):
        facts = {**HOSTILE, "kind": kind}
        title, body = templates.chat([facts], "en", markup, TZ)
        assert must in body or must in templates.escape(title, markup)
        assert must_not not in body
        assert "\n#13" not in body and "\u202e" not in title + body
        assert "line1 line2" in body or kind != "ack"
    title, body = templates.chat([HOSTILE, KINDS["degraded"]], "en", markup, TZ)
    assert must in body and must_not not in body


def test_sms_flattens_device_newlines() -> None:
    out = templates.sms_text([HOSTILE], "vi", 3, True, TZ).text
    assert "\n" not in out and "\r" not in out
    assert out.startswith("SU CO #12 - mat ket noi: @everyone <b>sw</b>")


def test_unknown_classes_never_leak_config_keys() -> None:
    facts = {**KINDS["degraded"], "degraded": "ups_battery_low", "detail": "ups_battery_low", "measured": ""}
    title, body = templates.chat([facts], "vi", "text", TZ)
    assert "ups_battery" not in title + body and "chỉ số vượt ngưỡng cảnh báo" in body


def test_a_fault_lists_only_the_other_causes_once() -> None:
    """A 500 fails the portal's http and web_integrity checks alike: 'Cùng lúc' would only repeat the cause."""
    same = {**KINDS["problem_http"], "also": [{"check": "p/web_integrity", "error": "status"},
                                              {"check": "p/tls", "error": "status"}]}
    title, body = templates.chat([same], "vi", "text", TZ)
    assert "Cùng lúc" not in body
    mixed = {**same, "also": [*same["also"], {"check": "p/tcp", "error": "timeout"},
                              {"check": "p/x", "error": "timeout"}]}
    title, body = templates.chat([mixed], "vi", "text", TZ)
    assert "\nCùng lúc: không phản hồi trong thời hạn\n" in body


def test_message_kinds_from_facts() -> None:
    kinds = {name: message.from_facts(f).kind for name, f in KINDS.items()}
    assert kinds == {"problem": "problem", "problem_http": "problem", "recovery": "recovery",
                     "degraded": "degraded", "flapping": "flapping", "security": "security",
                     "security_fault": "security", "ack": "ack",
                     "escalation": "escalation", "reminder": "reminder", "unreachable": "unreachable",
                     "monitoring": "monitoring", "reboot": "reboot"}


@pytest.mark.parametrize("value, expected", [
    ("5", 5.0), ("0", 0.0), ("99999", 3600.0), ("soon", None), (None, None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
])
def test_retry_after(value: str | None, expected: float | None) -> None:
    now = 1445412470.0          # ten seconds before the date above
    assert parse_retry_after(value, now) == expected


def test_json_gateway_request_follows_apprise_url_form() -> None:
    method, url, headers, payload, encoding = _native_request(
        "json://user:p%40ss@127.0.0.1:9000/send?:to=0901&+X-Key=k&-version&method=put&x=1",
        "T", "B", "problem", "nw-1-problem")
    assert (method, url, encoding) == ("PUT", "http://127.0.0.1:9000/send?x=1", "json")
    assert headers["X-Key"] == "k" and headers["Authorization"] == "Basic dXNlcjpwQHNz"
    assert payload == {"title": "T", "message": "B", "type": "failure", "dedup_key": "nw-1-problem", "to": "0901"}


def test_a_lossy_link_is_a_poor_link_not_slow() -> None:
    """Packet loss above the warning: the title says the link is poor (the duty officer looks at the line),
    never "slow" (they would look for a slow server)."""
    lossy = {**BASE, "kind": "problem", "state": "degraded", "degraded": "packet_loss", "severity": "warning",
             "detail": "12 of 30 echoes in the last 10 runs lost (40%), above warn_loss_ratio 0.1"}
    for lang, poor, slow in (("vi", "đường truyền kém", "chậm"), ("en", "poor link", "slow")):
        title, body = templates.chat([lossy], lang, "text", TZ)
        assert poor in title and slow not in title, title
        assert ("mất gói tin" if lang == "vi" else "packet loss") in body
