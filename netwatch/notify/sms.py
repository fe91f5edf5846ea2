"""SMS text: không dấu (diacritics stripped), GSM-7 / UCS-2 detection, segment counting, fitting."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# GSM 03.38 basic character set (one septet each) and the extension table (escape + one septet).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

_SPECIAL = {"đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "\u2013": "-", "\u2014": "-", "\u2018": "'",
            "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2026": "...", "\u00a0": " ", "\u00b7": "-"}


def strip_diacritics(text: str) -> str:
    """Vietnamese without marks (không dấu): 'Mất kết nối Đà Nẵng' -> 'Mat ket noi Da Nang'."""
    text = "".join(_SPECIAL.get(ch, ch) for ch in text)
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def units(text: str) -> tuple[str, int]:
    """('gsm7', septets) or ('ucs2', UTF-16 code units)."""
    if is_gsm7(text):
        return "gsm7", sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    return "ucs2", len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    """How many SMS a text needs: 160/153 septets (GSM-7) or 70/67 code units (UCS-2)."""
    encoding, n = units(text)
    single, multi = (160, 153) if encoding == "gsm7" else (70, 67)
    if n <= single:
        return 1
    return -(-n // multi)


def capacity(encoding: str, max_segments: int) -> int:
    single, multi = (160, 153) if encoding == "gsm7" else (70, 67)
    return single if max_segments == 1 else multi * max_segments


@dataclass(frozen=True)
class SmsText:
    text: str
    encoding: str
    segments: int


def fit(key: str, extra: str, max_segments: int, strip: bool) -> SmsText:
    """Join the key facts and the extra text into at most max_segments SMS.

    The extra (details) is cut first, with an ellipsis; the key facts (state, what, incident id)
    are cut only when they alone do not fit, and then from their end, never silently dropped
    whole. Device text never decides the encoding on its own: with `strip`, both parts are
    made GSM-7-safe, and characters still outside GSM-7 are replaced by '?'.
    """
    if strip:
        key, extra = _gsm_safe(strip_diacritics(key)), _gsm_safe(strip_diacritics(extra))
    key = " ".join(key.split())
    extra = " ".join(extra.split())
    full = f"{key} {extra}".strip() if extra else key
    if segments(full) <= max_segments:
        return _sms(full)
    encoding = units(full)[0]
    ellipsis = "..." if encoding == "gsm7" else "…"
    room = capacity(encoding, max_segments)
    key_units = units(key)[1] if encoding == "gsm7" else len(key.encode("utf-16-le")) // 2
    if key_units + 1 + len(ellipsis) <= room:
        cut = _cut_to_units(extra, room - key_units - 1 - len(ellipsis), encoding)
        return _sms(f"{key} {cut}{ellipsis}" if cut else key)
    return _sms(_cut_to_units(key, room - len(ellipsis), encoding) + ellipsis)


def _sms(text: str) -> SmsText:
    encoding, _ = units(text)
    return SmsText(text, encoding, segments(text))


def _cut_to_units(text: str, budget: int, encoding: str) -> str:
    out, used = [], 0
    for ch in text:
        cost = (2 if ch in GSM7_EXTENSION else 1) if encoding == "gsm7" else len(ch.encode("utf-16-le")) // 2
        if used + cost > budget:
            break
        out.append(ch)
        used += cost
    return "".join(out).rstrip()


def _gsm_safe(text: str) -> str:
    return "".join(ch if ch in GSM7_BASIC or ch in GSM7_EXTENSION else "?" for ch in text)
