"""The paging clocks: escalation and reminders of open incidents, decided from `now` alone (no I/O).

Window ends and held-page deadlines are the decider's (`Decider.on_clock`); this module says what
an incident whose escalation or reminder time has come gets, and when the next one is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Protocol

from netwatch.alerting.decide import channels_for

if TYPE_CHECKING:
    from netwatch.config import Config


class DueIncident(Protocol):
    """An open incident past its next_escalation_at or next_remind_at (netwatch.store.incidents.Due)."""

    @property
    def id(self) -> int: ...
    @property
    def check_id(self) -> str | None: ...
    @property
    def severity(self) -> str: ...
    @property
    def level(self) -> int: ...
    @property
    def next_escalation_at(self) -> float | None: ...
    @property
    def next_remind_at(self) -> float | None: ...
    @property
    def opened_at(self) -> float: ...


@dataclass(frozen=True)
class Escalation:
    incident_id: int
    level: int
    next_escalation_at: float | None
    channels: tuple[str, ...]          # told of the escalation; () when the level names nobody


@dataclass(frozen=True)
class Reminder:
    incident_id: int
    next_remind_at: float | None


def follow_ups(due: Iterable[DueIncident], now: float, quiet: set[str], config: "Config"
               ) -> list[Escalation | Reminder]:
    """What each due incident gets. Escalation and reminders wait while a check is in maintenance or
    behind a dead parent (`quiet`)."""
    out: list[Escalation | Reminder] = []
    for inc in due:
        if inc.check_id in quiet:
            continue
        check = config.check(inc.check_id) if inc.check_id else None
        if inc.next_escalation_at is not None and inc.next_escalation_at <= now:
            levels = config.paging.escalation.get(inc.severity, ())
            level = inc.level + 1
            following = (inc.opened_at + levels[level + 1].after - levels[0].after
                         if level + 1 < len(levels) else None)
            out.append(Escalation(inc.id, level, following,
                                  channels_for(config.paging, check, inc.severity, level, now)))
        if inc.next_remind_at is not None and inc.next_remind_at <= now:
            every = check.alert.remind_every if check is not None else None
            out.append(Reminder(inc.id, now + every if every else None))
    return out


def is_due(next_at: float | None, now: float) -> bool:
    """Whether the earliest escalation or reminder time has come: only then is a write transaction opened."""
    return next_at is not None and next_at <= now
