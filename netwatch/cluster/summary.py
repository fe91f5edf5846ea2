"""The venue's one local summary SMS per episode of lost cluster contact (pure: time and facts passed in)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Sequence
from zoneinfo import ZoneInfo

__all__ = ["SummaryEpisode", "LocalFails", "summary_key", "summary_extra"]


@dataclass
class SummaryEpisode:
    """`step(now, lost)` is True exactly once per episode, when contact has been lost for `after_seconds`.

    An episode is a stretch of `lost` (fenced, or this node's site isolated); it ends at the first
    step that is not lost, and only a new episode may send again.
    """

    after_seconds: float
    since: float | None = None
    sent: bool = False

    def step(self, now: float, lost: bool) -> bool:
        if not lost:
            self.since, self.sent = None, False
            return False
        if self.since is None:
            self.since = now
        if not self.sent and now - self.since >= self.after_seconds:
            self.sent = True
            return True
        return False


@dataclass
class LocalFails:
    """What this node sees down by itself: consecutive failures per check against its fail_after."""

    streaks: dict[str, int] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def observe(self, check_id: str, name: str, ok: bool) -> None:
        self.streaks[check_id] = 0 if ok else self.streaks.get(check_id, 0) + 1
        self.names[check_id] = name

    def down(self, fail_after: dict[str, int]) -> list[str]:
        """Names of the checks down here (deduplicated, sorted)."""
        return sorted({self.names[c] for c, n in self.streaks.items() if n > 0 and n >= fail_after.get(c, 1)})


def summary_key(node: str, site: str, since: float, tz: ZoneInfo, lang: str = "vi") -> str:
    """The part that must reach the phone whole: who lost what, since when."""
    at = dt.datetime.fromtimestamp(since, tz).strftime("%H:%M %d/%m")
    if lang == "vi":
        return f"netwatch {node} ({site}): mất liên lạc với cụm giám sát từ {at}."
    return f"netwatch {node} ({site}): lost contact with the monitoring cluster since {at}."


def summary_extra(down: Sequence[str], lang: str = "vi") -> str:
    """The local view, cut first when the SMS budget is short."""
    if lang == "vi":
        return (f"Tại chỗ đang lỗi ({len(down)}): " + ", ".join(down)) if down else "Tại chỗ không thấy lỗi."
    return (f"Down here ({len(down)}): " + ", ".join(down)) if down else "Nothing down here."
