"""What a decision does to incidents and the outbox, inside the transaction that records it.

The SQL is in netwatch.store.incidents (re-exported here for the commands and the relay); this
module holds the paging rules: one open incident per check, a new severity replaces the old
incident, flapping checks are recorded but not paged, a released hold pages only if its DOWN is
still the check's latest transition. `PagingCommands` is what the web side may do with incidents.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

from netwatch.alerting.decide import Change, FlapNotice, Item, Page, Release, channels_for
from netwatch.alerting.timers import Escalation, Reminder, follow_ups, is_due
from netwatch.cluster.isolation import site_check_id
from netwatch.model import State, Transition
from netwatch.store import Store
from netwatch.store.incidents import (OPEN_STATES, NewIncident, ack, clock_summary, close_removed, drop_hold, due,
                                      escalate,
                                      find_open, first_facts, get, hold, list_incidents, notify_told, open_incident,
                                      remind_next, resolve, take_hold)
from netwatch.store.incidents import held_pages as stored_held_pages
from netwatch.store.db import Tx
from netwatch.store.outbox import enqueue

if TYPE_CHECKING:
    from netwatch.config import Config

__all__ = ["OPEN_STATES", "NewIncident", "PagingCommands", "ack", "find_open", "first_facts", "get", "list_incidents",
           "notify_told", "open_incident", "record", "resolve", "sweep"]

T = TypeVar("T")


def record(c: Tx, item: Item, now: float, insert_transition: Callable[[Change], int]) -> None:
    """Write one decided item; the caller's transaction holds the whole decision."""
    if isinstance(item, Change):
        t = item.transition
        tid = insert_transition(item)
        drop_hold(c, t.check_id)
        if item.hold_until is not None:
            hold(c, t.check_id, tid, item.hold_until, item.flapping)
            return
        if item.page is None:
            return
        current = find_open(c, check_id=t.check_id)
        if t.to_state in (State.DOWN, State.DEGRADED):
            _problem(c, item.page, current, tid, now)
        elif t.to_state is State.UP and current is not None:
            resolve(c, current[0], now, notify=not item.page.flapping)
    elif isinstance(item, Release):
        tid = take_hold(c, item.check_id)
        if tid is not None:     # else a later transition of the check was stored since
            _problem(c, item.page, find_open(c, check_id=item.check_id), tid, now)
    else:
        _flap_notice(c, item, now)


def _problem(c: Tx, page: Page, current: tuple[int, str, str] | None, transition_id: int | None,
             now: float) -> None:
    if current is not None and current[1] == page.severity:
        return
    if current is not None:
        resolve(c, current[0], now, notify=not page.flapping)
    if page.flapping:
        return
    _open(c, page, transition_id, now, "problem")


def _open(c: Tx, page: Page, transition_id: int | None, now: float, kind: str) -> int:
    check = page.check
    return open_incident(c, NewIncident(
        key_prefix="nw", source="check", severity=page.severity, category=page.category,
        title=check.id, facts=page.facts, channels=page.channels, check_id=check.id,
        target_id=check.target.id, zone=check.target.zone, since=float(page.facts["since"]),
        dependants=page.dependants, next_escalation_at=page.next_escalation_at,
        next_remind_at=page.next_remind_at, transition_id=transition_id, kind=kind), now)


def _flap_notice(c: Tx, notice: FlapNotice, now: float) -> None:
    page, state = notice.page, notice.state
    current = find_open(c, check_id=page.check.id)
    facts = {**page.facts, "state": state.value}
    if notice.change == "start":
        dedup = f"flapping-{page.check.id}-{int(now)}"
        for ch in page.channels:
            enqueue(c, current[0] if current else None, ch, "flapping",
                    {**facts, "kind": "flapping", "incident": current[0] if current else None}, now, dedup)
        return
    if state in (State.DOWN, State.DEGRADED):
        if current is None:
            _open(c, replace(page, facts=facts), None, now, "settled")
        else:
            notify_told(c, current[0], "settled", now, {"state": state.value}, page.channels)
        return
    if current is not None:
        resolve(c, current[0], now, notify=False)
    for ch in page.channels:
        enqueue(c, None, ch, "settled", {**facts, "kind": "settled"}, now, f"settled-{page.check.id}-{int(now)}")


def held_pages(store: Store) -> list[tuple[Transition, bool]]:
    """The pages held when netwatch last stopped: (their DOWN transition, flapping)."""
    with store.db.read() as c:
        return [(h.transition, h.flapping) for h in stored_held_pages(c)]


def close_removed_checks(store: Store, config: "Config", now: float) -> list[int]:
    """After a reload: close the incidents of checks no longer configured (they would be reminded forever)."""
    # A cluster's "site isolated" incidents live on synthetic checks of the configured sites.
    sites = {site_check_id(s) for s in config.cluster.sites} if config.cluster is not None else set()
    with store.transaction() as c:
        return close_removed(c, {ch.id for ch in config.checks} | sites, {t.id for t in config.targets} | sites, now)


def sweep(store: Store, now: float, quiet: set[str], config: "Config") -> tuple[int, bool]:
    """Escalate and remind what is due; returns the incidents open or acknowledged, and whether it wrote.

    A read first: the write transaction is opened only when something is due.
    """
    with store.db.read() as c:
        count, next_at = clock_summary(c)
    if not is_due(next_at, now):
        return count, False
    with store.transaction() as c:
        for f in follow_ups(due(c, now), now, quiet, config):
            if isinstance(f, Escalation):
                escalate(c, f.incident_id, f.level, f.next_escalation_at)
                if f.channels:
                    notify_told(c, f.incident_id, "escalation", now, {"level": f.level}, f.channels)
            elif isinstance(f, Reminder):
                remind_next(c, f.incident_id, f.next_remind_at)
                notify_told(c, f.incident_id, "reminder", now, {})
        return clock_summary(c)[0], True


class PagingCommands:
    """Incidents as the web side sees them: list, acknowledge, relay Alertmanager alerts.

    Blocking (the store): call from a worker thread. After a write, the caller wakes the delivery loop.
    """

    def __init__(self, store: Store, config: Callable[[], "Config"]) -> None:
        self.store = store
        self.config = config

    def list(self, states: Sequence[str] = OPEN_STATES, limit: int = 100,
             before: int | None = None) -> list[dict[str, Any]]:
        with self.store.db.read() as c:
            return list_incidents(c, states, limit, before)

    def ack(self, incident_id: int, who: str, note: str, source: str, now: float) -> str | None:
        with self.store.transaction() as c:
            return ack(c, incident_id, who, note, source, now)

    def get(self, incident_id: int) -> dict[str, Any] | None:
        with self.store.db.read() as c:
            return get(c, incident_id)

    def write(self, body: Callable[[Tx], T]) -> T:
        """Run `body` in one write transaction (the Alertmanager relay opens and resolves several incidents)."""
        with self.store.transaction() as c:
            return body(c)

    def channels_for(self, severity: str, level: int, now: float) -> tuple[str, ...]:
        return channels_for(self.config().paging, None, severity, level, now)
