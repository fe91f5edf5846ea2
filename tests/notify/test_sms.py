"""SMS text tables: không dấu, GSM-7 detection, segment counting, fitting without losing key facts."""

from __future__ import annotations

import pytest

from netwatch.notify import sms


@pytest.mark.parametrize("text, expected", [
    ("Mất kết nối", "Mat ket noi"),
    ("Đà Nẵng đường dây", "Da Nang duong day"),
    ("Hội trường – phòng họp Tổ “A”…", "Hoi truong - phong hop To \"A\"..."),
    ("ĐẠI HỘI ĐẢNG BỘ TỈNH", "DAI HOI DANG BO TINH"),
    ("plain ascii", "plain ascii"),
])
def test_strip_diacritics(text: str, expected: str) -> None:
    assert sms.strip_diacritics(text) == expected
    assert sms.is_gsm7(sms.strip_diacritics(text))


@pytest.mark.parametrize("text, encoding, units, segments", [
    ("a" * 160, "gsm7", 160, 1),
    ("a" * 161, "gsm7", 161, 2),
    ("a" * 306, "gsm7", 306, 2),
    ("a" * 307, "gsm7", 307, 3),
    ("[" * 80, "gsm7", 160, 1),           # extension characters take two septets
    ("€" * 81, "gsm7", 162, 2),
    ("é" * 160, "gsm7", 160, 1),          # é is in the GSM-7 basic set
    ("ấ" * 70, "ucs2", 70, 1),
    ("ấ" * 71, "ucs2", 71, 2),
    ("ấ" * 134, "ucs2", 134, 2),
    ("ấ" * 135, "ucs2", 135, 3),
    ("a" * 69 + "😀", "ucs2", 71, 2),     # a surrogate pair is two UCS-2 units
])
def test_units_and_segments(text: str, encoding: str, units: int, segments: int) -> None:
    assert sms.units(text) == (encoding, units)
    assert sms.segments(text) == segments


@pytest.mark.parametrize("max_segments, strip", [(1, True), (1, False), (2, True), (2, False), (3, False)])
def test_fit_keeps_key_facts_and_the_limit(max_segments: int, strip: bool) -> None:
    key = "SỰ CỐ MẤT KẾT NỐI #123: core-router/icmp 08:01 14/12"
    detail = "interface Gi0/1 lỗi CRC " * 300
    out = sms.fit(key, detail, max_segments, strip)
    assert out.segments <= max_segments
    expected_key = sms.strip_diacritics(key) if strip else key
    assert out.text.startswith(expected_key)
    assert out.text.endswith(("...", "…"))
    assert out.encoding == ("gsm7" if strip else "ucs2")


def test_fit_short_text_untouched_and_oversized_key_cut_visibly() -> None:
    assert sms.fit("DOWN #1 web", "refused", 1, False).text == "DOWN #1 web refused"
    out = sms.fit("K" * 400, "", 1, False)
    assert out.segments == 1 and out.text.endswith("...") and len(out.text) == 160


def test_fit_strip_replaces_what_gsm7_cannot_carry() -> None:
    out = sms.fit("DOWN #1", "北京 😀 ok", 1, True)
    assert out.encoding == "gsm7" and out.text == "DOWN #1 ?? ? ok"
