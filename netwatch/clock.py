"""The daemon's clock: wall time that never runs backwards within a run, so durations stay true."""

from __future__ import annotations

import time
from typing import Callable

# A forward step larger than this (NTP setting a clock that was behind, e.g. after a boot without a
# real-time clock) is followed, so dates stay right; smaller differences are the two clocks' jitter.
FORWARD_STEP_SECONDS = 1.0


class RunClock:
    """Wall time at the start of the run plus monotonic time since, re-anchored on forward steps.

    Results, transitions and pages are dated by it. An outage is dated by its first failing result and
    ends at the first good one; with plain wall time a backward step of the clock in between (NTP, an
    operator's `date -s`) made the end earlier than the start: the outage "lasted 0s" and the report's
    timeline dropped it (issue 13). Here a backward step is not followed: until the wall clock catches
    up, dates run ahead of it by the step, and every duration within the run is the monotonic one.
    """

    def __init__(self, wall: Callable[[], float] = time.time, mono: Callable[[], float] = time.monotonic) -> None:
        self.wall, self.mono = wall, mono
        self._anchor_wall, self._anchor_mono = wall(), mono()

    def __call__(self) -> float:
        mono = self.mono()
        now = self._anchor_wall + (mono - self._anchor_mono)
        wall = self.wall()
        if wall > now + FORWARD_STEP_SECONDS:
            self._anchor_wall, self._anchor_mono = wall, mono
            return wall
        return now


# The one clock of this process: the scheduler, the paging loop and the board read it, so a result's
# date and the `now` it is compared with never disagree by a clock step.
RUN_CLOCK = RunClock()
