"""Parent/child suppression: a target whose parents are all down is unreachable, not down."""

from __future__ import annotations

from typing import Iterable, Literal, Mapping, Sequence

from netwatch.model import State, Target

ParentStatus = Literal["down", "up", "unknown"]


def target_status(checks: Sequence[tuple[State, int]]) -> ParentStatus:
    """A target is down when every one of its own checks is down or failing right now.

    `checks` holds (step state, current fail streak) per check. A failing streak shorter than
    fail_after already counts, so a child confirmed a moment before its parent is held back; if
    the parent then answers, the child is re-evaluated and pages. No checks (a disabled or
    unmonitored parent) is unknown, which never suppresses.
    """
    if not checks:
        return "unknown"
    if all(state in (State.DOWN, State.UNREACHABLE) or streak > 0 for state, streak in checks):
        return "down"
    if all(state is State.UNKNOWN for state, _ in checks):
        return "unknown"
    return "up"


def effective(raw: State, in_maintenance: bool, parents: Mapping[str, ParentStatus],
              hold: bool = False) -> tuple[State, str | None]:
    """The state shown and recorded, with the cause (the parents) when unreachable.

    `hold` keeps an unreachable check unreachable after its parent came back, until the check has
    a result of its own from after that (it is recovering, or its last result predates the parent's
    return): children catch up a few seconds after their router and must not page meanwhile.
    """
    if in_maintenance:
        return State.MAINTENANCE, None
    if raw is State.DOWN and parents and all(s == "down" for s in parents.values()):
        return State.UNREACHABLE, ",".join(sorted(parents))
    if raw is State.DOWN and parents and hold:
        return State.UNREACHABLE, ",".join(sorted(parents))
    return raw, None


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
