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


async def bounded(step: Awaitable[object], what: str, seconds: float | None = None) -> None:
    """One step of the stop, given STOP_STEP_SECONDS; one that overruns is named in the log and left."""
    limit = STOP_STEP_SECONDS if seconds is None else seconds
    try:
        await asyncio.wait_for(step, limit)
    except asyncio.TimeoutError:
        log.warning("stopping: %s did not finish within %gs; going on", what, limit)


async def lifecycle(monitor: Monitor, stop: asyncio.Event) -> None:
    """Start the web listener, the writer, paging, traps, probes (and cluster role); stop them in reverse."""
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
        if monitor.cluster is not None:
            await bounded(monitor.cluster.stop(), "the cluster role")
        monitor.traps.close()
        await bounded(monitor.scheduler.stop(), "the scheduler")
        for task in tasks:
            task.cancel()
        await bounded(asyncio.gather(*tasks, return_exceptions=True), "the writer and paging tasks")
        await bounded(monitor.recorder.flush(), "writing what is pending", 2 * STOP_STEP_SECONDS)
        monitor.store.stop_run(monitor.recorder.run_id, monitor.clock())
        await bounded(listener.close(), "the web listener")
        monitor.services.close()


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
