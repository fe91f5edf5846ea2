"""Uptime maths (pure): state timelines from transitions, time per state, outages; integer milliseconds."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Iterable, Sequence

from netwatch.model import State

# All instants and durations here are integer milliseconds, so that the time in each state adds
# up to the window exactly and the same history gives the same numbers byte for byte.
MS_PER_SECOND = 1000
OUTAGE_STATES = frozenset({State.DOWN, State.UNREACHABLE})
# States that do not end an outage when the check is down again right after them: a maintenance
# window declared over a failure, or a stretch when the state was not known.
BRIDGE_STATES = frozenset({State.MAINTENANCE, State.UNKNOWN})
HEALTHY_STATES = frozenset({State.UP, State.DEGRADED})
# States the paging engine lays over a check's own verdict (topology and maintenance windows).
OVERLAY_STATES = frozenset({State.MAINTENANCE, State.UNREACHABLE})


def to_ms(ts: float) -> int:
    return int(round(ts * MS_PER_SECOND))


def to_seconds(ms: int) -> float:
    return ms / MS_PER_SECOND


@dataclass(frozen=True)
class Change:
    """One stored transition reduced to what the maths needs."""

    since_ms: int            # when the new state really began (first failing result for a DOWN)
    decided_ms: int          # when netwatch decided it
    state: State
    error: str | None = None
    detail: str = ""
    cause: str | None = None


@dataclass(frozen=True)
class Segment:
    start_ms: int
    end_ms: int | None       # None: still in this state at the end of known history
    state: State
    change: Change | None    # None for the unknown stretch before the first transition


@dataclass(frozen=True)
class Outage:
    """A maximal stretch of down/unreachable, bridged over maintenance or unknown in between."""

    start_ms: int            # the first failing result
    end_ms: int | None       # the first good result after it; None while still ongoing
    error: str | None        # the error class that opened it
    detail: str
    cause: str | None        # the parent named as root cause when the check was unreachable
    states: tuple[State, ...]
    segments: tuple[Segment, ...]


class Coverage:
    """When netwatch was running: sorted, merged [start, end) spans with a fast overlap measure."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        merged: list[list[int]] = []
        for s, e in sorted(spans):
            if e <= s:
                continue
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        self.spans: tuple[tuple[int, int], ...] = tuple((s, e) for s, e in merged)
        self._starts = [s for s, _ in self.spans]
        self._prefix = [0]
        for s, e in self.spans:
            self._prefix.append(self._prefix[-1] + (e - s))

    def covered_ms(self, a: int, b: int) -> int:
        """How much of [a, b) netwatch was running."""
        if b <= a or not self.spans:
            return 0
        return self._upto(b) - self._upto(a)

    def _upto(self, t: int) -> int:
        i = bisect.bisect_right(self._starts, t)
        if i == 0:
            return 0
        s, e = self.spans[i - 1]
        return self._prefix[i - 1] + (min(t, e) - s)

    def gaps(self, a: int, b: int) -> list[tuple[int, int]]:
        """The parts of [a, b) when netwatch was not running."""
        out: list[tuple[int, int]] = []
        cursor = a
        for s, e in self.spans:
            if e <= cursor:
                continue
            if s >= b:
                break
            if s > cursor:
                out.append((cursor, s))
            cursor = max(cursor, e)
        if cursor < b:
            out.append((cursor, b))
        return out


    def intersect(self, other: "Coverage") -> "Coverage":
        """The spans when both were true (e.g. netwatch running AND a lease of the check live)."""
        out: list[tuple[int, int]] = []
        i = j = 0
        while i < len(self.spans) and j < len(other.spans):
            a, b = self.spans[i]
            c, d = other.spans[j]
            lo, hi = max(a, c), min(b, d)
            if lo < hi:
                out.append((lo, hi))
            if b <= d:
                i += 1
            else:
                j += 1
        return Coverage(out)


@dataclass(frozen=True)
class LeaseEvent:
    """One recorded change of a slot lease (cluster mode): `node` None = given back.

    `previous_expires_ms`: when a claim took over an expired lease, when that lease had run out
    (database time); the slot had no live lease between it and `at_ms`.
    """

    site: str
    slot: int
    node: str | None
    at_ms: int
    previous_expires_ms: int | None = None


