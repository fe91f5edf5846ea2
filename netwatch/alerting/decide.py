"""The paging decision core: a result (or the clock) in, a `Decision` out — no I/O, no clock, no asyncio.

`Decider.on_result` folds topology (unreachable), maintenance windows and flapping over the step
state of the live view and says which transitions to record and who is told: a `Change` carries its
transition with its `Page` (incident plan) or its hold deadline, a `Release` pages a held check after
all, a `FlapNotice` tells of flapping starting or stopping. `Decider.on_clock` re-decides when
windows open or close and when held pages reach their deadline. `now` is always an argument, so
tables of cases drive time directly; the recorder writes each decision in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AbstractSet, Any, Iterable, Literal, Mapping, Protocol, Union

from netwatch import egov
from netwatch.alerting.flapping import FlapState, observe, uniform_state
from netwatch.alerting.state import CheckState
from netwatch.alerting.topology import (ParentCheck, ParentStatus, dependants, effective, hold_page, hold_seconds,
                                        hold_verdict, target_status)
from netwatch.config.paging import Maintenance, Paging
from netwatch.model import Check, Event, Result, State, Transition

if TYPE_CHECKING:
    from netwatch.config import Config

OVERLAYS = (State.UNREACHABLE, State.MAINTENANCE)
# What makes an alert `security`: tampering (defacement, config drift), an identity change (host key),
# or someone guessing credentials (SNMPv3 authentication failures) — by error class, not by kind,
# so an ssh timeout is still an availability problem.
SECURITY_ERRORS = egov.SECURITY_ERRORS | frozenset({"config_drift", "host_key_changed", "host_key_unknown",
                                                    "snmp_auth"})


class Observed(Protocol):
    """What the decider reads of one check in the live view (netwatch.live.CheckView has it)."""

    @property
    def check(self) -> Check: ...
    @property
    def state(self) -> CheckState: ...
    @property
    def result(self) -> Result | None: ...


@dataclass(frozen=True)
class Page:
    """What a transition means for paging: the incident it opens or resolves, and who is told."""

    check: Check
    severity: str
    category: str
    channels: tuple[str, ...]
    flapping: bool
    dependants: int
    facts: Mapping[str, Any]
    next_escalation_at: float | None
    next_remind_at: float | None
    order: int = 0                    # the check's place among its target's checks (ties in fault_rank)
    group_wait_seconds: float = 0.0   # the longest first-page wait of the channels: the grouping window

    @property
    def rank(self) -> tuple[int, int]:
        return fault_rank(self.category, str(self.facts.get("state") or ""), self.order)


# -- one incident per target fault --------------------------------------------------------------
# Checks of one target failing together are one fault: one incident, one page, one recovery. These
# rules are pure; alerting.incidents reads the target's open incident from the store and applies them.
FoldAction = Literal["open", "group", "join", "same", "replace"]
SEVERITY_ORDER: Mapping[str, int] = {"critical": 0, "warning": 1}


@dataclass(frozen=True)
class OpenFault:
    """What the fold rules read of a target's open incident."""

    opened_at: float
    severity: str
    rank: tuple[int, int]          # of the check that names it
    failing: frozenset[str]        # its checks not recovered


@dataclass(frozen=True)
class Fold:
    """What a failing check does to its target's incident; `names`: it names the incident from now on."""

    action: FoldAction
    names: bool = False


def fault_rank(category: str, state: str, order: int) -> tuple[int, int]:
    """Which check names a fault: security, then down, then degraded; then the configured check order (lower wins)."""
    return (0 if category == "security" else 1 if state in ("down", "unreachable") else 2, order)


