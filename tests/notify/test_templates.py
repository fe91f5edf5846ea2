"""Notice texts: key facts present, markup escaped per service, device text capped."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from netwatch.notify import templates
from netwatch.notify.senders import _native_request, parse_retry_after

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
FACTS = {"kind": "problem", "incident": 12, "check": "core-router/icmp", "target": "core-router",
         "target_name": "Core <R1>", "zone": "hall", "zone_name": "Hội trường", "state": "down",
         "since": 1765674000.0, "error": "timeout", "detail": "<script>*x*</script>\x1b[2J" + "y" * 5000,
         "severity": "critical", "category": "availability", "dependants": 40}


@pytest.mark.parametrize("markup, must, must_not", [
    ("html", "Core &lt;R1&gt;", "<script>"),
    ("slack", "&lt;script&gt;", "<script>"),
    ("markdown", "\\*x\\*", "*x*"),
])
def test_chat_escapes_per_service(markup: templates.Markup, must: str, must_not: str) -> None:
    _, body = templates.chat([FACTS], "en", markup, TZ)
    assert must in body and must_not not in body
    assert "\x1b" not in body


def test_chat_has_what_where_when_class_dependants_id_and_ack_hint() -> None:
    title, body = templates.chat([FACTS], "vi", "text", TZ)
    assert title == "SỰ CỐ MẤT KẾT NỐI #12: core-router/icmp"
    for part in ("Hội trường / Core <R1>", "08:00:00 14/12", "Lỗi: timeout", "40 đối tượng phụ thuộc",
                 "netwatch ack 12", "nghiêm trọng/khả dụng"):
        assert part in body, part
    assert len(body) < templates.DETAIL_CHAT_CHARS + 600


def test_group_lists_every_item_once() -> None:
    items = [{**FACTS, "incident": i, "check": f"sw{i}/icmp"} for i in range(1, 41)]
    title, body = templates.chat(items, "en", "text", TZ)
    assert title == "PROBLEM: 40 items (zone Hội trường)"
    assert body.count("\n- ") == templates.MAX_LIST_ITEMS and "and 10 more" in body


def test_sms_fits_one_segment_in_gsm7_with_key_facts() -> None:
    out = templates.sms_text([FACTS], "vi", 1, True, TZ)
    assert out.segments == 1 and out.encoding == "gsm7"
    assert out.text.startswith("SU CO MAT KET NOI #12: core-router/icmp 08:00 14/12 khu vuc Hoi truong")


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
