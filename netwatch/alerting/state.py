"""The health state machine: a pure step from (state, result) to (state, transition?).

Truth table (F = fail_after, R = recover_after; "fail" = a failing result, "warn" = an ok result
that crossed a warning threshold, "ok" = a clean result):

| state       | result | streak after        | new state   | dated from                    |
|-------------|--------|---------------------|-------------|-------------------------------|
| unknown     | ok     | -                   | up          | this result                   |
| unknown     | warn   | -                   | degraded    | this result                   |
| unknown     | fail   | fails < F           | unknown     | -                             |
| any not down| fail   | fails >= F          | down        | first failing result of streak|
| up/degraded | fail   | fails < F           | unchanged   | - (a blip is not an outage)   |
| up          | warn   | warns >= F          | degraded    | first warning result          |
| degraded    | ok     | oks >= R            | up          | first clean result            |
| down        | ok/warn| oks >= R            | up/degraded | first ok result of the streak |
| down        | ok/warn| oks < R             | down        | -                             |

A failing result resets the ok streak and vice versa. `step` never reads a clock: `ts` is the
result's own start time, so tests drive time directly.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from netwatch.model import AlertPolicy, State


@dataclass(frozen=True)
class CheckState:
    state: State = State.UNKNOWN
    since: float = 0.0
    fail_streak: int = 0
    fail_started_at: float | None = None
    warn_streak: int = 0
    warn_started_at: float | None = None
    ok_streak: int = 0
    ok_started_at: float | None = None
    clean_streak: int = 0
    clean_started_at: float | None = None
    error: str | None = None


# Module constants: a member looked up on the Enum class costs ~0.1 us, and step runs for every result.
_UP, _DOWN, _DEGRADED, _UNKNOWN = State.UP, State.DOWN, State.DEGRADED, State.UNKNOWN


def step(cs: CheckState, ok: bool, degraded: bool, error: str | None, ts: float,
         policy: AlertPolicy) -> tuple[CheckState, tuple[State, float] | None]:
    """Apply one result; return the new state and (new_state, since) when the state changed."""
    if not ok:
        fail_started = cs.fail_started_at if cs.fail_streak else ts
        cs = replace(cs, fail_streak=cs.fail_streak + 1, fail_started_at=fail_started,
                     ok_streak=0, ok_started_at=None, warn_streak=0, warn_started_at=None,
                     clean_streak=0, clean_started_at=None, error=error)
        if cs.state is not _DOWN and cs.fail_streak >= policy.fail_after:
            return replace(cs, state=_DOWN, since=fail_started), (_DOWN, fail_started)
        return cs, None

    if (not degraded and cs.state is _UP and not cs.fail_streak and not cs.warn_streak
            and cs.ok_streak >= policy.recover_after and cs.clean_streak >= policy.recover_after):
        # An up check staying up (most results): the same state. The streaks stop counting here, as
        # they are only ever compared with fail_after/recover_after or 0, and a failing or degraded
        # result resets them; building a new 11-field state for every result cost more than the rest of step.
        return cs, None
    ok_started = cs.ok_started_at if cs.ok_streak else ts
    warn_started = (cs.warn_started_at if cs.warn_streak else ts) if degraded else None
    clean_started = None if degraded else (cs.clean_started_at if cs.clean_streak else ts)
    # Built directly, not with dataclasses.replace: this runs for every result.
    cs = CheckState(cs.state, cs.since, 0, None, cs.warn_streak + 1 if degraded else 0, warn_started,
                    cs.ok_streak + 1, ok_started, 0 if degraded else cs.clean_streak + 1, clean_started, None)
    healthy = _DEGRADED if degraded else _UP
    if cs.state is _UNKNOWN:
        return replace(cs, state=healthy, since=ts), (healthy, ts)
    if cs.state is _DOWN:
        if cs.ok_streak >= policy.recover_after:
            return replace(cs, state=healthy, since=ok_started), (healthy, ok_started)
        return cs, None
    if cs.state is _UP and degraded and cs.warn_streak >= policy.fail_after:
        assert warn_started is not None
        return replace(cs, state=_DEGRADED, since=warn_started), (_DEGRADED, warn_started)
    if cs.state is _DEGRADED and cs.clean_streak >= policy.recover_after:
        assert clean_started is not None
        return replace(cs, state=_UP, since=clean_started), (_UP, clean_started)
    return cs, None


def restored(state: State, since: float) -> CheckState:
    """The state a check resumes with after a restart (streaks are not carried over)."""
    return CheckState(state=state, since=since)
