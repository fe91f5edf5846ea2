"""The live view: latest result and health state of every check, fed by the scheduler."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import AbstractSet, Callable, Iterable, Mapping

from netwatch.alerting.state import CheckState, restored, step
from netwatch.model import Transition
from netwatch.model import Check, Result, State
from netwatch.store import StoredState

# A result older than this many intervals no longer says anything about the present.
STALE_INTERVALS = 2.0
# States decided over the step state (topology, maintenance) rather than by it.
OVERLAYS = (State.UNREACHABLE, State.MAINTENANCE)
_UP = State.UP


@dataclass
class CheckView:
    check: Check
    state: CheckState
    result: Result | None = None
    parent_id: str | None = None   # set for derived checks (an SNMP interface of a device)
    # Set by netwatch.alerting when topology or maintenance overrides the step state
    # (unreachable, maintenance); None shows the step state.
    overlay: State | None = None
    # Runs the scheduler skipped because the kind's probe pool was full: in all, and since the last result.
    # A check that could not run is shown as such (board, JSON, /metrics), not as `unknown` alone.
    skipped_runs: int = 0
    skipped_since_result: int = 0
    # The step state a clean result leaves as it is under `check`'s policy (an up check staying up: step()
    # returned this very object for one), or None. LiveView.update then skips step(); any other state
    # object (a new one from step, a cluster's vote, a reload's new view) is not it.
    steady: CheckState | None = None


def child_check(parent: Check, suffix: str) -> Check:
    """A derived check (e.g. `<target>/if/<name>`) inherits schedule and policy from its parent."""
    return replace(parent, id=f"{parent.target.id}/{suffix}")


def expand(check: Check, result: Result) -> list[tuple[Check, Result, str | None]]:
    """A result and the results of its derived checks, each with its parent's id (or None)."""
    out: list[tuple[Check, Result, str | None]] = [(check, result, None)]
    children = result.outcome.children
    if not children:   # almost every result: no derived checks to build
        return out
    for suffix, outcome in children.items():
        child = child_check(check, suffix)
        out.append((child, replace(result, check_id=child.id, outcome=outcome), check.id))
    return out


