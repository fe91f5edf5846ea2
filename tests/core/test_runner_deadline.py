"""run_check's safety net: a probe that overruns its timeout becomes a timeout outcome, nothing else is touched."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from netwatch.model import AlertPolicy, Check, Outcome, Target
from netwatch.probes import ProbeKind
from netwatch.runner import DEADLINE_MARGIN_SECONDS, run_check


@dataclasses.dataclass(frozen=True)
class Nothing:
    pass


def kind(probe) -> ProbeKind:  # type: ignore[no-untyped-def]
    return ProbeKind(kind="t", settings=Nothing, measurements={}, probe=probe)


CHECK = Check("a/t", Target("a", "127.0.0.1"), "t", 10.0, 0.05, AlertPolicy(), Nothing())  # example


async def test_a_probe_ignoring_its_timeout_is_a_timeout_and_the_task_is_not_left_cancelled() -> None:
    async def hangs(*_: object) -> Outcome:
        await asyncio.sleep(60)
        return Outcome(True)

    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await run_check(CHECK, kind(hangs))
    assert result.outcome.error == "timeout" and not result.ok
    assert loop.time() - started < CHECK.timeout_seconds + DEADLINE_MARGIN_SECONDS + 1.0
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.01)   # no cancellation left pending for the caller's next await


async def test_a_cancellation_from_outside_goes_through() -> None:
    entered = asyncio.Event()

    async def waits(*_: object) -> Outcome:
        entered.set()
        await asyncio.sleep(60)
        return Outcome(True)

    task = asyncio.create_task(run_check(CHECK, kind(waits)))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_probe_that_swallows_the_deadline_keeps_its_outcome_and_the_task_is_clean() -> None:
    async def swallows(*_: object) -> Outcome:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            pass
        return Outcome(True, detail="late but fine")

    async def runs() -> tuple[str, int]:
        result = await run_check(CHECK, kind(swallows))
        task = asyncio.current_task()
        assert task is not None
        return result.outcome.detail, task.cancelling()

    assert await asyncio.create_task(runs()) == ("late but fine", 0)


async def test_a_quick_probe_leaves_no_timer_behind() -> None:
    async def quick(*_: object) -> Outcome:
        return Outcome(True)

    loop = asyncio.get_running_loop()
    before = len(loop._scheduled)  # type: ignore[attr-defined]
    for _ in range(50):
        assert (await run_check(CHECK, kind(quick))).ok
    await asyncio.sleep(0)
    live = [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
    assert len(live) <= before
