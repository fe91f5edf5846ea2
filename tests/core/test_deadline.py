"""netwatch.deadline.Deadline: asyncio.timeout's semantics with one loop timer."""

from __future__ import annotations

import asyncio

import pytest

from netwatch.deadline import Deadline


async def guarded(seconds: float, work: float, swallow: bool = False) -> str:
    deadline = Deadline(seconds)
    try:
        try:
            await asyncio.sleep(work)
        except asyncio.CancelledError:
            if not swallow:
                raise
        return "done"
    except asyncio.CancelledError:
        if not deadline.ours():
            raise
        return "timeout"
    finally:
        deadline.close()


async def test_work_within_the_deadline_finishes_and_leaves_no_cancellation() -> None:
    assert await guarded(1.0, 0.0) == "done"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_an_overrun_becomes_ours_and_is_taken_back() -> None:
    assert await guarded(0.01, 5.0) == "timeout"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0)   # no cancellation left pending on the task


async def test_a_cancellation_from_outside_goes_through() -> None:
    task = asyncio.create_task(guarded(5.0, 5.0))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_deadline_the_work_swallowed_is_taken_back() -> None:
    assert await guarded(0.01, 5.0, swallow=True) == "done"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


def test_outside_a_task_it_says_so() -> None:
    with pytest.raises(RuntimeError, match="running"):   # no loop, or a loop but no task
        Deadline(1.0)
