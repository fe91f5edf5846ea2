"""The one cleaner for untrusted text (device answers, web pages, mail banners, trap varbinds)."""

from __future__ import annotations

_WHITESPACE = "\t\n\r\x0b\x0c"


def _shown(ch: str) -> str:
    if ch in _WHITESPACE:
        return " "
    return f"\\x{ord(ch):02x}" if ord(ch) < 256 else f"\\u{ord(ch):04x}"


def clean(text: str | bytes | bytearray | None, limit: int, *, show: bool = False, replacement: str = " ") -> str:
    """One line of untrusted text, safe to log, label, page or print, at most `limit` characters.

    Unsafe means not printable: C0/C1 controls, line and paragraph separators, zero-width and
    bidi controls (embeddings, overrides, isolates: they can reorder what a reader sees, "Trojan
    Source"), unassigned and private-use code points. Each becomes `replacement`, or with `show`
    an escape (`\\x1b`, `\\u202e`) so a reader sees it was there; whitespace controls become a
    space either way. Bytes are decoded as UTF-8 with replacement. Cut text ends with an ellipsis.
    """
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text[: limit * 4]).decode("utf-8", errors="replace")
    text = text[: limit * 2]
    if not text.isprintable():      # the common case costs one C-level scan
        text = "".join(ch if ch.isprintable() else _shown(ch) if show
                       else (" " if ch in _WHITESPACE and replacement else replacement) for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unsafe(text: str) -> bool:
    """True when text holds a character `clean` would replace (for validating config values)."""
    return not text.isprintable()
