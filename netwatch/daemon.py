"""The process around the daemon: open the store, join the cluster, signals, start and stop in order."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Awaitable, Callable

from netwatch import heap
from netwatch.app import Monitor
from netwatch.cluster.node import ClusterNode
from netwatch.clustering import checks_here, join_cluster
from netwatch.config import Config
from netwatch.store import Store, StoreError
from netwatch.web import server
from netwatch.web.services import Services

log = logging.getLogger(__name__)


STOP_STEP_SECONDS = 5.0   # a stop (systemd, the tests) must end: no step of it may wait for ever
STOP_NAMED_TASKS = 8      # an overrun names this many of the tasks still running


async def bounded(step: Awaitable[object], what: str, seconds: float | None = None) -> None:
    """One step of the stop, given STOP_STEP_SECONDS; one that overruns is named in the log, cancelled and left.

    Not asyncio.wait_for: past its timeout it cancels the step and then waits for the step to end, for ever
    when the cancellation is lost inside it (Python 3.11's wait_for and timeout can lose one that meets a
    completion). Such a stop never logged its overrun and was killed 15 s after SIGTERM (docs/operations.md)."""
    limit = STOP_STEP_SECONDS if seconds is None else seconds
    task = asyncio.ensure_future(step)
    try:
        done, _ = await asyncio.wait({task}, timeout=limit)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task in done:
        task.result()   # a step's own error still ends the stop here, as before
        return
    task.cancel()       # asked, never awaited
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and t is not task]
    named = [_where(t) for t in others[:STOP_NAMED_TASKS]]
    if len(others) > STOP_NAMED_TASKS:
        named.append(f"{len(others) - STOP_NAMED_TASKS} more")
    log.warning("stopping: %s did not finish within %gs; going on (still running: %s)", what, limit,
                ", ".join(named) or "-")


def _where(task: "asyncio.Future[object]") -> str:
    """A task by name and the innermost line it waits at, so the log says what held the stop."""
    coro, where = task.get_coro() if isinstance(task, asyncio.Task) else None, ""
    while coro is not None and getattr(coro, "cr_frame", None) is not None:
        where = f" at {coro.cr_frame.f_code.co_filename.rsplit('/', 2)[-1]}:{coro.cr_frame.f_lineno}"
        coro = coro.cr_await
    return (task.get_name() if isinstance(task, asyncio.Task) else repr(task)) + where


async def lifecycle(monitor: Monitor, stop: asyncio.Event) -> None:
    """Start the web listener, the writer, paging, traps, probes (and cluster role); stop the web listener first,
    then the rest in reverse."""
    monitor.listener = listener = await server.start(monitor.services)
    tasks = [asyncio.create_task(monitor.recorder.run(), name="recorder"),
             asyncio.create_task(monitor.paging.run(), name="paging")]
    await monitor.traps.start()
    monitor.scheduler.apply(checks_here(monitor.config, monitor.node))
    if monitor.cluster is not None:
        tasks.append(monitor.cluster.start(monitor.scheduler))
    try:
        await stop.wait()
    finally:
        # The web side goes first: a stopping daemon serves no more requests. Served during the stop, /metrics
        # scrapes took the loop from its steps (at 10,000 checks a render holds it for hundreds of ms, and
        # every scrape more than a second after the last renders again), so steps overran their bounds one
        # after another and the stop took longer than systemd's patience (docs/operations.md, "Stopping").
        await bounded(listener.close(), "the web listener")
        monitor.services.close()
        if monitor.cluster is not None:
            await bounded(monitor.cluster.stop(), "the cluster role")
        monitor.traps.close()
        await bounded(monitor.scheduler.stop(), "the scheduler")
        for task in tasks:
            task.cancel()
        await bounded(asyncio.gather(*tasks, return_exceptions=True), "the writer and paging tasks")
        await bounded(monitor.recorder.flush(), "writing what is pending", 2 * STOP_STEP_SECONDS)
        monitor.store.stop_run(monitor.recorder.run_id, monitor.clock())


async def run(config: Config, store: Store, stop: asyncio.Event, started: Callable[[Services], None] = lambda s: None,
              reload_from: str | None = None, node: ClusterNode | None = None) -> None:
    """Run the daemon until `stop`; `started` gets what the web side sees (the demo's console reads it)."""
    monitor = Monitor(config, store, node=node)
    if reload_from is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, lambda: monitor.reload(reload_from))
    started(monitor.services)
    await lifecycle(monitor, stop)


async def serve(config: Config) -> int:
    """`netwatch run`: until SIGTERM/SIGINT; SIGHUP reloads the config."""
    try:
        store = Store.open(config.store)
        store.defer_rollups()   # a rollup pass a minute, not an upsert per result (a no-op on PostgreSQL)
        node = join_cluster(config) if config.cluster is not None else None
    except StoreError as exc:
        log.error("%s; not starting (check `store:`, free space or permissions, then start again)", exc)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    try:
        await run(config, store, stop, reload_from=config.path, node=node, started=lambda services: heap.settle())
    finally:
        store.close()
    log.info("stopped")
    return 0
