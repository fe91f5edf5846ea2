"""Wiring: config -> scheduler -> live view -> recorder/store, and the HTTP server."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from typing import Callable, Iterator

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, Metric

from netwatch import __version__, logs
from netwatch.config import Config, ConfigError, load
from netwatch.configbackup import repo as configs
from netwatch.egov import baselines
from netwatch.alerting.engine import PagingEngine
from netwatch.live import LiveView, expand
from netwatch.model import Check, Result
from netwatch.probes import PROBES
from netwatch.recorder import Recorder
from netwatch.runner import ProbeContexts
from netwatch.scheduler import Scheduler
from netwatch.store import Store, StoreError
from netwatch.trapfeed import TrapFeed
from netwatch.web import server
from netwatch.web.metrics import NetwatchCollector, registry_for, zone_info

log = logging.getLogger(__name__)


class Monitor:
    """The running daemon: one config at a time, swapped whole on reload."""

    def __init__(self, config: Config, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.run_id = store.start_run(__version__, os.getpid(), clock())
        self.live = LiveView(config.checks, store.last_states())
        # What probes may use: web_integrity page baselines, ssh config versions and drift baselines.
        contexts = ProbeContexts(
            baselines.Baselines.of_store(store, lambda ts: self.config.event.phase_at(ts)),
            configs.Repository(store.conn, store.lock, phase_at=lambda ts: self.config.event.phase_at(ts)))
        self.recorder = Recorder(store, self.run_id, {k: p.latency for k, p in PROBES.items()},
                                 config.retention.results, config.retention.rollups,
                                 redact=lambda text: self.config.redact(text))
        self.scheduler = Scheduler(self.handle, contexts=contexts)
        self.paging = PagingEngine(self)
        self.recorder.hooks.append(self.paging.hook)
        self.recorder.committed.append(self.paging.committed)
        self.traps = TrapFeed(self)
        self.collector = NetwatchCollector(lambda: self.live, lambda: self.scheduler, extra=self.extra_metrics)
        self.registry = registry_for(self.collector)
        self.reloads_ok = 0
        self.reload_tasks: set[asyncio.Task[None]] = set()
        self.reloads_failed = 0

    def extra_metrics(self) -> Iterator[Metric]:
        yield from self.paging.metrics()
        yield from self.recorder.metrics()
        yield from self.traps.metrics()
        yield zone_info((z.id, z.name) for z in self.config.zones)
        reloads = CounterMetricFamily("netwatch_config_reloads", "Config reloads (SIGHUP), by result.",
                                      labels=["result"])
        reloads.add_metric(["ok"], self.reloads_ok)
        reloads.add_metric(["refused"], self.reloads_failed)
        yield reloads

    def handle(self, check: Check, result: Result) -> None:
        for one_check, one_result, parent_id in expand(check, result):
            self.recorder.add_result(one_result)
            for event in one_result.outcome.events:
                self.recorder.add_event(one_result.started_at, one_check.id, one_check.target.id, event)
            raw = self.live.update(one_check, one_result, parent_id)
            for transition in self.paging.on_result(one_check, one_result, raw):
                log.info("%s: %s -> %s (%s)", transition.check_id, transition.from_state,
                         transition.to_state, transition.error or "ok")
                self.recorder.add_transition(transition)

    def reload(self, path: str) -> bool:
        """Adopt a new config file; a bad one is refused and the running one stays."""
        try:
            new = load(path)
        except ConfigError as exc:
            self.reloads_failed += 1
            log.error("config reload refused, keeping the running config:\n%s", exc)
            return False
        self.config = new
        logs.set_redaction(new.redact)
        self.live.apply(new.checks)
        self.paging.reload(new)
        self.scheduler.apply(new.checks)
        self.reload_tasks.add(task := asyncio.create_task(self.traps.reload(), name="traps-reload"))
        task.add_done_callback(self.reload_tasks.discard)
        self.reloads_ok += 1
        log.info("config reloaded: %d targets, %d checks", len(new.targets), len(new.checks))
        return True

    async def run(self, stop: asyncio.Event) -> None:
        runner = web.AppRunner(server.build(self), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.config.listen.host, self.config.listen.port)
        await site.start()
        log.info("serving /metrics on http://%s/metrics", self.config.listen)
        if not self.config.listen.loopback and self.config.board.viewer_token is None:
            log.warning("listening on %s without board.viewer_token: anyone who can reach it can read the "
                        "status board (the JSON API and acknowledgements still need operators)", self.config.listen)
        recorder_task = asyncio.create_task(self.recorder.run(), name="recorder")
        paging_task = asyncio.create_task(self.paging.run(), name="paging")
        await self.traps.start()
        self.scheduler.apply(self.config.checks)
        try:
            await stop.wait()
        finally:
            self.traps.close()
            await self.scheduler.stop()
            recorder_task.cancel()
            paging_task.cancel()
            await asyncio.gather(recorder_task, paging_task, return_exceptions=True)
            await self.recorder.flush()
            self.store.stop_run(self.run_id, self.clock())
            await runner.cleanup()


async def serve(config: Config) -> int:
    """`netwatch run`: until SIGTERM/SIGINT; SIGHUP reloads the config."""
    try:
        store = Store.open(config.store)
    except StoreError as exc:
        log.error("%s; not starting (check `store:`, free space or permissions, then start again)", exc)
        return 1
    monitor = Monitor(config, store)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: monitor.reload(config.path))
    try:
        await monitor.run(stop)
    finally:
        store.close()
    log.info("stopped")
    return 0
