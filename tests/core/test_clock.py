"""A backward step of the wall clock during an outage, through an injected clock (issue 13).

Before: results were dated by time.time(); an outage during which the clock stepped back 120 s ended
"before" it began, lasted 0 s and vanished from the report's timeline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from netwatch.clock import RunClock
from netwatch.live import LiveView
from netwatch.model import AlertPolicy, Check, Outcome, State, Target
from netwatch.probes import ProbeKind
from netwatch.report.timeline import Change, outages, segments, to_ms
from netwatch.runner import run_check

T0 = 1_800_000_000.0
STEP_BACK_SECONDS = 120.0


@dataclass(frozen=True)
class Script:
    pass


class Clocks:
    """A wall clock and a monotonic one that the test moves by hand."""

    def __init__(self) -> None:
        self.mono_seconds = 500.0
        self.offset_seconds = 0.0   # what the wall clock was stepped by

    def mono(self) -> float:
        return self.mono_seconds

    def wall(self) -> float:
        return T0 + self.mono_seconds - 500.0 + self.offset_seconds


def outage_durations(dated_by: str) -> list[float]:
    clocks = Clocks()
    wall = RunClock(clocks.wall, clocks.mono) if dated_by == "run clock" else clocks.wall
    oks = iter([True] * 3 + [False] * 10 + [True] * 5)

    async def probe(target: Target, settings: Script, timeout_seconds: float, context: object = None) -> Outcome:
        return Outcome(ok=True) if next(oks) else Outcome.fail("refused", "connection refused")

    kind = ProbeKind(kind="script", settings=Script, measurements={}, probe=probe)
    check = Check("sw1/script", Target("sw1", "127.0.0.1"), "script", 1.0, 0.5, AlertPolicy(), Script())  # example
    live = LiveView([check])
    changes = []
    for n in range(18):
        if n == 8:      # mid-outage: NTP (or `date -s`) steps the wall clock back two minutes
            clocks.offset_seconds -= STEP_BACK_SECONDS
        result = asyncio.run(run_check(check, kind, 0.0, None, wall))
        transition = live.update(check, result)
        if transition is not None:
            changes.append(Change(to_ms(transition.since), to_ms(transition.ts), transition.to_state))
        clocks.mono_seconds += 1.0
    assert [c.state for c in changes] == [State.UP, State.DOWN, State.UP]
    return [((o.end_ms or 0) - o.start_ms) / 1000 for o in outages(segments(changes))]


def test_an_outage_across_a_backward_clock_step_keeps_its_true_duration() -> None:
    # 10 failing results one second apart, then the first good one: 10 s, whatever the wall clock did.
    assert outage_durations("run clock") == [10.0]


def test_plain_wall_time_loses_that_outage() -> None:
    """The failure this fixes, kept visible: dated by the stepped wall clock the outage is gone."""
    assert outage_durations("wall clock") == []


def test_the_run_clock_follows_forward_steps_and_never_runs_backwards() -> None:
    clocks = Clocks()
    clock = RunClock(clocks.wall, clocks.mono)
    first = clock()
    clocks.offset_seconds -= STEP_BACK_SECONDS
    clocks.mono_seconds += 1.0
    assert clock() == first + 1.0                       # a backward step is not followed
    clocks.offset_seconds += 3600.0 + STEP_BACK_SECONDS
    clocks.mono_seconds += 1.0
    assert clock() == clocks.wall() == first + 3602.0   # a forward step (NTP after boot) is
    clocks.mono_seconds += 0.5
    assert clock() == first + 3602.5
