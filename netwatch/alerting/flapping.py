"""Flap detection: Nagios-style weighted percentage of state changes, with hysteresis.

A result is up, degraded or failed; a change between any two of them counts, so a lossy link
bouncing between up and degraded flaps as surely as one bouncing between up and down. The two changes
around a lone failure on a degraded link (degraded, failed, degraded) count a quarter each: on a link
with heavy random loss an occasional run loses every echo (3 echoes at 30 % loss: 1 run in 37), and
such runs cluster by chance, though a lone failure never pages (`fail_after`). At full weight three of
them within 30 results read as flapping (issue 13: a FLAPPING/SETTLED pair every few minutes). At half
weight, simulated over 400,000 runs of 3 echoes, 30 % random loss still started flapping 5 times and
35 % loss 57 times (at a 1 s interval: a FLAPPING/SETTLED pair every two hours); at a quarter, 2 and 4
times, while a link losing every echo of every other run still flaps. Failures in a row, and failures
between results that were up, count in full.
"""

from __future__ import annotations

from dataclasses import dataclass

LONE_FAILURE_WEIGHT = 0.25


@dataclass(frozen=True)
class FlapState:
    history: tuple[object, ...] = ()   # the class of the last results (up/degraded/fail), oldest first
    flapping: bool = False


_UNIFORM: dict[tuple[str, int], tuple[object, ...]] = {}
_UNIFORM_STATES: dict[tuple[str, int], FlapState] = {}


def _uniform(kind: str, length: int) -> tuple[object, ...]:
    """`length` results of one class, one tuple shared by every check (a few kinds x window lengths)."""
    history = _UNIFORM.get((kind, length))
    if history is None:
        history = _UNIFORM[(kind, length)] = (kind,) * length
    return history


def uniform_state(kind: str, length: int) -> FlapState:
    """Not flapping, the last `length` results all of one class: one FlapState shared by every check in it.

    Shared so that "a full window of up results" is one object: the decider knows an up check in it by
    identity (decide.Decider.on_result), without looking into its history."""
    state = _UNIFORM_STATES.get((kind, length))
    if state is None:
        state = _UNIFORM_STATES[(kind, length)] = FlapState(_uniform(kind, length))
    return state


def score(history: tuple[object, ...], window: int) -> float:
    """Weighted share of changes between consecutive results; recent changes weigh more.

    As in Nagios, weights rise linearly from 0.8 (oldest) to 1.2 (newest) across the window, so
    a link that has just settled drops below the low threshold a little faster.
    """
    if len(history) < 2:
        return 0.0
    slots = window - 1
    total = 0.0
    offset = slots - (len(history) - 1)
    for i in range(1, len(history)):
        if history[i] != history[i - 1]:
            position = offset + i - 1
            weight = LONE_FAILURE_WEIGHT if _lone_failure(history, i) or _lone_failure(history, i - 1) else 1.0
            total += weight * (0.8 + 0.4 * position / max(1, slots - 1))
    return total / slots


def _lone_failure(history: tuple[object, ...], i: int) -> bool:
    """A failed result between two degraded ones (the newest is not lone: its sequel is unknown)."""
    return (0 < i < len(history) - 1 and history[i] == "fail"
            and history[i - 1] == "degraded" and history[i + 1] == "degraded")


def observe(fs: FlapState, ok: bool, window: int, high: float, low: float,
            degraded: bool = False) -> tuple[FlapState, str | None]:
    """Add a result; return the new state and 'start' or 'stop' when flapping begins or ends."""
    kind = "fail" if not ok else "degraded" if degraded else "up"
    history = fs.history
    if history is _UNIFORM.get((kind, window)) and not fs.flapping and high > 0:
        return fs, None   # a full window of this one class already, as most results find it: nothing changes
    if not fs.flapping and high > 0 and len(history) <= window and (
            not history or (history[0] == kind and history[-1] == kind and history.count(kind) == len(history))):
        # One class only, and one more of it: no change in the window, a score of 0. Filling the window
        # (or a full one after flapping stopped, built result by result): the shared state, not a new
        # tuple per result (a check's history grew for its first `window` results, 15 minutes at 30 s;
        # 50,000 checks' RSS rose all that time). Equal to `fs` when the window is full.
        return uniform_state(kind, min(len(history) + 1, window)), None
    history = (history + (kind,))[-window:]
    value = score(history, window)
    if not fs.flapping and value >= high:
        return FlapState(history, True), "start"
    if fs.flapping and value < low:
        return FlapState(history, False), "stop"
    return FlapState(history, fs.flapping), None
