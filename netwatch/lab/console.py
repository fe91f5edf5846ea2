"""The demo's console: a live, coloured view of zones, incidents and pages (plain lines when not a TTY)."""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import time
import zoneinfo
from collections import deque
from dataclasses import dataclass, field
from typing import Any, TextIO

from netwatch.i18n import Lang, state_name
from netwatch.lab.phone import Message
from netwatch.text import clean as text_clean

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
DIM = "\x1b[2m"
COLOURS = {"up": "\x1b[42;30m", "degraded": "\x1b[43;30m", "down": "\x1b[41;97m", "unreachable": "\x1b[45;97m",
           "maintenance": "\x1b[44;97m", "unknown": "\x1b[100;97m"}
FG = {"up": "\x1b[32m", "degraded": "\x1b[33m", "down": "\x1b[31m", "unreachable": "\x1b[35m",
      "maintenance": "\x1b[34m", "unknown": "\x1b[90m"}

TEXTS = {
    "vi": {"zones": "Khu vực", "incidents": "Sự cố đang mở", "log": "Diễn biến", "none": "không có",
           "board": "Bảng trạng thái", "step": "KỊCH BẢN", "phone": "ĐIỆN THOẠI", "segments": "SMS: {n} tin ({enc})", "chars": "{n} ký tự",
           "elapsed": "Thời gian", "acked": "đã xác nhận bởi {who}"},
    "en": {"zones": "Zones", "incidents": "Open incidents", "log": "What happened", "none": "none",
           "board": "Status board", "step": "SCENARIO", "phone": "PHONE", "segments": "{n} SMS ({enc})", "chars": "{n} characters",
           "elapsed": "Elapsed", "acked": "acked by {who}"},
}


def clean(text: str) -> str:
    """Device text must not drive the terminal: control, escape and bidi characters become spaces."""
    return text_clean(text, len(text) + 1)


@dataclass
class Console:
    lang: Lang = "vi"
    out: TextIO = sys.stdout
    colour: bool = True
    live: bool = True                     # redraw the whole screen (a TTY); else print events as lines
    header: list[str] = field(default_factory=list)
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=14))
    states: dict[str, str] = field(default_factory=dict)
    seen: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    total_seconds: float = 0.0
    tz: dt.tzinfo = field(default_factory=lambda: zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh"))

    def t(self, key: str, **kw: Any) -> str:
        return TEXTS[self.lang][key].format(**kw)

    def paint(self, text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if self.colour else text

    def stamp(self) -> str:
        # the site's clock, like the board and the pages (the demo venue is in Viet Nam, whatever the host's zone)
        return dt.datetime.now(self.tz).strftime("%H:%M:%S")

    def event(self, line: str) -> None:
        line = f"{self.stamp()} {line}"
        self.lines.append(line)
        if not self.live:
            self.out.write(line + "\n")
            self.out.flush()

    def step(self, say: str, action: str) -> None:
        self.event(self.paint(f"▶ {self.t('step')}: {clean(say or action)}", BOLD))

    def message(self, msg: Message) -> None:
        if msg.sms:
            encoding, segments = msg.sms_segments()
            size = self.t("segments", n=segments, enc=encoding)
        else:
            size = self.t("chars", n=len(msg.text))
        head = f"📱 {self.t('phone')} [{clean(msg.channel)}] {size}"
        lines = [msg.title] if msg.title else []
        lines += msg.body.split("\n") if msg.body else []
        self.event(self.paint(head, BOLD) + "".join(f"\n    │ {clean(line)}" for line in lines))

    def observe(self, snapshot: dict[str, Any]) -> None:
        """Note every tile whose state changed since the last snapshot."""
        now = time.time()
        for zone in snapshot["zones"]:
            for tile in zone["tiles"]:
                old = self.states.get(tile["id"])
                new = tile["state"]
                if old == new:
                    continue
                self.states[tile["id"]] = new
                self.seen.setdefault(tile["id"], []).append((now, new))
                if old is None and new == "unknown":
                    continue
                why = f" ({clean(tile['error'] or '')}: {clean(tile['detail'])[:90]})" if tile.get("error") else ""
                self.event(f"{self.paint(state_name(new, self.lang).upper(), FG.get(new, ''))} "
                           f"{clean(tile['name'])} [{tile['id']}]"
                           + (f" ← {state_name(old, self.lang)}" if old else "") + why)

    def draw(self, snapshot: dict[str, Any]) -> None:
        if not self.live:
            return
        width, height = shutil.get_terminal_size((120, 40))
        out = ["\x1b[H\x1b[2J"]
        elapsed = time.monotonic() - self.started
        out.append(self.paint(clean(snapshot["site"]), BOLD)
                   + f"   {self.t('elapsed')}: {elapsed:4.0f}s / {self.total_seconds:.0f}s")
        out.extend(self.header)
        out.append("")
        for zone in snapshot["zones"]:
            cells = [self.paint(f" {clean(t['name'])[:22]} ", COLOURS.get(t["state"], "")) for t in zone["tiles"]]
            label = f"{self.paint('●', FG.get(zone['state'], ''))} {clean(zone['name'] or zone['id'])}"
            out.append(self.paint(label, BOLD))
            row, used = "   ", 3
            for cell, t in zip(cells, zone["tiles"]):
                size = min(22, len(clean(t["name"]))) + 3
                if used + size > width:
                    out.append(row)
                    row, used = "   ", 3
                row += cell + " "
                used += size
            out.append(row)
        out.append("")
        out.append(self.paint(self.t("incidents"), BOLD))
        incidents = snapshot["incidents"]
        if not incidents:
            out.append("   " + self.t("none"))
        for inc in incidents[:8]:
            acked = f" — {self.t('acked', who=clean(inc['acknowledged_by']))}" if inc.get("acknowledged_by") else ""
            age = f"{inc['age_seconds']:.0f}s" if inc.get("age_seconds") is not None else ""
            out.append(f"   {self.paint(state_name(inc['state'], self.lang), FG.get(inc['state'], ''))} "
                       f"{clean(inc['name'])} ({inc['check']}) {age}{acked}")
        out.append("")
        out.append(self.paint(self.t("log"), BOLD))
        log_lines = [("   " + part) for line in self.lines for part in line.split("\n")]
        room = max(3, height - len(out) - 1)   # the newest events, as many as fit below the zones
        out.extend(log_lines[-room:])
        self.out.write("\n".join(out) + "\n")
        self.out.flush()
