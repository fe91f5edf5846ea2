"""Parent/child suppression: a target whose parents are all down is unreachable, not down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Mapping, Sequence

from netwatch.model import State, Target

ParentStatus = Literal["down", "suspect", "up", "unknown"]
HoldVerdict = Literal["hold", "unreachable", "page"]
CONFIRMED = (State.DOWN, State.UNREACHABLE)


@dataclass(frozen=True)
class ParentCheck:
    """What topology needs to know of one check of a parent target."""

    state: State
    fail_streak: int = 0
    last_result_at: float | None = None    # start time of its latest result


def target_status(checks: Sequence[ParentCheck], since: float | None = None) -> ParentStatus:
    """How a parent target looks to a child whose failures began at `since`.

    down: every check of the parent is confirmed down (or itself unreachable).
    suspect: not confirmed, but nothing proves it up: each check is confirmed, failing now (a streak
    shorter than fail_after), or has no result started at or after `since` yet (a parent timing out
    reports later than a child refusing at once; after a restart, a parent that has not reported).
    up: one of its checks answered (after `since`, when given). No checks at all (a disabled or
    unmonitored parent) is unknown and never suppresses; so is, without `since`, a parent whose
    checks never reported.
    """
    if not checks:
        return "unknown"
    if all(c.state in CONFIRMED for c in checks):
        return "down"
    if since is None and all(c.state is State.UNKNOWN and c.fail_streak == 0 and c.last_result_at is None
                             for c in checks):
        return "unknown"
    for c in checks:
        if c.state in CONFIRMED or c.fail_streak > 0 or c.last_result_at is None:
            continue
        if since is None or c.last_result_at >= since:
            return "up"
    return "suspect"


def effective(raw: State, in_maintenance: bool, parents: Mapping[str, ParentStatus],
              hold: bool = False) -> tuple[State, str | None]:
    """The state shown and recorded, with the cause (the parents) when unreachable.

    Only parents that are all confirmed down make a check unreachable; a suspect parent makes the
    engine hold the check's page instead (see `hold_page`). `hold` keeps an unreachable check
    unreachable while no parent is proven up, or after its parent came back until the check has a
    result of its own from after that: children catch up a few seconds after their router and must
    not page meanwhile.
    """
    if in_maintenance:
        return State.MAINTENANCE, None
    if raw is State.DOWN and parents and all(s == "down" for s in parents.values()):
        return State.UNREACHABLE, ",".join(sorted(parents))
    if raw is State.DOWN and parents and hold:
        return State.UNREACHABLE, ",".join(sorted(parents))
    return raw, None


def hold_page(state: State, parents: Mapping[str, ParentStatus]) -> bool:
    """Whether a check just confirmed down (effective `state`) must wait for its parents before paging.

    Only while every parent is down or suspect and one is still suspect: the check may yet turn out
    unreachable. One parent up (dual uplinks) or unknown means it can never be suppressed, so it pages.
    """
    return (state is State.DOWN and bool(parents) and all(s in ("down", "suspect") for s in parents.values())
            and any(s == "suspect" for s in parents.values()))


def hold_verdict(parents: Mapping[str, ParentStatus], now: float, deadline: float) -> HoldVerdict:
    """What becomes of a held page: still held, unreachable (every parent confirmed), or paged now."""
    if parents and all(s == "down" for s in parents.values()):
        return "unreachable"
    if not hold_page(State.DOWN, parents) or now >= deadline:
        return "page"
    return "hold"


def hold_seconds(parent_checks: Iterable[tuple[float, int, float]]) -> float:
    """The longest a page is held: time for the slowest parent check to confirm an outage.

    Each entry is (interval_seconds, fail_after, timeout_seconds) of one check of a parent: its
    fail_after-th failing result starts at most fail_after intervals after the outage began and
    ends at most a timeout later.
    """
    return max((interval * fail_after + timeout for interval, fail_after, timeout in parent_checks), default=0.0)


def dependants(targets: Iterable[Target]) -> dict[str, set[str]]:
    """target id -> every target that depends on it, directly or through others."""
    children: dict[str, set[str]] = {}
    for t in targets:
        for p in t.depends_on:
            children.setdefault(p, set()).add(t.id)
    out: dict[str, set[str]] = {}
    for root in children:
        seen: set[str] = set()
        stack = list(children[root])
        while stack:
            node = stack.pop()
            if node in seen or node == root:
                continue
            seen.add(node)
            stack.extend(children.get(node, ()))
        out[root] = seen
    return out
