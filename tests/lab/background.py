"""Lab endpoints on an event loop of their own thread, for synchronous tests (Selenium, subprocesses)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Coroutine, TypeVar

from netwatch.lab.venue import Lab

T = TypeVar("T")


class Background:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="lab-loop", daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout_seconds: float = 20.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_seconds)

    def run(self, func: Any, *args: Any) -> Any:
        """Run a plain function on the lab's loop (lab state is not thread-safe)."""
        async def wrapper() -> Any:
            return func(*args)

        return self.call(wrapper())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class BackgroundLab(Background):
    """The whole lab venue, started on a background loop."""

    def __init__(self) -> None:
        super().__init__()
        self.lab = self.call(Lab().start())

    def close(self) -> None:
        self.call(self.lab.close())
        super().close()
