"""Wall-clock windows (maintenance, duty shifts): one-off or repeating daily/weekly in a time zone."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

Repeat = Literal["none", "daily", "weekly"]
_STEP_DAYS = {"daily": 1, "weekly": 7}


@dataclass(frozen=True)
class Window:
    """The first occurrence is [start, end) in local wall time; repeats keep the wall-clock times.

    Repeating by wall time (not by 86400 s) keeps a 22:00-02:00 window at 22:00 across a
    daylight-saving change in zones that have one.
    """

    start: dt.datetime          # aware, in the site's zone
    end: dt.datetime
    repeat: Repeat = "none"
    until: dt.datetime | None = None

    def occurrence(self, ts: float) -> tuple[float, float] | None:
        """The (start, end) in Unix seconds of the occurrence containing ts, or None."""
        tz = self.start.tzinfo
        assert tz is not None
        if self.repeat == "none":
            s, e = self.start.timestamp(), self.end.timestamp()
            return (s, e) if s <= ts < e else None
        step = _STEP_DAYS[self.repeat]
        local = dt.datetime.fromtimestamp(ts, tz)
        length = self.end.replace(tzinfo=None) - self.start.replace(tzinfo=None)
        naive_start = self.start.replace(tzinfo=None)
        days = (local.replace(tzinfo=None) - naive_start).days
        k0 = days // step
        # The window may start on an earlier day and still cover ts (it crosses midnight).
        for k in range(k0, k0 - (length.days // step) - 2, -1):
            if k < 0:
                break
            occ_start = (naive_start + dt.timedelta(days=k * step)).replace(tzinfo=tz)
            if self.until is not None and occ_start >= self.until:
                continue
            occ_end = (naive_start + dt.timedelta(days=k * step) + length).replace(tzinfo=tz)
            s, e = occ_start.timestamp(), occ_end.timestamp()
            if s <= ts < e:
                return s, e
        return None

    def active(self, ts: float) -> bool:
        return self.occurrence(ts) is not None


# Vietnamese users write dates day first: 14/12/2026, 14/12/2026 07:30, 14-12-2026 07:30:15.
_DMY_RE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def parse_local(text: str, tz: ZoneInfo) -> dt.datetime:
    """ISO 8601 or dd/mm/yyyy [HH:MM[:SS]]; without an offset the time is in `tz` (the site zone).

    Raises ValueError with a reader's message.
    """
    m = _DMY_RE.fullmatch(text.strip())
    if m:
        day, month, year, hour, minute, second = (int(g) if g else 0 for g in m.groups())
        try:
            value = dt.datetime(year, month, day, hour, minute, second)
        except ValueError as exc:
            raise ValueError(f"bad date {text!r}: {exc} (dd/mm/yyyy, day first)") from None
    else:
        try:
            value = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(f"bad time {text!r}: use dd/mm/yyyy HH:MM or ISO 8601, "
                             "e.g. 14/12/2026 07:00 or 2026-12-14T07:00") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(tz)


def is_date_only(text: str) -> bool:
    """A day without a time of day: `14/12/2026` or `2026-12-14`."""
    return bool(re.fullmatch(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{4}|\d{4}-\d{2}-\d{2}", text.strip()))


def window(start: str, end: str, tz: ZoneInfo, repeat: Repeat = "none", until: str | None = None) -> Window:
    """Build a Window from config text; raises ValueError with a reader's message."""
    s, e = parse_local(start, tz), parse_local(end, tz)
    if e <= s:
        raise ValueError("end must be after start")
    if repeat in _STEP_DAYS and e - s > dt.timedelta(days=_STEP_DAYS[repeat]):
        raise ValueError(f"a {repeat} window cannot be longer than its period")
    return Window(s, e, repeat, parse_local(until, tz) if until else None)
