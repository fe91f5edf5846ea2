"""The paging engine inside the daemon: effective states, incident decisions, and the paging clocks.

Event-loop side: `on_result` folds topology (unreachable), maintenance and flapping over the step
state and returns the transitions to record. Recorder side: `hook` runs inside the transaction that
stores a transition and writes the incident and its outbox rows there. `run` drives the outbox
delivery, escalation and reminders, maintenance starts/ends, flapping notices, the dead-man
heartbeat and the "monitoring degraded" alarm. The CLI writes acks and maintenance windows to the
store; `run` reads them every TICK_SECONDS, so they take effect within a second.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Iterator

import aiohttp
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from netwatch import egov
from netwatch.alerting import incidents
from netwatch.config.paging import Maintenance
from netwatch.alerting.flapping import FlapState, observe
from netwatch.alerting.state import CheckState
from netwatch.model import Transition
from netwatch.alerting.topology import (ParentCheck, ParentStatus, dependants, effective, hold_page, hold_seconds,
                                        hold_verdict, target_status)
from netwatch.windows import window
from netwatch.model import Check, Event, Result, State
from netwatch.notify import senders, templates
from netwatch.notify.outbox import Delivery, enqueue
from netwatch.store.db import DB_ERRORS

if TYPE_CHECKING:
    from netwatch.app import Monitor
    from netwatch.config import Config

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
OVERLAYS = (State.UNREACHABLE, State.MAINTENANCE)
# What makes an alert `security`: tampering (defacement, config drift), an identity change (host key),
# or someone guessing credentials (SNMPv3 authentication failures) — by error class, not by kind,
# so an ssh timeout is still an availability problem.
SECURITY_ERRORS = egov.SECURITY_ERRORS | frozenset({"config_drift", "host_key_changed", "host_key_unknown",
                                                    "snmp_auth"})
DEGRADED_RENOTIFY_SECONDS = 600.0


@dataclass(frozen=True)
class Plan:
    """What a transition means for paging, decided on the event loop where the live state is."""

    check: Check
    severity: str
    category: str
    channels: tuple[str, ...]
    flapping: bool
    dependants: int
    facts: dict[str, Any]
    next_escalation_at: float | None
    next_remind_at: float | None


@dataclass
class Hold:
    """A page held back: the check is confirmed down while a parent is still suspect.

    The DOWN transition is recorded at once; `transition_id` is filled in by the recorder thread
    when it is stored. Released holds are paged by the tick once their transition is stored.
    """

    check_id: str
    transition: Transition
    deadline: float
    flapping: bool
    transition_id: int | None = None


class PagingEngine:
    def __init__(self, monitor: "Monitor") -> None:
        self.monitor = monitor
        self.clock = monitor.clock
        stored = monitor.store.last_states()
        self.eff: dict[str, State] = {cid: s.state for cid, s in stored.items()}
        # The step function cannot resume from an overlay state; it resumes from unknown and the
        # effective state (kept here) makes the next transition start from what was recorded.
        for cid, s in list(monitor.live.stored.items()):
            if s.state in OVERLAYS:
                monitor.live.stored[cid] = replace(s, state=State.UNKNOWN)
        for view in monitor.live.views.values():
            if view.state.state in OVERLAYS:
                view.overlay = view.state.state
                view.state = CheckState()
        self.flaps: dict[str, FlapState] = {}
        self.plans: dict[int, Plan] = {}
        self.held: dict[str, Hold] = {}                 # check id -> its held page
        self.held_transitions: dict[int, Hold] = {}     # id(transition) -> hold, until the transition is stored
        self.released: list[Hold] = []                  # to page once their transition is stored
        self.status: dict[str, ParentStatus] = {}
        self.status_at: dict[str, float] = {}
        self.db_windows: tuple[Maintenance, ...] = ()
        self.flap_events: list[tuple[str, str, float]] = []
        self.heartbeat_ok_at = 0.0
        self.heartbeat_failures = 0
        self.direct_sends: set[asyncio.Task[None]] = set()
        self.degraded_reason = ""
        self.degraded_sent_at = 0.0
        self.open_incidents = 0
        self._lag_seen = (0, 0.0)
        self._recorder_errors_seen = 0
        self.delivery = Delivery(monitor.store, lambda: self.config.paging, lambda: self.config.site.tz,
                                 lambda text: self.config.redact(text), self.clock)
        self.reload(monitor.config)
        self._resume_holds()

    def _resume_holds(self) -> None:
        """A page held when netwatch stopped is held again: a restart must not swallow it.

        Held pages are the checks behind a parent whose latest transition is down with no incident.
        """
        with self.monitor.store.lock:
            rows = self.monitor.store.conn.execute(
                "SELECT t.id, t.check_id, t.target_id, t.ts, t.since, t.from_state, t.error, t.detail "
                "FROM transitions t JOIN (SELECT check_id, MAX(id) AS id FROM transitions GROUP BY check_id) m "
                "ON t.id = m.id WHERE t.to_state='down' AND NOT EXISTS (SELECT 1 FROM incidents i WHERE "
                "i.source='check' AND i.check_id=t.check_id AND (i.transition_id=t.id OR i.state IN ('open','acked')))"
            ).fetchall()
        now = self.clock()
        for tid, cid, target_id, ts, since, from_state, error, detail in rows:
            check = self.config.check(cid)
            if check is None or not check.target.depends_on:
                continue
            t = Transition(cid, target_id, ts, since, State(from_state), State.DOWN, error=error, detail=detail or "")
            self.held[cid] = Hold(cid, t, now + self.hold_bound(check), False, tid)

    @property
    def config(self) -> "Config":
        return self.monitor.config

    def reload(self, config: "Config") -> None:
        self.children: dict[str, set[str]] = {}
        for t in config.targets:
            for p in t.depends_on:
                self.children.setdefault(p, set()).add(t.id)
        self.dependants = {k: len(v) for k, v in dependants(config.targets).items()}
        self.target_checks: dict[str, list[str]] = {}
        for c in config.checks:
            self.target_checks.setdefault(c.target.id, []).append(c.id)
        self.known_targets = {t.id for t in config.targets}

    # -- event loop: results to effective transitions ---------------------------------------
    def on_result(self, check: Check, result: Result, raw: Transition | None) -> list[Transition]:
        flapping_before = self.flaps.get(check.id, FlapState()).flapping
        if check.alert.flap_detection:
            spec = self.config.paging.spec.flapping
            fs, change = observe(self.flaps.get(check.id, FlapState()), result.ok, spec.window, spec.high, spec.low)
            self.flaps[check.id] = fs
            if change:
                log.info("%s: flapping %s", check.id, "started" if change == "start" else "stopped")
                self.flap_events.append((change, check.id, result.started_at))
        out: list[Transition] = []
        t = self.evaluate(check, result.started_at, raw, quiet=flapping_before)
        if t is not None:
            out.append(t)
        out.extend(self.cascade(check.target.id, result.started_at))
        out.extend(self.reevaluate_held(result.started_at, parent=check.target.id))
        return out

    def parent_status(self, target_id: str, since: float | None = None) -> ParentStatus:
        if target_id not in self.known_targets:
            return "unknown"
        views = self.monitor.live.views
        checks = []
        for cid in self.target_checks.get(target_id, []):
            view = views.get(cid)
            if view is None:
                continue
            # A parent resumed as unreachable after a restart has no step verdict yet but is still down.
            state = State.UNREACHABLE if view.overlay is State.UNREACHABLE else view.state.state
            checks.append(ParentCheck(state, view.state.fail_streak,
                                      view.result.started_at if view.result is not None else None))
        return target_status(checks, since)

    def hold_bound(self, check: Check) -> float:
        """How long the check's page may wait for its parents to be confirmed down."""
        views = self.monitor.live.views
        return hold_seconds((views[c].check.interval_seconds, views[c].check.alert.fail_after,
                             views[c].check.timeout_seconds)
                            for p in check.target.depends_on for c in self.target_checks.get(p, []) if c in views)

    def reevaluate_held(self, ts: float, parent: str | None = None) -> list[Transition]:
        """Decide held pages again: after a result of one of their parents, or on the clock."""
        out = []
        for cid, hold in list(self.held.items()):
            check = self.config.check(cid)
            if check is None:
                self.held.pop(cid, None)
                continue
            if parent is not None and parent not in check.target.depends_on:
                continue
            t = self.evaluate(check, ts)
            if t is not None:
                out.append(t)
        return out

    def in_maintenance(self, check: Check, ts: float) -> bool:
        for m in self.config.paging.maintenance + self.db_windows:
            if m.covers(check.id, check.target.id, check.target.zone) and m.window.active(ts):
                return True
        return False

    def evaluate(self, check: Check, ts: float, raw: Transition | None = None, quiet: bool = False
                 ) -> Transition | None:
        view = self.monitor.live.views.get(check.id)
        if view is None:
            return None
        step_state = view.state.state
        # Parents are judged against the check's own outage: a parent that has not reported since the
        # check began failing is suspect, not up.
        failing_since = view.state.since if step_state is State.DOWN else None
        parents = {p: self.parent_status(p, failing_since) for p in check.target.depends_on}
        maint = self.in_maintenance(check, ts)
        old = self.eff.get(check.id, State.UNKNOWN)
        parents_back_at = max((self.status_at.get(p, 0.0) for p in parents), default=0.0)
        hold = old is State.UNREACHABLE and (
            view.state.ok_streak > 0 or view.result is None or view.result.started_at <= parents_back_at
            or all(s in ("down", "suspect") for s in parents.values()))
        new, cause = effective(step_state, maint, parents, hold)
        if new is State.UNKNOWN and old is State.UNREACHABLE:
            return None     # resumed after a restart: no verdict of its own yet, keep what was recorded
        view.overlay = new if new in OVERLAYS else None
        held = self.held.get(check.id)
        if held is not None and new is State.DOWN and new == old:
            if hold_verdict(parents, self.clock(), held.deadline) == "page":
                self.release(held)
            return None
        if new == old:
            if raw is not None and maint:
                self.monitor.recorder.add_event(ts, check.id, check.target.id, Event(
                    "state_in_maintenance", f"{raw.from_state} -> {raw.to_state}", {"error": raw.error}))
            return None
        if raw is not None and raw.to_state is new:
            since = raw.since
        elif new is step_state and view.state.since:
            since = view.state.since
        else:
            since = ts
        o = view.result.outcome if view.result is not None else None
        error = o.error if o is not None and not o.ok else None
        detail = (o.detail if not o.ok else (o.degraded or "")) if o is not None else ""
        t = Transition(check.id, check.target.id, ts, since, old, new,
                       error=error if new in (State.DOWN, State.UNREACHABLE) else None,
                       detail=detail if new in (State.DOWN, State.UNREACHABLE, State.DEGRADED) else "", cause=cause)
        self.eff[check.id] = new
        self.drop_hold(check.id)
        flapping = quiet or self.flaps.get(check.id, FlapState()).flapping
        bound = self.hold_bound(check) if new is State.DOWN and hold_page(new, parents) else 0.0
        if bound > 0:
            hold_ = Hold(check.id, t, self.clock() + bound, flapping)
            self.held[check.id] = hold_
            self.held_transitions[id(t)] = hold_
            log.info("%s: down while parent %s is suspect; page held up to %.1fs", check.id,
                     ",".join(p for p, s in sorted(parents.items()) if s == "suspect"), bound)
            return t
        self.plans[id(t)] = self.plan(check, t, flapping)
        return t

    def release(self, hold_: Hold) -> None:
        """Page a held check after all: a parent answered, or the hold expired."""
        self.held.pop(hold_.check_id, None)
        self.released.append(hold_)
        log.info("%s: held page released", hold_.check_id)

    def drop_hold(self, check_id: str) -> None:
        """A new transition supersedes a held or released page (recovered, unreachable, maintenance)."""
        self.held.pop(check_id, None)
        self.released = [h for h in self.released if h.check_id != check_id]

    def cascade(self, target_id: str, ts: float) -> list[Transition]:
        """Re-evaluate dependants when a target's down-ness changed, and theirs in turn."""
        out: list[Transition] = []
        queue = [target_id]
        seen: set[str] = set()
        while queue:
            tid = queue.pop(0)
            if tid in seen:
                continue
            seen.add(tid)
            status = self.parent_status(tid)
            if self.status.get(tid) == status:
                continue
            self.status[tid] = status
            self.status_at[tid] = self.clock()
            for child in sorted(self.children.get(tid, ())):
                for cid in self.target_checks.get(child, []):
                    check = self.config.check(cid)
                    if check is not None:
                        t = self.evaluate(check, ts)
                        if t is not None:
                            out.append(t)
                queue.append(child)
        return out

    def reevaluate_all(self, ts: float) -> list[Transition]:
        out = []
        for view in list(self.monitor.live.views.values()):
            t = self.evaluate(view.check, ts)
            if t is not None:
                out.append(t)
        return out

    def channels_for(self, check: Check | None, severity: str, level: int, ts: float) -> tuple[str, ...]:
        paging = self.config.paging
        levels = paging.escalation.get(severity, ())
        if level == 0 and check is not None and check.alert.notify is not None:
            return tuple(check.alert.notify)
        if levels:
            if level >= len(levels):
                return ()
            lv = levels[level]
            out = list(lv.notify)
            for role in lv.oncall:
                for contact in paging.on_duty(ts, role):
                    out.extend(contact.notify)
            return tuple(dict.fromkeys(out))
        return tuple(paging.channels) if level == 0 else ()

    def plan(self, check: Check, t: Transition, flapping: bool) -> Plan:
        severity = check.alert.severity or ("warning" if t.to_state is State.DEGRADED else "critical")
        category = check.alert.category or (
            "security" if t.error in SECURITY_ERRORS else
            "performance" if t.to_state is State.DEGRADED else "availability")
        now = self.clock()
        levels = self.config.paging.escalation.get(severity, ())
        next_esc = now + levels[1].after - levels[0].after if len(levels) > 1 else None
        remind = check.alert.remind_every
        target = check.target
        facts = {"check": check.id, "target": target.id, "target_name": target.name or target.id,
                 "zone": target.zone, "zone_name": self.config.zone_name(target.zone) if target.zone else "",
                 "state": t.to_state.value, "since": t.since, "error": t.error,
                 "detail": self.config.redact(t.detail or ""), "cause": t.cause,
                 "dependants": self.dependants.get(target.id, 0)}
        return Plan(check, severity, category, self.channels_for(check, severity, 0, now), flapping,
                    self.dependants.get(target.id, 0), facts, next_esc, now + remind if remind else None)

    # -- recorder thread: inside the transition's transaction --------------------------------
    def hook(self, conn: sqlite3.Connection, t: Transition, transition_id: int) -> None:
        # get, not pop: when the disk is full this transaction rolls back and the recorder retries with
        # the same object; the plan is forgotten only once the transition is stored (`committed`).
        held = self.held_transitions.get(id(t))
        if held is not None:
            held.transition_id = transition_id
        plan = self.plans.get(id(t))
        if plan is None:
            return
        now = self.clock()
        current = incidents.find_open(conn, check_id=t.check_id)
        if t.to_state in (State.DOWN, State.DEGRADED):
            self._problem(conn, plan, current, transition_id, now)
        elif t.to_state is State.UP and current is not None:
            incidents.resolve(conn, current[0], now, notify=not plan.flapping)

    def _problem(self, conn: sqlite3.Connection, plan: Plan, current: tuple[int, str, str] | None,
                 transition_id: int | None, now: float) -> None:
        if current is not None and current[1] == plan.severity:
            return
        if current is not None:
            incidents.resolve(conn, current[0], now, notify=not plan.flapping)
        if plan.flapping:
            return
        self._open(conn, plan, transition_id, now, "problem")

    def _page_released(self, conn: sqlite3.Connection, plan: Plan, transition_id: int, now: float) -> bool:
        """Page a released hold unless a later transition of the check was stored since."""
        last = conn.execute("SELECT MAX(id) FROM transitions WHERE check_id=?", (plan.check.id,)).fetchone()[0]
        if last != transition_id:
            return False
        self._problem(conn, plan, incidents.find_open(conn, check_id=plan.check.id), transition_id, now)
        return True

    def committed(self, t: Transition) -> None:
        self.plans.pop(id(t), None)
        self.held_transitions.pop(id(t), None)

    def _open(self, conn: sqlite3.Connection, plan: Plan, transition_id: int | None, now: float, kind: str) -> int:
        return incidents.open_incident(conn, incidents.NewIncident(
            key_prefix="nw", source="check", severity=plan.severity, category=plan.category,
            title=plan.check.id, facts=plan.facts, channels=plan.channels, check_id=plan.check.id,
            target_id=plan.check.target.id, zone=plan.check.target.zone, since=float(plan.facts["since"]),
            dependants=plan.dependants, next_escalation_at=plan.next_escalation_at,
            next_remind_at=plan.next_remind_at, transition_id=transition_id, kind=kind), now)

    # -- the clocks ----------------------------------------------------------------------------
    async def run(self) -> None:
        delivery = asyncio.create_task(self.delivery.run(), name="outbox")
        heartbeat = asyncio.create_task(self._heartbeat(), name="heartbeat")
        try:
            while True:
                await asyncio.sleep(TICK_SECONDS)
                try:
                    await self.tick()
                except (*DB_ERRORS, OSError) as exc:
                    log.error("paging tick failed: %s", exc)
                except Exception:  # noqa: BLE001 - paging must outlive a bug in one tick
                    log.exception("paging tick failed")
        finally:
            for task in (delivery, heartbeat):
                task.cancel()
            await asyncio.gather(delivery, heartbeat, return_exceptions=True)

    async def tick(self) -> None:
        now = self.clock()
        had_windows = bool(self.config.paging.maintenance or self.db_windows)
        self.db_windows = await asyncio.to_thread(self._load_windows)
        if had_windows or self.config.paging.maintenance or self.db_windows:
            for t in self.reevaluate_all(now):
                self.monitor.recorder.add_transition(t)
        events, self.flap_events = self.flap_events, []
        flap_plans: list[tuple[str, Plan, State]] = []
        for change, cid, ts in events:
            check = self.config.check(cid) or (self.monitor.live.views[cid].check
                                               if cid in self.monitor.live.views else None)
            if check is None:
                continue
            state = self.eff.get(cid, State.UNKNOWN)
            if state is State.MAINTENANCE:
                continue
            t = Transition(cid, check.target.id, ts, ts, state, state)
            plan = self.plan(check, t, False)
            flap_plans.append((change, plan, state))
        for t in self.reevaluate_held(now):
            self.monitor.recorder.add_transition(t)
        stored = [h for h in self.released if h.transition_id is not None]
        pages: list[tuple[Plan, int]] = []
        for hold_ in stored:
            check = self.config.check(hold_.check_id)
            if check is not None and hold_.transition_id is not None:
                pages.append((self.plan(check, hold_.transition, hold_.flapping), hold_.transition_id))
        # Escalation and reminders wait while a check is in maintenance or behind a dead parent.
        quiet = {cid for cid, state in self.eff.items() if state in OVERLAYS}
        self.open_incidents = await asyncio.to_thread(self._tick_db, now, flap_plans, quiet, pages)
        done = {id(h) for h in stored}
        self.released = [h for h in self.released if id(h) not in done]
        self.delivery.wake.set()
        self._watch_self(now)

    def _load_windows(self) -> tuple[Maintenance, ...]:
        with self.monitor.store.lock:
            rows = self.monitor.store.conn.execute(
                'SELECT id, start, "end", repeat, until, targets, zones, checks, reason FROM maintenance '
                "WHERE cancelled_at IS NULL").fetchall()
        tz = self.config.site.tz
        out = []
        for r in rows:
            try:
                w = window(r[1], r[2], tz, r[3], r[4])
            except ValueError:
                continue
            out.append(Maintenance(f"db-{r[0]}", w, tuple(json.loads(r[5])), tuple(json.loads(r[6])),
                                   tuple(json.loads(r[7])), r[8]))
        return tuple(out)

    def _tick_db(self, now: float, flap_plans: list[tuple[str, Plan, State]], quiet: set[str],
                 pages: list[tuple[Plan, int]]) -> int:
        store = self.monitor.store
        with store.transaction() as c:
            for change, plan, state in flap_plans:
                self._flap_notice(c, change, plan, state, now)
            for plan, transition_id in pages:
                self._page_released(c, plan, transition_id, now)
            due = c.execute(
                "SELECT id, check_id, severity, level, next_escalation_at, next_remind_at, opened_at FROM incidents "
                "WHERE state='open' AND ((next_escalation_at IS NOT NULL AND next_escalation_at <= ?) OR "
                "(next_remind_at IS NOT NULL AND next_remind_at <= ?))", (now, now)).fetchall()
            for iid, check_id, severity, level, next_esc, next_remind, opened_at in due:
                if check_id in quiet:
                    continue
                check = self.config.check(check_id) if check_id else None
                if next_esc is not None and next_esc <= now:
                    levels = self.config.paging.escalation.get(severity, ())
                    level += 1
                    channels = self.channels_for(check, severity, level, now)
                    following = (opened_at + levels[level + 1].after - levels[0].after
                                 if level + 1 < len(levels) else None)
                    c.execute("UPDATE incidents SET level=?, next_escalation_at=? WHERE id=?", (level, following, iid))
                    if channels:
                        incidents.notify_told(c, iid, "escalation", now, {"level": level}, channels)
                if next_remind is not None and next_remind <= now:
                    every = check.alert.remind_every if check is not None else None
                    c.execute("UPDATE incidents SET next_remind_at=? WHERE id=?",
                              (now + every if every else None, iid))
                    incidents.notify_told(c, iid, "reminder", now, {})
            return int(c.execute("SELECT COUNT(*) FROM incidents WHERE state IN ('open','acked')").fetchone()[0])

    def _flap_notice(self, c: sqlite3.Connection, change: str, plan: Plan, state: State, now: float) -> None:
        current = incidents.find_open(c, check_id=plan.check.id)
        facts = {**plan.facts, "state": state.value}
        if change == "start":
            channels = plan.channels
            dedup = f"flapping-{plan.check.id}-{int(now)}"
            for ch in channels:
                enqueue(c, current[0] if current else None, ch, "flapping",
                        {**facts, "kind": "flapping", "incident": current[0] if current else None}, now, dedup)
            return
        if state in (State.DOWN, State.DEGRADED):
            if current is None:
                self._open(c, replace(plan, facts=facts), None, now, "settled")
            else:
                incidents.notify_told(c, current[0], "settled", now, {"state": state.value}, plan.channels)
            return
        if current is not None:
            incidents.resolve(c, current[0], now, notify=False)
        for ch in plan.channels:
            enqueue(c, None, ch, "settled", {**facts, "kind": "settled"}, now, f"settled-{plan.check.id}-{int(now)}")

    # -- watching netwatch itself ---------------------------------------------------------------
    def _watch_self(self, now: float) -> None:
        reasons = []
        recorder = self.monitor.recorder
        if recorder.errors_total > self._recorder_errors_seen:
            reasons.append(f"history store write failed: {self.config.redact(recorder.last_error or '')[:120]}")
        self._recorder_errors_seen = recorder.errors_total
        sched = self.monitor.scheduler
        count = sum(s.count for s in sched.lag.values())
        total = sum(s.total_seconds for s in sched.lag.values())
        seen_count, seen_total = self._lag_seen
        if count > seen_count and (total - seen_total) / (count - seen_count) > self.config.paging.spec.lag_alarm:
            reasons.append(f"scheduler lag {(total - seen_total) / (count - seen_count):.1f}s")
        self._lag_seen = (count, total)
        self.degraded_reason = "; ".join(reasons)
        if reasons and now - self.degraded_sent_at > DEGRADED_RENOTIFY_SECONDS:
            self.degraded_sent_at = now
            log.error("monitoring degraded: %s", self.degraded_reason)
            # The event loop holds tasks only weakly: keep this one until it has been sent.
            task = asyncio.create_task(self._send_direct({"kind": "degraded", "detail": self.degraded_reason,
                                                          "title": self.config.site.name}))
            self.direct_sends.add(task)
            task.add_done_callback(self.direct_sends.discard)

    async def _send_direct(self, facts: dict[str, Any]) -> None:
        """Bypasses the outbox: this is for when the store itself is failing."""
        paging = self.config.paging
        names = paging.spec.self_notify if paging.spec.self_notify is not None else tuple(paging.channels)
        for name in names:
            ch = paging.channels[name]
            for secret in ch.urls:
                url = secret.reveal()
                if ch.sms is not None:
                    text = templates.sms_text([facts], ch.lang, ch.sms.max_segments, ch.sms.strip_diacritics,
                                              self.config.site.tz)
                    title, body, markup = "", text.text, "text"
                else:
                    markup = templates.markup_for(url)
                    title, body = templates.chat([facts], ch.lang, markup, self.config.site.tz)
                result = await senders.send(url, title, body, markup, "degraded", f"degraded-{int(time.time())}",
                                            ch.timeout)
                if not result.ok:
                    log.error("channel %s: monitoring-degraded notice failed (%s)", name,
                              self.config.redact(result.error))

    async def _heartbeat(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                spec = self.config.paging.spec.heartbeat
                if spec is None:
                    await asyncio.sleep(5)
                    continue
                ok = False
                if not self.degraded_reason:
                    try:
                        async with asyncio.timeout(spec.timeout):
                            async with session.get(spec.url.reveal()) as resp:
                                await resp.content.read(4096)
                                ok = resp.status < 400
                    except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                        ok = False
                if ok:
                    self.heartbeat_ok_at = time.time()
                else:
                    self.heartbeat_failures += 1
                await asyncio.sleep(spec.every)

    # -- /metrics ---------------------------------------------------------------------------------
    def metrics(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("netwatch_notify_queue_depth", "Notices waiting in the outbox, per channel.",
                                  labels=["channel"])
        oldest = GaugeMetricFamily("netwatch_notify_oldest_pending_seconds",
                                   "Age of the oldest notice waiting, per channel.", labels=["channel"])
        delivered = CounterMetricFamily("netwatch_notify_deliveries", "Notices delivered, per channel.",
                                        labels=["channel"])
        failures = CounterMetricFamily("netwatch_notify_failures", "Failed delivery attempts, per channel.",
                                       labels=["channel"])
        messages = CounterMetricFamily("netwatch_notify_messages", "Messages sent (a group is one), per channel.",
                                       labels=["channel"])
        for name in self.config.paging.channels:
            s = self.delivery.stat(name)
            depth.add_metric([name], s.queue_depth)
            oldest.add_metric([name], s.oldest_pending_seconds)
            delivered.add_metric([name], s.delivered_total)
            failures.add_metric([name], s.failures_total)
            messages.add_metric([name], s.messages_total)
        yield from (depth, oldest, delivered, failures, messages)
        yield GaugeMetricFamily("netwatch_incidents_open", "Incidents open or acknowledged, not resolved.",
                                value=self.open_incidents)
        yield GaugeMetricFamily("netwatch_monitoring_degraded", "1 while netwatch's own scheduler or store fails.",
                                value=1.0 if self.degraded_reason else 0.0)
        flapping = GaugeMetricFamily("netwatch_check_flapping", "1 while a check is flapping.", labels=["check"])
        for cid, fs in self.flaps.items():
            if fs.flapping:
                flapping.add_metric([cid], 1.0)
        yield flapping
        if self.config.paging.spec.heartbeat is not None:
            yield GaugeMetricFamily("netwatch_heartbeat_last_success_timestamp_seconds",
                                    "Unix time of the last accepted dead-man heartbeat.", value=self.heartbeat_ok_at)
