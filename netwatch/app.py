"""Wiring: config -> scheduler -> live view -> decide -> record -> deliver, and the HTTP server; owns reload."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from dataclasses import replace
from typing import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, Metric

from netwatch import __version__, logs
from netwatch.alerting.decide import Decider, Decision
from netwatch.alerting.engine import PagingLoop
from netwatch.alerting.incidents import PagingCommands, close_removed_checks, held_pages
from netwatch.alerting.selfwatch import SelfWatch, Vitals
from netwatch.cluster.node import ClusterNode
from netwatch.clustering import ClusterRole, join_cluster, status_reader
from netwatch.config import Config, ConfigError, load
from netwatch.configbackup import repo as configs
from netwatch.egov import baselines
from netwatch.live import CheckView, LiveView, expand
from netwatch.model import Check, Result
from netwatch.net.resolver import resolver
from netwatch.notify import acklink
from netwatch.notify.outbox import Delivery
from netwatch.probes import PROBES
from netwatch.recorder import Recorder
from netwatch.runner import ProbeContexts
from netwatch.scheduler import Scheduler
from netwatch.store import DB_ERRORS, Store, StoreError, Tx
from netwatch.trapfeed import TrapFeed
from netwatch.web import server
from netwatch.web.listener import Listener
from netwatch.web.metrics import NetwatchCollector, registry_for, zone_info
from netwatch.web.services import Services

log = logging.getLogger(__name__)
RESTART_KEYS = ("store",)   # read once at start; every other section is applied by a reload (listen rebinds)


class Monitor:
    """The running daemon: one config at a time, swapped whole on reload."""

    def __init__(self, config: Config, store: Store, clock: Callable[[], float] = time.time,
                 node: ClusterNode | None = None) -> None:
        self.config, self.store, self.clock = config, store, clock
        self.node = node   # cluster mode (docs/cluster.md); None: the single-node default
        self.run_id = store.start_run(__version__, os.getpid(), clock())
        stored = store.last_states()
        self.live = LiveView(self.checks(config), stored)
        # What probes may use: web_integrity page baselines, ssh config versions and drift baselines.
        contexts = ProbeContexts(
            baselines.Baselines.of_store(store, lambda ts: self.config.event.phase_at(ts)),
            configs.Repository(store.db, phase_at=lambda ts: self.config.event.phase_at(ts)))
        current = lambda: self.config  # noqa: E731 - every component reads the config of the moment
        self.delivery = Delivery(store, lambda: self.config.paging, lambda: self.config.site.tz,
                                 lambda text: self.config.redact(text), clock,
                                 links=acklink.maker(current, clock), may_send=node.may_send if node is not None else None,
                                 guard=node.coordinator_guard if node is not None else None)
        self.recorder = Recorder(store, self.run_id, {k: p.latency for k, p in PROBES.items()},
                                 config.retention.results, config.retention.rollups,
                                 redact=lambda text: self.config.redact(text), on_commit=self.delivery.wake.set,
                                 clock=clock, fence_results=node.fence_results if node is not None else None)
        self.scheduler = Scheduler(self.handle, contexts=contexts, allowed=node.runs if node is not None else None,
                                   on_skipped=lambda check, runs: self.live.note_skipped(check.id, runs))
        self.selfwatch = SelfWatch(current, self.vitals, clock,
                                   may_page=node.coordinating if node is not None else lambda: True)
        decider = Decider(config, {cid: s.state for cid, s in stored.items()})
        decider.resume(held_pages(store), clock())
        self.paging = PagingLoop(decider, store, self.delivery, self.selfwatch, current, self.paging_views,
                                 self.submit, clock, active=node.coordinating if node is not None else lambda: True,
                                 unwritten=lambda: (self.recorder.oldest_pending_write_seconds(),
                                                    self.recorder.pending_decisions()))
        self.cluster = (ClusterRole(node, store, self.live, current, self.paging.decide, self.submit)
                        if node is not None else None)
        self.traps = TrapFeed(current, self.recorder.add_event, self.scheduler.trigger)
        self.collector = NetwatchCollector(lambda: self.live, lambda: self.scheduler, extra=self.extra_metrics,
                                           site=config.cluster.site if config.cluster is not None else None)
        self.registry = registry_for(self.collector)
        # The board's cluster panel reads on a connection of its own (never the membership's).
        self.cluster_reader = status_reader(config) if node is not None and config.cluster is not None else None
        self.services = Services(current, self.live, self.collector, self.registry,
                                 PagingCommands(store, current), self.delivery.wake.set,
                                 self.cluster_reader.status if self.cluster_reader is not None else None)
        self.reloads = {"ok": 0, "refused": 0}
        self.reload_tasks: set[asyncio.Task[None]] = set()
        self.listener: Listener | None = None

    def paging_views(self) -> Mapping[str, CheckView]:
        return self.cluster.views() if self.cluster is not None else self.live.views

    def vitals(self) -> Vitals:
        lag = self.scheduler.lag.values()
        return Vitals(self.recorder.errors_total, self.recorder.last_error or "",
                      sum(s.count for s in lag), sum(s.total_seconds for s in lag),
                      store_pending_seconds=self.recorder.oldest_pending_write_seconds(),
                      resolver_pending_seconds=resolver().oldest_pending_seconds(),
                      skipped_total=sum(s.skipped for s in lag),
                      delivery_oldest_seconds=max((s.oldest_pending_seconds for s in self.delivery.stats.values()),
                                                  default=0.0))

    def checks(self, config: Config) -> list[Check]:
        """The checks this process runs: all of them, or in a cluster those whose slot lease it holds."""
        return list(config.checks) if self.node is None else self.node.owned(config.checks)

    def extra_metrics(self) -> Iterator[Metric]:
        if self.node is not None:
            yield from self.node.metrics()
        yield from self.paging.metrics()
        yield from self.recorder.metrics()
        yield from self.traps.metrics()
        yield zone_info((z.id, z.name) for z in self.config.zones)
        reloads = CounterMetricFamily("netwatch_config_reloads", "Config reloads (SIGHUP), by result.",
                                      labels=["result"])
        for result, count in self.reloads.items():
            reloads.add_metric([result], count)
        yield reloads

    def handle(self, check: Check, result: Result) -> None:
        for one_check, one_result, parent_id in expand(check, result):
            decides = self.cluster.on_result(one_check, one_result) if self.cluster is not None else True
            if decides is None:
                return
            self.recorder.add_result(one_result)
            for event in one_result.outcome.events:
                self.recorder.add_event(one_result.started_at, one_check.id, one_check.target.id, event)
            raw = self.live.update(one_check, one_result, parent_id)
            if decides:
                self.submit(self.paging.decide(one_check, one_result, raw),
                            self.node.slot_fence(one_check.id) if self.node is not None else None)

    def submit(self, decision: Decision, fence: Callable[[Tx], None] | None = None) -> None:
        """Show it, then record it (one transaction per decision); the recorder wakes delivery.

        In a cluster a decision commits only under the lease it was made under: the slot owner's (`fence`,
        from `handle`) or, for everything else (votes, escalations, reminders, self-watch), the coordinator's."""
        if self.node is not None and fence is None:
            fence = self.node.coordinator_fence()
        self.live.set_overlays(decision.overlays)
        for ts, check_id, target_id, event in decision.events:
            self.recorder.add_event(ts, check_id, target_id, event)
        for line in decision.log_lines():
            log.info("%s", line)
        self.recorder.add_decision(decision, fence)

    def reload(self, path: str) -> bool:
        """Adopt a new config file, every section of it; a bad one is refused and the running one stays."""
        try:
            new = load(path)
        except ConfigError as exc:
            self.reloads["refused"] += 1
            log.error("config reload refused, keeping the running config:\n%s", exc)
            return False
        for key in RESTART_KEYS:
            if getattr(new, key) != getattr(self.config, key):
                log.warning("config reload: %s changed; it takes effect at the next restart", key)
        new = replace(new, **{k: getattr(self.config, k) for k in RESTART_KEYS})
        self.config = new
        logs.set_redaction(new.redact)
        if self.cluster is not None:
            self.cluster.reload(new)
        self.live.apply(self.checks(new))
        self.paging.decider.reload(new)
        self.recorder.set_retention(new.retention.results, new.retention.rollups)
        self.scheduler.apply(self.checks(new))
        self.reload_tasks.add(task := asyncio.create_task(self.traps.reload(), name="traps-reload"))
        task.add_done_callback(self.reload_tasks.discard)
        self.reload_tasks.add(task := asyncio.create_task(self._close_removed(new), name="close-removed"))
        task.add_done_callback(self.reload_tasks.discard)
        if self.listener is not None:   # rebinds `listen`, or keeps the old socket and says so (web/listener.py)
            self.reload_tasks.add(task := asyncio.create_task(self.listener.apply(new.listen), name="listen-reload"))
            task.add_done_callback(self.reload_tasks.discard)
        self.reloads["ok"] += 1
        log.info("config reloaded: %d targets, %d checks", len(new.targets), len(new.checks))
        return True

    async def _close_removed(self, config: Config) -> None:
        """Incidents of targets or checks the reload removed are closed, not reminded forever."""
        try:
            closed = await asyncio.to_thread(close_removed_checks, self.store, config, self.clock())
        except (*DB_ERRORS, StoreError, OSError) as exc:
            log.error("config reload: closing the incidents of removed checks failed: %s", exc)
            return
        for iid in closed:
            log.info("incident #%d closed: its check was removed from the configuration", iid)

    async def run(self, stop: asyncio.Event) -> None:
        self.listener = listener = await server.start(self.services)
        tasks = [asyncio.create_task(self.recorder.run(), name="recorder"),
                 asyncio.create_task(self.paging.run(), name="paging")]
        await self.traps.start()
        self.scheduler.apply(self.checks(self.config))
        if self.cluster is not None:
            tasks.append(self.cluster.start(self.scheduler))
        try:
            await stop.wait()
        finally:
            if self.cluster is not None:
                await self.cluster.stop()
            self.traps.close()
            await self.scheduler.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.recorder.flush()
            self.store.stop_run(self.run_id, self.clock())
            await listener.close()
            if self.cluster_reader is not None:
                self.cluster_reader.close()


async def run(config: Config, store: Store, stop: asyncio.Event, started: Callable[[Services], None] = lambda s: None,
              reload_from: str | None = None, node: ClusterNode | None = None) -> None:
    """Run the daemon until `stop`; `started` gets what the web side sees (the demo's console reads it)."""
    monitor = Monitor(config, store, node=node)
    if reload_from is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, lambda: monitor.reload(reload_from))
    started(monitor.services)
    await monitor.run(stop)


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
        await run(config, store, stop, reload_from=config.path, node=node)
    finally:
        store.close()
    log.info("stopped")
    return 0

