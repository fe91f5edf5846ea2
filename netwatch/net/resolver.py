"""Name lookups on their own bounded thread pool, never the event loop's default executor.

getaddrinfo blocks a thread for as long as the system resolver waits (resolv.conf: 5 s per try,
two tries per server). On the default executor a resolver that never answers would starve
everything else that borrows those threads (store writes, paging, /metrics), so lookups get a
pool of their own, a bound on how many may wait, and a timeout. We keep getaddrinfo (not a
DNS-only library such as c-ares) so /etc/hosts, nsswitch and search domains behave exactly as
for every other program on the host.
"""

from __future__ import annotations

import asyncio
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

THREADS = 8
MAX_WAITING = 256          # lookups queued or running; past this a lookup fails at once
TIMEOUT_SECONDS = 4.0      # a lookup that takes longer fails as `dns` (the thread finishes on its own)

AddrInfo = list[tuple[Any, Any, int, str, Any]]


class Resolver:
    """getaddrinfo with a bound; counts what a self-watch needs to see a stalled resolver."""

    def __init__(self, threads: int = THREADS, max_waiting: int = MAX_WAITING,
                 timeout_seconds: float = TIMEOUT_SECONDS) -> None:
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="netwatch-resolver")
        self.max_waiting = max_waiting
        self.timeout_seconds = timeout_seconds
        self.pending: dict[int, float] = {}      # id(future) -> monotonic start
        self.lookups_total = 0
        self.timeouts_total = 0
        self.refused_total = 0                    # turned away because too many were waiting

    def oldest_pending_seconds(self, now: float | None = None) -> float:
        """How long the oldest unfinished lookup has been waiting (0 when none): a stalled resolver grows it."""
        if not self.pending:
            return 0.0
        return (time.monotonic() if now is None else now) - min(self.pending.values())

    async def getaddrinfo(self, host: str, port: int | None, family: int = 0, type: int = 0) -> AddrInfo:
        """Like loop.getaddrinfo; raises socket.gaierror on failure, on timeout and when saturated."""
        if len(self.pending) >= self.max_waiting:
            self.refused_total += 1
            raise socket.gaierror(socket.EAI_AGAIN, f"resolver saturated: {len(self.pending)} lookups waiting")
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.pool, socket.getaddrinfo, host, port, family, type)
        key = id(future)
        self.pending[key] = time.monotonic()
        self.lookups_total += 1
        future.add_done_callback(lambda _: self.pending.pop(key, None))
        try:
            # shield: the caller's own deadline may cancel its wait; the thread's lookup runs on to its end.
            return await asyncio.wait_for(asyncio.shield(future), self.timeout_seconds)
        except TimeoutError:
            self.timeouts_total += 1
            raise socket.gaierror(socket.EAI_AGAIN,
                                  f"the resolver did not answer within {self.timeout_seconds:g}s") from None


_resolver: Resolver | None = None


def resolver() -> Resolver:
    """The process's resolver: one pool of lookup threads for every probe."""
    global _resolver
    if _resolver is None:
        _resolver = Resolver()
    return _resolver