def lease_spans(events: Iterable[LeaseEvent], expires_ms: dict[tuple[str, int], int | None],
                end_ms: int) -> dict[tuple[str, int], list[tuple[int, int]]]:
    """When each (site, slot) had a live lease, from its ownership history in stored order.

    A lease still held at the end of the history lasts until its current expiry (`expires_ms`, the
    slot's row now), or `end_ms` if that is later or unknown; a lease taken over after it expired
    ends at its expiry, not at the takeover, so the time nobody held it is not counted as covered.
    """
    open_at: dict[tuple[str, int], int] = {}
    out: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for e in events:
        key = (e.site, e.slot)
        start = open_at.pop(key, None)
        if start is not None:
            end = e.at_ms
            if e.previous_expires_ms is not None and e.previous_expires_ms < end:
                end = e.previous_expires_ms
            if end > start:
                out.setdefault(key, []).append((start, end))
        if e.node is not None:
            open_at[key] = e.at_ms
    for key, start in open_at.items():
        expiry = expires_ms.get(key)
        end = min(expiry, end_ms) if expiry is not None else end_ms
        if end > start:
            out.setdefault(key, []).append((start, end))
    return out


def segments(changes: Sequence[Change]) -> list[Segment]:
    """The state timeline of one check, from its transitions in the order they were stored.

    A state begins at its `since`, clamped so that the timeline never runs backwards. When an
    overlay (maintenance, unreachable) is lifted, the paging engine dates the state underneath from
    when *that* began, often inside the overlay: the overlay still holds until it was lifted, so
    the new state starts no earlier than that decision.
    """
    out: list[Segment] = []
    start: int | None = None
    state = State.UNKNOWN
    current: Change | None = None
    for ch in changes:
        if start is None:
            at = ch.since_ms
        elif state in OVERLAY_STATES and current is not None:
            at = max(ch.since_ms, start, ch.decided_ms)
        else:
            at = max(ch.since_ms, start)
        if start is None:
            out.append(Segment(-(2 ** 62), at, State.UNKNOWN, None))
        else:
            out.append(Segment(start, at, state, current))
        start, state, current = at, ch.state, ch
    if start is None:
        return [Segment(-(2 ** 62), None, State.UNKNOWN, None)]
    out.append(Segment(start, None, state, current))
    return [s for s in out if s.end_ms is None or s.end_ms > s.start_ms]


def state_ms(segs: Sequence[Segment], coverage: Coverage, a: int, b: int) -> dict[State, int]:
    """Time in each state within [a, b); time when netwatch was not running is unknown.

    The values add up to b - a exactly.
    """
    out = {s: 0 for s in State}
    known = 0
    for seg in segs:
        x = max(seg.start_ms, a)
        y = b if seg.end_ms is None else min(seg.end_ms, b)
        if y <= x:
            continue
        ms = coverage.covered_ms(x, y)
        out[seg.state] += ms
        known += ms
    out[State.UNKNOWN] += (b - a) - known
    return out


def outages(segs: Sequence[Segment]) -> list[Outage]:
    """Every outage in a timeline. A blip shorter than fail_after never became a DOWN transition,
    so it never appears here."""
    out: list[Outage] = []
    run: list[Segment] = []   # the outage being built
    pending: list[Segment] = []   # bridge segments after it, kept only if the outage resumes

    def close(end_ms: int | None) -> None:
        first = next(s for s in run if s.change is not None)
        cause = next((s.change.cause for s in run if s.change is not None and s.change.cause), None)
        states = tuple(dict.fromkeys(s.state for s in run))
        assert first.change is not None
        out.append(Outage(run[0].start_ms, end_ms, first.change.error, first.change.detail, cause, states,
                          tuple(run)))

    for seg in segs:
        if seg.state in OUTAGE_STATES:
            run.extend(pending)
            pending = []
            run.append(seg)
        elif run and seg.state in BRIDGE_STATES:
            pending.append(seg)
        elif run:
            close(run[-1].end_ms)
            run, pending = [], []
    if run:
        close(run[-1].end_ms)
    return out


def outage_ms_within(outage: Outage, coverage: Coverage, a: int, b: int) -> int:
    """Known down/unreachable time of one outage inside [a, b) (maintenance and gaps excluded)."""
    total = 0
    for seg in outage.segments:
        if seg.state not in OUTAGE_STATES:
            continue
        x = max(seg.start_ms, a)
        y = b if seg.end_ms is None else min(seg.end_ms, b)
        if y > x:
            total += coverage.covered_ms(x, y)
    return total


def overlaps(start_ms: int, end_ms: int | None, a: int, b: int) -> bool:
    return start_ms < b and (end_ms is None or end_ms > a)


def availability(ms: dict[State, int]) -> float | None:
    """(up + degraded) / (window - maintenance - unknown); None when nothing was known."""
    counted = sum(ms.values()) - ms[State.MAINTENANCE] - ms[State.UNKNOWN]
    if counted <= 0:
        return None
    return (ms[State.UP] + ms[State.DEGRADED]) / counted
