"""Scheduler.trigger: one extra run per check at a time, however often it is asked."""

from __future__ import annotations

import asyncio

from netwatch.model import Result
from netwatch.scheduler import Scheduler
from tests.core.test_scheduler import KINDS, check


async def test_a_burst_of_triggers_runs_the_check_once_more() -> None:
    results: list[Result] = []
    sched = Scheduler(lambda c, r: results.append(r), KINDS)
    sched.apply([check("sw1/sleep", 3600.0, seconds=0.2)])
    await asyncio.sleep(0)
    before = len(results)
    accepted = [sched.trigger("sw1/sleep") for _ in range(200)]
    assert accepted.count(True) == 1
    await asyncio.sleep(0.4)
    assert len(results) - before in (1, 2)   # the trigger, plus the spread first slot if it fell here
    assert sched.trigger("sw1/sleep")       # done: the next trap may trigger again
    assert not sched.trigger("unknown/sleep")
    await sched.stop()
