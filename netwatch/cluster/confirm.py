"""The coordinator's memory of confirmed states: votes in, a transition out when the verdict changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from netwatch.cluster.votes import Verdict, Vote, aggregate
from netwatch.model import Check, State, Transition

__all__ = ["Confirmed", "ConfirmTracker", "reachable_note"]


@dataclass(frozen=True)
class Confirmed:
    """A confirmed change of a multi-vantage check, ready for the paging decider."""

    check: Check
    transition: Transition
    verdict: Verdict


def reachable_note(verdict: Verdict, lang: str = "vi") -> str:
    """"vẫn truy cập được từ venue" on a page that is down from some sites and up from others."""
    if verdict.state is not State.DOWN or not verdict.up_sites:
        return ""
    sites = ", ".join(verdict.up_sites)
    return f"vẫn truy cập được từ {sites}" if lang == "vi" else f"still reachable from {sites}"


class ConfirmTracker:
    """Pure: `step(now, votes)` folds fresh votes of each check into up / down / unknown, once per change.

    Started from the stored states, so a new coordinator does not re-announce what its predecessor
    already decided; UNKNOWN (too few fresh votes) is recorded as a state of its own, never as up.
    """

    def __init__(self, fresh_seconds: float, stored: Mapping[str, State] | None = None) -> None:
        self.fresh_seconds = fresh_seconds
        self.states: dict[str, State] = dict(stored or {})

    def step(self, now: float, checks: Iterable[Check], votes: Mapping[str, list[Vote]],
             isolated: Iterable[str] = ()) -> list[Confirmed]:
        cut_off = tuple(isolated)
        out = []
        for check in checks:
            if not check.vantage:
                continue
            verdict = aggregate(check.vantage, votes.get(check.id, ()), now, self.fresh_seconds,
                                check.confirm, cut_off)
            before = self.states.get(check.id, State.UNKNOWN)
            if verdict.state is before:
                continue
            self.states[check.id] = verdict.state
            since = verdict.since if verdict.since is not None else now
            detail = reachable_note(verdict)
            error = ("down from " + ", ".join(verdict.down_sites)) if verdict.state is State.DOWN else None
            out.append(Confirmed(check, Transition(check.id, check.target.id, now, since, before, verdict.state,
                                                   error=error, detail=detail), verdict))
        return out