def fold_failure(fault: OpenFault | None, check_id: str, rank: tuple[int, int], severity: str, now: float,
                 group_wait_seconds: float) -> Fold:
    """A check of the target goes down or degraded.

    No open incident: it opens one. Within the grouping window after the incident opened (its first
    page is still waiting to leave) it is grouped in, and names the incident when it is worse. Later
    it joins, noted but not paged — unless it is more severe (a critical check failing on a target
    whose incident is a warning, or the one failing check turning critical): then a new incident
    replaces the old one and pages, since nobody was paged at that severity.
    """
    if fault is None:
        return Fold("open", True)
    if now - fault.opened_at <= group_wait_seconds:
        return Fold("group", rank < fault.rank)
    more_severe = SEVERITY_ORDER.get(severity, 9) < SEVERITY_ORDER.get(fault.severity, 9)
    changed_alone = fault.failing == {check_id} and severity != fault.severity
    if more_severe or changed_alone:
        return Fold("replace", True)
    return Fold("same") if check_id in fault.failing else Fold("join")


def fold_recovery(failing: frozenset[str], check_id: str) -> Literal["resolve", "note", "none"]:
    """A check of the target recovers: the incident resolves when it was its last failing check, else it is noted."""
    if check_id not in failing:
        return "none"
    return "note" if failing - {check_id} else "resolve"


@dataclass(frozen=True)
class Change:
    """A transition to record, with its page; or, with `hold_until`, its page held back (a held_pages row)."""

    transition: Transition
    page: Page | None = None
    hold_until: float | None = None
    flapping: bool = False
    suspect: tuple[str, ...] = ()      # the parents a held page waits for
    hold_seconds: float = 0.0


@dataclass(frozen=True)
class Release:
    """Page a held check after all (a parent answered, or the hold expired)."""

    check_id: str
    page: Page


@dataclass(frozen=True)
class FlapNotice:
    change: str          # start | stop
    page: Page
    state: State


@dataclass(frozen=True)
class RebootNotice:
    """A device rebooted: a short notice of its own to the target's channels — no incident, no outage."""

    target_id: str
    channels: tuple[str, ...]
    facts: Mapping[str, Any]


Item = Union[Change, Release, FlapNotice, RebootNotice]
# A trap and an uptime reset whose reboot moments (arrival minus the uptime they report) are this close are
# one reboot, paged once; the poll's moment is known to within its interval, the trap's to a second.
REBOOT_SAME_SECONDS = 120.0


@dataclass(frozen=True)
class Decision:
    """What one result or clock tick decided, in order. `overlays` set the live view's shown state."""

    items: tuple[Item, ...] = ()
    events: tuple[tuple[float, str, str, Event], ...] = ()
    overlays: tuple[tuple[str, State | None], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.items or self.events or self.overlays)

    @property
    def transitions(self) -> list[Transition]:
        return [i.transition for i in self.items if isinstance(i, Change)]

    def log_lines(self) -> list[str]:
        out = []
        for i in self.items:
            if isinstance(i, Change):
                t = i.transition
                out.append(f"{t.check_id}: {t.from_state} -> {t.to_state} ({t.error or 'ok'})")
                if i.hold_until is not None:
                    out.append(f"{t.check_id}: down while parent {','.join(i.suspect)} is suspect; page held up to "
                               f"{i.hold_seconds:.1f}s")
            elif isinstance(i, Release):
                out.append(f"{i.check_id}: held page released")
            elif isinstance(i, RebootNotice):
                told = ",".join(i.channels) or "nobody"
                out.append(f"{i.target_id}: rebooted ({i.facts.get('source')}), paging {told}")
            else:
                out.append(f"{i.page.check.id}: flapping {'started' if i.change == 'start' else 'stopped'}")
        return out


@dataclass
class Held:
    check_id: str
    transition: Transition
    deadline: float
    flapping: bool


@dataclass
class _Draft:
    """A decision being assembled."""

    items: list[Item] = field(default_factory=list)
    events: list[tuple[float, str, str, Event]] = field(default_factory=list)
    overlays: dict[str, State | None] = field(default_factory=dict)

    def done(self) -> Decision:
        return Decision(tuple(self.items), tuple(self.events), tuple(self.overlays.items()))


def channels_for(paging: Paging, check: Check | None, severity: str, level: int, ts: float) -> tuple[str, ...]:
    """Who is told at an escalation level: the check's own list at level 0, else the level's channels and on-call."""
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


