"""The demo console: plain lines off a TTY, colours on one, and device text never drives the terminal."""

from __future__ import annotations

import io
from typing import Any

from netwatch.lab.console import Console
from netwatch.lab.phone import Message


def snap(state: str, name: str = "Switch \x1b[2Jtruy nhập", detail: str = "no answer\x1b]0;pwned\x07") -> dict[str, Any]:
    tile = {"id": "press-sw", "name": name, "state": state, "error": "timeout" if state == "down" else None,
            "detail": detail}
    return {"site": "lab", "zones": [{"id": "press", "name": "Trung tâm báo chí", "state": state, "tiles": [tile]}],
            "incidents": [{"check": "press-sw/snmp", "name": name, "state": state, "age_seconds": 3.0,
                           "acknowledged_by": None}] if state == "down" else []}


def test_plain_lines_without_escape_codes() -> None:
    out = io.StringIO()
    console = Console(lang="en", out=out, colour=False, live=False)
    console.observe(snap("up"))
    console.observe(snap("down"))
    console.draw(snap("down"))           # no redraws off a TTY
    console.message(Message(0, "sms", "", "SU CO #1: press-sw/snmp", ""))
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert "DOWN Switch  [2Jtruy nhập [press-sw] ← Up (timeout: no answer ]0;pwned )" in text
    assert "PHONE [sms] 1 SMS (gsm7)\n    │ SU CO #1: press-sw/snmp\n" in text
    console.message(Message(0, "chat", "SỰ CỐ", "portal", "", sms=False))
    assert "PHONE [chat] 12 characters\n    │ SỰ CỐ\n    │ portal\n" in out.getvalue()
    assert console.seen["press-sw"][-1][1] == "down"


def test_tty_redraws_in_colour_and_still_strips_device_escapes() -> None:
    out = io.StringIO()
    console = Console(lang="vi", out=out, colour=True, live=True)
    console.observe(snap("down"))
    console.draw(snap("down"))
    text = out.getvalue()
    assert text.startswith("\x1b[H\x1b[2J")
    assert "\x1b[41;97m" in text                 # the red tile
    assert "Sự cố đang mở" in text and "Mất kết nối" in text
    assert text.count("\x1b[2J") == 1, "the device-supplied clear-screen must not reach the terminal"
    assert "\x1b]0;" not in text
