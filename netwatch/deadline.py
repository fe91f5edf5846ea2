"""A task's deadline as one loop timer: asyncio.timeout's semantics at a fraction of its cost."""

from __future__ import annotations

import asyncio


class Deadline:
    """Cancels the current task once `seconds` have passed, unless closed first.

    asyncio.timeout builds a Timeout object and walks its state machine, ~7 us a use: as much as the rest of
    a probe wrapper that runs for every result. This is one `call_later`, with the same semantics: a
    cancellation this deadline caused is reported by `ours()` and taken back; anyone else's (a stop, a
    reload, an outer deadline) goes through. Use:

        deadline = Deadline(seconds)
        try:
            result = await work()
        except asyncio.CancelledError:
            if not deadline.ours():
                raise
            result = the timeout's outcome
        finally:
            deadline.close()
    """

    __slots__ = ("_task", "_cancelling", "_expired", "_handle")

    def __init__(self, seconds: float) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a Deadline needs a running task")
        self._task = task
        self._cancelling = task.cancelling()
        self._expired = False
        self._handle = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        self._expired = True
        self._task.cancel()

    def ours(self) -> bool:
        """In `except CancelledError`: True when this deadline alone cancelled the task (now taken back)."""
        if not self._expired:
            return False
        self._expired = False
        return self._task.uncancel() <= self._cancelling   # more left: cancelled from outside as well

    def close(self) -> None:
        """In `finally`: stop the timer; a cancellation the awaited code swallowed is taken back."""
        self._handle.cancel()
        if self._expired:
            self._expired = False
            self._task.uncancel()
