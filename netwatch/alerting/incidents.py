"""What a decision does to incidents and the outbox, inside the transaction that records it.

The SQL is in netwatch.store.incidents (re-exported here for the commands and the relay); this
module applies the paging rules: one open incident per target fault (the checks of a target that
fail together are its members, folded by decide.fold_failure / fold_recovery: one page, one
recovery), a more severe fault replaces the old incident, flapping checks are recorded but not
paged, a released hold pages only if its DOWN is still the check's latest transition.
`PagingCommands` is what the web side may do with incidents.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

from netwatch.alerting.decide import (REBOOT_SAME_SECONDS, Change, FlapNotice, Item, OpenFault, Page, RebootNotice,
                                      Release, channels_for, fault_rank, fold_failure, fold_recovery)
from netwatch.alerting.timers import Escalation, Reminder, follow_ups, is_due
from netwatch.cluster.isolation import site_check_id
from netwatch.model import State, Transition
from netwatch.store import DB_ERRORS, Store, StoreError
from netwatch.store.incidents import (OPEN_STATES, Member, NewIncident, TargetFault, ack, amend_pending, clock_summary,
                                      close_removed, drop_hold, due, escalate, find_open, first_facts, get, hold,
                                      list_incidents, member_recovered, members, notify_told, open_fault, open_incident,
                                      remind_next, rename, resolve, set_member, supersede, superseded_by, tell,
                                      take_hold)
from netwatch.store.incidents import held_pages as stored_held_pages
from netwatch.store.db import Tx
from netwatch.store.outbox import claim_reboot, enqueue

if TYPE_CHECKING:
    from netwatch.config import Config

log = logging.getLogger(__name__)

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
        if t.to_state in (State.DOWN, State.DEGRADED):
            _problem(c, item.page, tid, now)
        elif t.to_state is State.UP:
            _recovered(c, item.page, now)
    elif isinstance(item, Release):
        tid = take_hold(c, item.check_id)
        if tid is not None:     # else a later transition of the check was stored since
            _problem(c, item.page, tid, now)
    elif isinstance(item, RebootNotice):
        # Its own short notice: no incident (nothing is down), once per reboot. The decider remembers what
        # it paged, but in a cluster another node's decider may page the same reboot (the poll on the slot
        # owner, the trap on the coordinator, or a coordinator after a handover): the database's claim decides.
        booted_at = float(item.facts.get("at") or now)
        if not claim_reboot(c, item.target_id, booted_at, REBOOT_SAME_SECONDS, now):
            log.info("%s: reboot at %.0f already paged (another sighting of it)", item.target_id, booted_at)
            return
        dedup = f"reboot-{item.target_id}-{int(booted_at)}"
        for channel in dict.fromkeys(item.channels):
            enqueue(c, None, channel, "reboot", {**item.facts, "told": list(dict.fromkeys(item.channels))}, now,
                    dedup)
    else:
        _flap_notice(c, item, now)


def _fault(stored: TargetFault | None) -> OpenFault | None:
    if stored is None:
        return None
    named = next((m for m in stored.members if m.check_id == stored.check_id), None)
    rank = fault_rank(stored.category, named.state if named else "down", named.position if named else 0)
    return OpenFault(stored.opened_at, stored.severity, rank,
                     frozenset(m.check_id for m in stored.members if m.recovered_at is None))


def _member(page: Page, how: str, now: float) -> Member:
    f = page.facts
    return Member(page.check.id, how, now, str(f.get("state") or "down"), page.category, f.get("error"),
                  str(f.get("degraded") or f.get("detail") or ""), None, page.order)


def _problem(c: Tx, page: Page, transition_id: int | None, now: float) -> None:
    check = page.check
    stored = open_fault(c, check.target.id)
    if page.flapping:
        # a flapping check pages nothing; an incident it alone keeps open at another severity closes
        if stored is not None and _fault(stored).failing == {check.id} and stored.severity != page.severity:
            resolve(c, stored.id, now, notify=False)
        return
    fault = _fault(stored)
    fold = fold_failure(fault, check.id, page.rank, page.severity, now, page.group_wait_seconds)
    if fold.action == "open" or stored is None:
        _open(c, page, transition_id, now, "problem")
    elif fold.action == "replace":
        supersede(c, stored.id, now)    # nothing recovered: no recovery notice
        new_id = _open(c, page, transition_id, now, "problem")
        superseded_by(c, stored.id, new_id)
        for m in stored.members:        # the checks still failing carry over
            if m.recovered_at is None and m.check_id != check.id:
                set_member(c, new_id, replace(m, how="joined"))
    elif fold.action == "group":
        set_member(c, stored.id, _member(page, "named" if fold.names else "grouped", now))
        if fold.names:
            for m in stored.members:
                if m.check_id == stored.check_id and m.check_id != check.id:
                    set_member(c, stored.id, replace(m, how="grouped"))
            rename(c, stored.id, check.id, page.severity, page.category, check.id, page.facts, now)
        _amend_also(c, stored.id)
        tell(c, stored.id, page.channels, now)
    elif fold.action == "join":
        set_member(c, stored.id, _member(page, "joined", now))
        tell(c, stored.id, page.channels, now)     # only whom this fault has not reached yet
    else:   # same: a member failing on, in another way; its row keeps the latest
        prior = next((m for m in stored.members if m.check_id == check.id), None)
        set_member(c, stored.id, replace(_member(page, prior.how if prior else "joined", now),
                                         joined_at=prior.joined_at if prior else now))


def _amend_also(c: Tx, incident_id: int) -> None:
    """The waiting first page lists the other checks of the fault (the notice says what else failed)."""
    ms = members(c, incident_id)
    also = [{"check": m.check_id, "state": m.state, "error": m.error, "category": m.category,
             "degraded": m.detail if m.state == "degraded" else None} for m in ms if m.how != "named"]
    amend_pending(c, incident_id, {"also": also})


def _recovered(c: Tx, page: Page, now: float) -> None:
    """A check is up: the incident resolves with its last failing check (one recovery), else notes it."""
    check = page.check
    stored = open_fault(c, check.target.id)
    current = find_open(c, check_id=check.id)
    if stored is None or current is None or current[0] != stored.id:
        if current is not None:       # an incident of an earlier layout (not its target's open one)
            resolve(c, current[0], now, notify=not page.flapping)
        return
    verdict = fold_recovery(_fault(stored).failing, check.id)
    if verdict == "resolve":
        resolve(c, stored.id, now, notify=not page.flapping)
    elif verdict == "note":
        member_recovered(c, stored.id, check.id, now)


def _open(c: Tx, page: Page, transition_id: int | None, now: float, kind: str) -> int:
    check = page.check
    iid = open_incident(c, NewIncident(
        key_prefix="nw", source="check", severity=page.severity, category=page.category,
        title=check.id, facts=page.facts, channels=page.channels, check_id=check.id,
        target_id=check.target.id, zone=check.target.zone, since=float(page.facts["since"]),
        dependants=page.dependants, next_escalation_at=page.next_escalation_at,
        next_remind_at=page.next_remind_at, transition_id=transition_id, kind=kind), now)
    set_member(c, iid, _member(page, "named", now))
    return iid


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
        stored = open_fault(c, page.check.target.id) if current is None else None
        if current is None and stored is None:
            _open(c, replace(page, facts=facts), None, now, "settled")
        elif current is None and stored is not None:   # settled down on a target with an open fault: it joins
            set_member(c, stored.id, _member(replace(page, facts=facts), "joined", now))
        else:
            notify_told(c, current[0], "settled", now, {"state": state.value}, page.channels)
        return
    stored = open_fault(c, page.check.target.id) if current is not None else None
    if current is not None and stored is not None and stored.id == current[0]:
        # settled up: the fault's incident closes only with its last failing check (the settled notice says so)
        if fold_recovery(_fault(stored).failing, page.check.id) == "note":
            member_recovered(c, stored.id, page.check.id, now)
        else:
            resolve(c, stored.id, now, notify=False)
    elif current is not None:
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


async def close_removed_after_reload(store: Store, config: "Config", now: float) -> None:
    """Incidents of targets or checks a reload removed are closed, not reminded forever; off the event loop."""
    try:
        closed = await asyncio.to_thread(close_removed_checks, store, config, now)
    except (*DB_ERRORS, StoreError, OSError) as exc:
        log.error("config reload: closing the incidents of removed checks failed: %s", exc)
        return
    for iid in closed:
        log.info("incident #%d closed: its check was removed from the configuration", iid)


def clock_read(store: Store) -> tuple[int, float | None]:
    """(incidents open or acknowledged, the earliest escalation or reminder time): what `sweep` reads first."""
    with store.db.read() as c:
        return clock_summary(c)


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