class LiveView:
    # Told the id of each check a result is folded in for (netwatch.web.metrics writes lines ahead of a scrape).
    on_result: Callable[[str], object] | None = None

    def __init__(self, checks: Iterable[Check], stored: Mapping[str, StoredState] | None = None) -> None:
        self.views: dict[str, CheckView] = {}
        # Cluster coordinator: the confirmed (voted) state of multi-vantage checks and of the "site isolated"
        # checks, which paging decides on instead of this node's own site's step state (clustering.py).
        self.confirmed: dict[str, CheckView] = {}
        # The step function cannot resume from an overlay state: it resumes from unknown, and the
        # recorded overlay is shown (and the paging decider starts from it) until decided again.
        self.stored = {cid: replace(s, state=State.UNKNOWN) if s.state in OVERLAYS else s
                       for cid, s in (stored or {}).items()}
        resumed = {cid: s.state for cid, s in (stored or {}).items() if s.state in OVERLAYS}
        self.apply(checks)
        for cid, view in self.views.items():
            if cid in resumed:
                view.overlay, view.state = resumed[cid], CheckState()

    def decided(self) -> Mapping[str, CheckView]:
        """What paging decides on: this node's views, or in a cluster the coordinator's merged ones."""
        return {**self.views, **self.confirmed} if self.confirmed else self.views

    def set_overlays(self, overlays: Iterable[tuple[str, State | None]]) -> None:
        """What paging decided to show over the step state (unreachable, maintenance), or None."""
        for cid, overlay in overlays:
            view = self.views.get(cid)
            if view is not None:
                view.overlay = overlay

    def apply(self, checks: Iterable[Check]) -> None:
        """Adopt a new set of checks, keeping the state of those that stay."""
        new: dict[str, CheckView] = {}
        for check in checks:
            old = self.views.get(check.id)
            if old is not None:
                new[check.id] = CheckView(check, old.state, old.result, overlay=old.overlay,
                                          skipped_runs=old.skipped_runs, skipped_since_result=old.skipped_since_result)
            else:
                new[check.id] = CheckView(check, self._initial(check.id))
        # Derived checks survive while their parent does; their next result refreshes them.
        for cid, view in self.views.items():
            if view.parent_id is not None and view.parent_id in new:
                new[cid] = view
        self.views = new

    def _initial(self, check_id: str) -> CheckState:
        s = self.stored.get(check_id)
        return restored(s.state, s.since) if s is not None else CheckState()

    def note_skipped(self, check_id: str, runs: int) -> None:
        """The scheduler skipped `runs` runs of a check (its kind's pool was full)."""
        view = self.views.get(check_id)
        if view is not None:
            view.skipped_runs += runs
            view.skipped_since_result += runs

    def update(self, check: Check, result: Result, parent_id: str | None = None) -> Transition | None:
        """Fold one result into the view; return the state change it caused, if any."""
        if self.on_result is not None:
            self.on_result(check.id)
        view = self.views.get(check.id)
        o = result.outcome
        if view is not None and o.ok and o.degraded is None and view.state is view.steady and check is view.check:
            # An up check staying up (most results): step() would return this state unchanged, as it did
            # for this check's last clean result under the same policy (tests/alerting/test_steady_path.py).
            # update_quiet makes the same test for a batch: change both together.
            view.result = result
            view.skipped_since_result = 0
            return None
        if view is None:
            view = CheckView(check, self._initial(check.id), parent_id=parent_id)
            self.views[check.id] = view
        old_state = view.state
        new_state, changed = step(old_state, o.ok, o.degraded is not None, o.error, result.started_at, check.alert)
        transition = None
        if changed is not None:
            to_state, since = changed
            transition = Transition(
                check_id=check.id, target_id=check.target.id, ts=result.started_at, since=since,
                from_state=old_state.state, to_state=to_state, error=o.error if not o.ok else None,
                detail=o.detail if not o.ok else (o.degraded or ""))
        # step() returns the state it was given only for a clean result that changes nothing, and only
        # by its policy's numbers: under the same check object, the next clean result will do the same.
        view.steady = new_state if new_state is old_state and check is view.check else None
        view.state = new_state
        view.result = result
        view.skipped_since_result = 0
        return transition

    def update_quiet(self, runs: list[tuple[Check, Result]], quiet: AbstractSet[str],
                     noted: str) -> list[tuple[Check, Result]]:
        """update() for the results of a batch, in one pass: a clean result of a check in `quiet` (whose decision
        the caller knows to be nothing while it stays up) that leaves its steady up state as it is only becomes the
        view's latest; every other result (a change, another check, one carrying measurement `noted`) is returned
        untouched, for update() and a decision. tests/alerting/test_steady_path.py holds this to update()."""
        if not quiet:
            return runs   # a maintenance window is set: every result is the decider's to see
        views, mark, others = self.views, self.on_result, []
        for run in runs:
            check, result = run
            view = views.get(check.id)
            o = result.outcome
            if (view is not None and o.ok and o.degraded is None and view.state is view.steady and check is view.check
                    and view.state.state is _UP and check.id in quiet and noted not in o.measurements):
                if mark is not None:
                    mark(check.id)
                view.result = result
                view.skipped_since_result = 0
            else:
                others.append(run)
        return others

    def display_state(self, view: CheckView, now: float) -> State:
        """The state shown to people: unknown until probed, and once results go stale."""
        if view.overlay is State.MAINTENANCE:
            return view.overlay
        if view.result is None:
            return State.UNKNOWN
        if now - view.result.started_at > STALE_INTERVALS * view.check.interval_seconds + view.check.timeout_seconds:
            return State.UNKNOWN
        return view.overlay or view.state.state