def in_maintenance(windows: Iterable[Maintenance], check: Check, ts: float) -> bool:
    return any(m.covers(check.id, check.target.id, check.target.zone) and m.window.active(ts) for m in windows)


# What most results decide, one shared object: the result path skips it by identity (Decision.__bool__
# is a Python call per result).
NOTHING = Decision((), (), ())
_NOTHING = NOTHING
_NO_IDS: frozenset[str] = frozenset()
# A result carrying it is noted by on_result (a reboot notice says how long the device had run): never skipped.
UPTIME_MEASUREMENT = "uptime_seconds"
_NO_FLAPS = FlapState()   # shared, not built per result: most checks never flap
# A module constant: looking a member up on the Enum class costs ~0.1 us, and stays_up runs for every result.
_UP = State.UP


class Decider:
    """The decision state: effective states, flapping, held pages, parent statuses. Fed by results and `now`."""

    def __init__(self, config: "Config", effective_states: Mapping[str, State]) -> None:
        self.eff: dict[str, State] = dict(effective_states)
        # The checks whose effective state is an overlay, kept beside `eff` (written in one place, below)
        # so the paging tick does not scan every check twice a second.
        self.quiet: set[str] = {cid for cid, state in self.eff.items() if state in OVERLAYS}
        self.flaps: dict[str, FlapState] = {}
        self.held: dict[str, Held] = {}
        self.status: dict[str, ParentStatus] = {}
        self.status_at: dict[str, float] = {}
        self.boots: dict[str, float] = {}     # target -> the moment of the last reboot paged
        # target -> (sysUpTime seconds, when polled) of its last poll that answered: what a reboot notice says
        # the device had run before (the polls during a reboot's silence fail and carry none)
        self.uptimes: dict[str, tuple[float, float]] = {}
        self.db_windows: tuple[Maintenance, ...] = ()
        # The checks that are up, on a target nothing depends on, with a full window of up results
        # (`steady_flaps`): a clean result of theirs changes nothing unless the live view or a maintenance
        # window says otherwise (on_result's first lines). Kept in step where `eff` or `flaps` is written
        # (`_settle`) and rebuilt on reload, so a result costs one set lookup instead of three dict lookups.
        self.steady: set[str] = set()
        self.reload(config)

    def reload(self, config: "Config") -> None:
        self.config = config
        # A full flapping window of up results, not flapping: observe() keeps it as it is for one more up
        # result (flapping.uniform_state, shared by every check in it), so on_result knows it by identity.
        self.steady_flaps = uniform_state("up", config.paging.spec.flapping.window)
        self.children: dict[str, set[str]] = {}
        for t in config.targets:
            for p in t.depends_on:
                self.children.setdefault(p, set()).add(t.id)
        self.dependants = {k: len(v) for k, v in dependants(config.targets).items()}
        self.target_checks: dict[str, list[str]] = {}
        for c in config.checks:
            self.target_checks.setdefault(c.target.id, []).append(c.id)
        self.known_targets = {t.id for t in config.targets}
        self.steady = set()
        for check in config.checks:   # derived checks (not in the config) join again at their next result
            self._settle(check.id, check.target.id)

    def _settle(self, check_id: str, target_id: str) -> None:
        """Whether the check belongs in `steady`, after its effective state or flapping state was written."""
        if (self.eff.get(check_id) is _UP and self.flaps.get(check_id) is self.steady_flaps
                and target_id not in self.children):
            self.steady.add(check_id)
        else:
            self.steady.discard(check_id)

    def resume(self, held: Iterable[tuple[Transition, bool]], now: float) -> None:
        """Hold again the pages held when netwatch stopped (rows of held_pages): a restart must not swallow
        them. The deadline starts afresh: the parents have not reported since the restart."""
        for t, flapping in held:
            check = self.config.check(t.check_id)
            if check is None or not check.target.depends_on:
                continue
            self.held[t.check_id] = Held(t.check_id, t, now + self.hold_bound(check), flapping)

    def adopt(self, states: Mapping[str, State]) -> None:
        """Take the recorded effective states of checks another node decided (a new coordinator and the
        checks it decides from votes): this node's own memory of them dates from its start, and a recovery
        compared against a stale "up" would decide nothing and never be paged."""
        for check_id, state in states.items():
            self.eff[check_id] = state
            check = self.config.check(check_id)
            if check is not None:
                self._settle(check_id, check.target.id)
            else:
                self.steady.discard(check_id)
            if state in OVERLAYS:
                self.quiet.add(check_id)
            else:
                self.quiet.discard(check_id)

    def flapping_checks(self) -> list[str]:
        return [cid for cid, fs in self.flaps.items() if fs.flapping]

    def quiet_checks(self) -> set[str]:
        """Checks in maintenance or behind a dead parent: their escalation and reminders wait."""
        return set(self.quiet)

    # -- results ------------------------------------------------------------------------------
    def on_result(self, check: Check, result: Result, raw: Transition | None, views: Mapping[str, Observed],
                  now: float) -> Decision:
        outcome = result.outcome
        if raw is None and outcome.ok and outcome.degraded is None and check.id in self.steady:
            # (quiet_ids gives this shortcut for a batch of results at once: change both together.)
            # Nothing changes (most results): a clean result on a full window of up results leaves the
            # flapping state as it is (observe() returns it, no start or stop), and an up check on a target
            # nothing depends on stays up while its step state is up and no window covers it (stays_up's
            # rules, the first two known from `steady`). What the full path below finds, without it;
            # tests/alerting/test_steady_path.py holds the two together.
            view = views.get(check.id)
            if view is not None and view.state.state is _UP and UPTIME_MEASUREMENT not in outcome.measurements:
                windows = self.config.paging.maintenance
                if not ((windows or self.db_windows)
                        and in_maintenance(windows + self.db_windows, check, result.started_at)):
                    return _NOTHING
        uptime = outcome.measurements.get(UPTIME_MEASUREMENT)
        if uptime is not None:
            self.uptimes[check.target.id] = (float(uptime), result.started_at)
        before = self.flaps.get(check.id, _NO_FLAPS)
        flapping_before = before.flapping
        change = None
        if check.alert.flap_detection:
            spec = self.config.paging.spec.flapping
            fs, change = observe(before, result.ok, spec.window, spec.high, spec.low,
                                 degraded=result.outcome.degraded is not None)
            if fs is not before:
                self.flaps[check.id] = fs
                self._settle(check.id, check.target.id)
        if raw is None and change is None and self.stays_up(check, result.started_at, views):
            return _NOTHING
        draft = _Draft()
        self.evaluate(draft, check, result.started_at, views, now, raw, quiet=flapping_before)
        self.cascade(draft, check.target.id, result.started_at, views, now)
        self.reevaluate_held(draft, result.started_at, views, now, parent=check.target.id)
        if change:
            self.flap_notice(draft, change, check.id, result.started_at, views, now)
        return draft.done()

    def quiet_ids(self) -> AbstractSet[str]:
        """The checks whose clean result, with no UPTIME_MEASUREMENT, decides nothing while the live view shows
        them up (on_result's shortcut, for a batch of results at once): `steady`; none while any maintenance
        window is set (whether it covers a result is on_result's to find)."""
        if self.config.paging.maintenance or self.db_windows:
            return _NO_IDS
        return self.steady

    def stays_up(self, check: Check, ts: float, views: Mapping[str, Observed]) -> bool:
        """An up check staying up, outside maintenance, on a target nothing depends on: nothing to decide.

        The full path would find the same: an up step state is up whatever the parents (effective),
        no page is held for an up check, and with no dependants there is nothing to cascade to. Most
        results are this, so it is checked before building anything.
        """
        if self.eff.get(check.id) is not _UP or check.target.id in self.children:
            return False
        view = views.get(check.id)
        if view is None or view.state.state is not _UP:
            return False
        windows = self.config.paging.maintenance
        return not ((windows or self.db_windows) and in_maintenance(windows + self.db_windows, check, ts))

    def flap_notice(self, draft: _Draft, change: str, check_id: str, ts: float, views: Mapping[str, Observed],
                    now: float) -> None:
        check = self.config.check(check_id) or (views[check_id].check if check_id in views else None)
        if check is None:
            return
        state = self.eff.get(check_id, State.UNKNOWN)
        if state is State.MAINTENANCE:
            return
        page = self.page(check, Transition(check_id, check.target.id, ts, ts, state, state), False, now)
        draft.items.append(FlapNotice(change, page, state))

    # -- reboots ------------------------------------------------------------------------------
    def on_polled_reboot(self, target_id: str, at: float, data: Mapping[str, Any], views: Mapping[str, Observed],
                         now: float) -> Decision:
        """A poll's `reboot` event (sysUpTime went back): how long the device ran before, then `on_reboot`."""
        uptime, previous = data.get("uptime_seconds"), data.get("previous_uptime_seconds")
        uptime_seconds = float(uptime) if isinstance(uptime, (int, float)) else None
        before = None
        if (isinstance(previous, (int, float)) and uptime_seconds is not None
                and isinstance(data.get("at"), (int, float)) and isinstance(data.get("previous_at"), (int, float))):
            # it ran on after the previous poll until it restarted, `uptime` before this one (the probe's
            # `at` and `previous_at` are on the loop's monotonic clock: only their difference is used)
            before = float(previous) + max(0.0, float(data["at"]) - uptime_seconds - float(data["previous_at"]))
        return self.on_reboot(target_id, at, uptime_seconds, before, "poll", views, now)

    def on_reboot(self, target_id: str, at: float, uptime_seconds: float | None, before_seconds: float | None,
                  source: str, views: Mapping[str, Observed], now: float) -> Decision:
        """A reboot seen by a poll (sysUpTime went back) or a coldStart/warmStart trap: page it once.

        `at` is when it was seen and `uptime_seconds` the uptime then, so `at - uptime` is when the device
        started again; a second sighting of the same start (the trap, then the poll) pages nothing.
        `before_seconds`, how long it had run before, is taken from the last poll when not given.
        """
        target = self.config.target(target_id)
        if target is None or not self.config.paging.spec.reboots:
            return _NOTHING
        booted_at = at - max(0.0, uptime_seconds or 0.0)
        last = self.boots.get(target_id)
        if last is not None and abs(booted_at - last) <= REBOOT_SAME_SECONDS:
            return _NOTHING
        self.boots[target_id] = booted_at
        checks = [c for cid in self.target_checks.get(target_id, []) for c in [self.config.check(cid)] if c]
        windows = self.config.paging.maintenance + self.db_windows
        if any(m.covers(c.id, target_id, target.zone) and m.window.active(at) for m in windows for c in checks) or (
                not checks and any(m.covers("", target_id, target.zone) and m.window.active(at) for m in windows)):
            return _NOTHING     # a planned reboot: the window says so
        if before_seconds is None:
            seen = self.uptimes.get(target_id)
            before_seconds = (seen[0] + (booted_at - seen[1]) if seen is not None and seen[1] <= booted_at
                              else self._uptime_before(checks, booted_at, views))
        lead = next((c for c in checks if c.kind == "snmp"), checks[0] if checks else None)
        channels = channels_for(self.config.paging, lead, "warning", 0, now)
        facts = {"kind": "reboot", "target": target_id, "target_name": target.name or target_id, "zone": target.zone,
                 "zone_name": self.config.zone_name(target.zone) if target.zone else "", "at": booted_at,
                 "uptime_before": before_seconds, "source": source,
                 "dependants": self.dependants.get(target_id, 0)}
        return Decision((RebootNotice(target_id, channels, facts),))

    @staticmethod
    def _uptime_before(checks: list[Check], booted_at: float, views: Mapping[str, Observed]) -> float | None:
        """The uptime the last poll saw, carried forward to the reboot (None when no poll saw one)."""
        for check in checks:
            view = views.get(check.id)
            result = view.result if view is not None else None
            if result is None:
                continue
            seen = result.outcome.measurements.get("uptime_seconds")
            if seen is not None and result.started_at <= booted_at:
                return float(seen) + (booted_at - result.started_at)
        return None

    # -- the clock ----------------------------------------------------------------------------
    def on_clock(self, now: float, views: Mapping[str, Observed], db_windows: tuple[Maintenance, ...]) -> Decision:
        """Windows opening or closing, held pages reaching their deadline."""
        draft = _Draft()
        had_windows = bool(self.config.paging.maintenance or self.db_windows)
        self.db_windows = db_windows
        if had_windows or self.config.paging.maintenance or self.db_windows:
            for view in list(views.values()):
                self.evaluate(draft, view.check, now, views, now)
        self.reevaluate_held(draft, now, views, now)
        return draft.done()

    # -- topology -------------------------------------------------------------------------------
    def parent_status(self, target_id: str, views: Mapping[str, Observed], since: float | None = None
                      ) -> ParentStatus:
        if target_id not in self.known_targets:
            return "unknown"
        checks = []
        for cid in self.target_checks.get(target_id, []):
            view = views.get(cid)
            if view is None:
                continue
            # A parent resumed as unreachable after a restart has no step verdict yet but is still down.
            state = State.UNREACHABLE if self.eff.get(cid) is State.UNREACHABLE else view.state.state
            checks.append(ParentCheck(state, view.state.fail_streak,
                                      view.result.started_at if view.result is not None else None))
        return target_status(checks, since)

    def hold_bound(self, check: Check) -> float:
        """How long the check's page may wait for its parents to be confirmed down."""
        parents = [self.config.check(c) for p in check.target.depends_on for c in self.target_checks.get(p, [])]
        return hold_seconds((c.interval_seconds, c.alert.fail_after, c.timeout_seconds) for c in parents if c)

    def reevaluate_held(self, draft: _Draft, ts: float, views: Mapping[str, Observed], now: float,
                        parent: str | None = None) -> None:
        """Decide held pages again: after a result of one of their parents, or on the clock."""
        for cid in list(self.held):
            check = self.config.check(cid)
            if check is None:
                self.held.pop(cid, None)
                continue
            if parent is not None and parent not in check.target.depends_on:
                continue
            self.evaluate(draft, check, ts, views, now)

    def cascade(self, draft: _Draft, target_id: str, ts: float, views: Mapping[str, Observed], now: float) -> None:
        """Re-evaluate dependants when a target's down-ness changed, and theirs in turn."""
        queue = [target_id]
        seen: set[str] = set()
        while queue:
            tid = queue.pop(0)
            if tid in seen:
                continue
            seen.add(tid)
            status = self.parent_status(tid, views)
            if self.status.get(tid) == status:
                continue
            self.status[tid] = status
            self.status_at[tid] = now
            for child in sorted(self.children.get(tid, ())):
                for cid in self.target_checks.get(child, []):
                    check = self.config.check(cid)
                    if check is not None:
                        self.evaluate(draft, check, ts, views, now)
                queue.append(child)

    # -- one check ----------------------------------------------------------------------------
    def evaluate(self, draft: _Draft, check: Check, ts: float, views: Mapping[str, Observed], now: float,
                 raw: Transition | None = None, quiet: bool = False) -> None:
        view = views.get(check.id)
        if view is None:
            return
        step_state = view.state.state
        # Parents are judged against the check's own outage: a parent that has not reported since the
        # check began failing is suspect, not up.
        failing_since = view.state.since if step_state is State.DOWN else None
        parents = {p: self.parent_status(p, views, failing_since) for p in check.target.depends_on}
        maint = in_maintenance(self.config.paging.maintenance + self.db_windows, check, ts)
        old = self.eff.get(check.id, State.UNKNOWN)
        parents_back_at = max((self.status_at.get(p, 0.0) for p in parents), default=0.0)
        keep_unreachable = old is State.UNREACHABLE and (
            view.state.ok_streak > 0 or view.result is None or view.result.started_at <= parents_back_at
            or all(s in ("down", "suspect") for s in parents.values()))
        new, cause = effective(step_state, maint, parents, keep_unreachable)
        if new is State.UNKNOWN and old is State.UNREACHABLE:
            return     # resumed after a restart: no verdict of its own yet, keep what was recorded
        draft.overlays[check.id] = new if new in OVERLAYS else None
        held = self.held.get(check.id)
        if held is not None and new is State.DOWN and new == old:
            if hold_verdict(parents, now, held.deadline) == "page":
                self.held.pop(check.id, None)
                draft.items.append(Release(check.id, self.page(check, held.transition, held.flapping, now)))
            return
        if new == old:
            if raw is not None and maint:
                draft.events.append((ts, check.id, check.target.id, Event(
                    "state_in_maintenance", f"{raw.from_state} -> {raw.to_state}", {"error": raw.error})))
            return
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
        self._settle(check.id, check.target.id)
        if new in OVERLAYS:
            self.quiet.add(check.id)
        else:
            self.quiet.discard(check.id)
        self.held.pop(check.id, None)     # a new transition supersedes a held page
        flapping = quiet or self.flaps.get(check.id, _NO_FLAPS).flapping
        bound = self.hold_bound(check) if new is State.DOWN and hold_page(new, parents) else 0.0
        if bound > 0:
            self.held[check.id] = Held(check.id, t, now + bound, flapping)
            draft.items.append(Change(t, hold_until=now + bound, flapping=flapping, hold_seconds=bound,
                                      suspect=tuple(p for p, s in sorted(parents.items()) if s == "suspect")))
            return
        measured = o.detail if o is not None and new is State.DEGRADED else ""
        draft.items.append(Change(t, self.page(check, t, flapping, now, measured)))

    def page(self, check: Check, t: Transition, flapping: bool, now: float, measured: str = "") -> Page:
        severity = check.alert.severity or ("warning" if t.to_state is State.DEGRADED else "critical")
        category = check.alert.category or (
            "security" if t.error in SECURITY_ERRORS else
            "performance" if t.to_state is State.DEGRADED else "availability")
        levels = self.config.paging.escalation.get(severity, ())
        next_esc = now + levels[1].after - levels[0].after if len(levels) > 1 else None
        remind = check.alert.remind_every
        target = check.target
        facts = {"check": check.id, "target": target.id, "target_name": target.name or target.id,
                 "zone": target.zone, "zone_name": self.config.zone_name(target.zone) if target.zone else "",
                 "state": t.to_state.value, "since": t.since, "error": t.error,
                 "detail": self.config.redact(t.detail or ""), "cause": t.cause,
                 "dependants": self.dependants.get(target.id, 0), "check_kind": check.kind,
                 # Problem pages with the same key leave as one message within a channel's group_wait.
                 "group_key": f"zone:{target.zone}" if target.zone else "site"}
        if t.to_state is State.DEGRADED:
            # The transition names only the degraded class; the message keeps the numbers (0.606 s vs 0.3 s).
            facts["degraded"] = t.detail or None
            facts["measured"] = self.config.redact(measured)
        if t.cause:
            parent = self.config.target(t.cause)
            facts["cause_name"] = (parent.name or parent.id) if parent is not None else t.cause
        channels = channels_for(self.config.paging, check, severity, 0, now)
        if category == "security":   # a defacement also reaches the security team's channel, when set
            channels = tuple(dict.fromkeys(channels + self.config.paging.spec.security_notify))
        siblings = self.target_checks.get(target.id, [])
        order = siblings.index(check.id) if check.id in siblings else len(siblings)
        # The grouping window of a target's fault: the longest first-page wait of any channel, so a check
        # with no channels of its own (record only) still folds into the fault it is part of.
        waits = [ch.group_wait for ch in self.config.paging.channels.values()]
        return Page(check, severity, category, channels, flapping,
                    self.dependants.get(target.id, 0), facts, next_esc, now + remind if remind else None,
                    order, float(max(waits, default=0.0)))

