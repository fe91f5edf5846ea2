"""Wiring: config -> scheduler -> live view -> decide -> record -> deliver, and the HTTP server; owns reload."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from dataclasses import replace
from typing import Any, Callable, Coroutine, Iterator, Mapping

from prometheus_client.core import Metric

from netwatch import __version__, heap, logs
from netwatch.alerting.decide import Decider, Decision
from netwatch.alerting.engine import PagingLoop
from netwatch.alerting.incidents import PagingCommands, close_removed_after_reload, held_pages
from netwatch.alerting.selfwatch import SelfWatch, Vitals
from netwatch.clock import RUN_CLOCK
from netwatch.cluster.node import ClusterNode
from netwatch.clustering import ClusterRole, status_reader
from netwatch.config import Config, ConfigError, load
from netwatch.live import CheckView, LiveView, expand
from netwatch.model import Check, Result
from netwatch.net.resolver import resolver
from netwatch.notify.outbox import Delivery
from netwatch.recorder import Recorder
from netwatch.runner import ProbeContexts
from netwatch.scheduler import Scheduler
from netwatch.store import Store, Tx
from netwatch.trapfeed import TrapFeed
from netwatch.web.listener import Listener
from netwatch.web.metrics import NetwatchCollector, gc_metrics, registry_for, reloads_metric, zone_info
from netwatch.web.services import Services

log = logging.getLogger(__name__)
RESTART_KEYS = ("store",)   # read once at start; every other section is applied by a reload (listen rebinds)


class Monitor:
    """The running daemon: one config at a time, swapped whole on reload."""

    def __init__(self, config: Config, store: Store, clock: Callable[[], float] = RUN_CLOCK,
                 node: ClusterNode | None = None) -> None:
        self.config, self.store, self.clock, self.node = config, store, clock, node   # node: cluster mode only
        current = lambda: self.config  # noqa: E731 - every component reads the config of the moment
        leads = node.coordinating if node is not None else lambda: True
        self.run_id = store.start_run(__version__, os.getpid(), clock())
        stored = store.last_states()
        self.live = LiveView(self.checks(config), stored)
        self.delivery = Delivery.for_config(store, current, clock, node.may_send if node is not None else None,
                                              node.coordinator_guard if node is not None else None)
        if node is not None:
            node.hand_over_when(self.delivery.undelivered_seconds)
        self.recorder = Recorder.for_config(store, self.run_id, current, self.delivery.wake.set, clock,
                                            node.fence_results if node is not None else None)
        contexts = ProbeContexts.of_store(store, lambda ts: self.config.event.phase_at(ts))
        self.scheduler = Scheduler(self.handle, contexts=contexts, allowed=node.runs if node is not None else None,
                                   on_skipped=lambda check, runs: self.live.note_skipped(check.id, runs),
                                   wall=clock)
        self.selfwatch = SelfWatch(current, self.vitals, clock, may_page=leads)
        decider = Decider(config, {cid: s.state for cid, s in stored.items()})
        decider.resume(held_pages(store), clock())
        self.paging = PagingLoop(decider, store, self.delivery, self.selfwatch, current, self.paging_views,
                                 self.submit, clock, active=leads, unwritten=lambda: (
                                     self.recorder.oldest_pending_write_seconds(), self.recorder.pending_decisions()))
        self.cluster = ClusterRole(node, store, self.live, current, self.paging.decide, self.submit,
                                   latency_of=self.recorder.latency_of, adopt=decider.adopt) if node else None
        self.traps = TrapFeed(current, self.recorder.add_event, self.scheduler.trigger, self.trap_reboot)
        self.collector = NetwatchCollector(lambda: self.live, lambda: self.scheduler, extra=self.extra_metrics,
                                           site=config.cluster.site if config.cluster is not None else None)
        self.registry = registry_for(self.collector)
        # The board's cluster panel reads on a connection of its own (never the membership's).
        self.cluster_reader = status_reader(config) if node is not None and config.cluster is not None else None
        self.services = Services(current, self.live, self.collector, self.registry,
                                 PagingCommands(store, current), self.delivery.wake.set,
                                 self.cluster_reader.status if self.cluster_reader is not None else None)
        self.reloads = {"ok": 0, "refused": 0}
        self.tasks: set[asyncio.Task[None]] = set()
        self.listener: Listener | None = None

    def checks(self, config: Config) -> list[Check]:
        """The checks this process runs: all of them, or in a cluster those whose slot lease it holds."""
        return list(config.checks) if self.node is None else self.node.owned(config.checks)

    def paging_views(self) -> Mapping[str, CheckView]:
        """What the decider sees: this node's live view, or in a cluster the coordinator's merged one."""
        return self.cluster.views() if self.cluster is not None else self.live.views

    def vitals(self) -> Vitals:
        lag, stats = self.scheduler.lag.values(), self.delivery.stats.values()
        return Vitals(self.recorder.errors_total, self.recorder.last_error or "", sum(s.count for s in lag),
                      sum(s.total_seconds for s in lag), self.recorder.oldest_pending_write_seconds(),
                      resolver().oldest_pending_seconds(), sum(s.skipped for s in lag),
                      max((s.oldest_pending_seconds for s in stats), default=0.0))

    def extra_metrics(self) -> Iterator[Metric]:
        yield from itertools.chain(self.node.metrics() if self.node else (), self.paging.metrics(),
                                   self.recorder.metrics(), self.traps.metrics())
        yield zone_info((z.id, z.name) for z in self.config.zones)
        yield reloads_metric(self.reloads)
        yield from gc_metrics(heap.PAUSES)

    def handle(self, check: Check, result: Result) -> None:
        """A result: recorded, shown, and (unless another cluster node decides) decided."""
        for one_check, one_result, parent_id in expand(check, result):
            decides = self.cluster.on_result(one_check, one_result) if self.cluster is not None else True
            if decides is None:
                return
            self.recorder.add_result(one_result)
            for event in one_result.outcome.events:
                self.recorder.add_event(one_result.started_at, one_check.id, one_check.target.id, event)
                if event.kind == "reboot" and decides:
                    self.poll_reboot(one_check, one_result.started_at, event.data)
            raw = self.live.update(one_check, one_result, parent_id)
            if decides:
                self.submit(self.paging.decide(one_check, one_result, raw),
                            self.node.slot_fence(one_check.id) if self.node is not None else None)

    def poll_reboot(self, check: Check, at: float, data: Mapping[str, Any]) -> None:
        """sysUpTime went back between two polls (seen at `at`): page the reboot; the decider pages each once.
        In a cluster it commits under the slot lease it was seen under, like the result's own decision."""
        self.submit(self.paging.decider.on_polled_reboot(check.target.id, at, data, self.paging_views(), self.clock()),
                    self.node.slot_fence(check.id) if self.node is not None else None)

    def trap_reboot(self, target_id: str, at: float, uptime_seconds: float | None) -> None:
        """A coldStart/warmStart trap; in a cluster only the coordinator pages (every node may hear the trap)."""
        if self.node is not None and not self.node.coordinating():
            return
        self.submit(self.paging.decider.on_reboot(target_id, at, uptime_seconds, None, "trap", self.paging_views(),
                                                  self.clock()))

    def submit(self, decision: Decision, fence: Callable[[Tx], None] | None = None) -> None:
        """Show it, then record it (one transaction per decision); the recorder wakes delivery.

        In a cluster a decision commits only under the lease it was made under: the slot owner's (`fence`,
        from `handle`) or, for everything else (votes, escalations, reminders, self-watch), the coordinator's."""
        if not decision:
            return   # most results decide nothing (an up check staying up)
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
        self.config = new = replace(new, **{k: getattr(self.config, k) for k in RESTART_KEYS})
        logs.set_redaction(new.redact)
        if self.cluster is not None:
            self.cluster.reload(new)
        self.live.apply(self.checks(new))
        self.paging.decider.reload(new)
        self.recorder.set_retention(new.retention.results, new.retention.rollups)
        self.scheduler.apply(self.checks(new))
        self.spawn(self.traps.reload(), "traps-reload")
        self.spawn(close_removed_after_reload(self.store, new, self.clock()), "close-removed")
        if self.listener is not None:   # rebinds `listen`, or keeps the old socket and says so (web/listener.py)
            self.spawn(self.listener.apply(new.listen), "listen-reload")
        self.reloads["ok"] += 1
        log.info("config reloaded: %d targets, %d checks", len(new.targets), len(new.checks))
        return True

    def spawn(self, work: Coroutine[object, object, None], name: str) -> None:
        self.tasks.add(task := asyncio.create_task(work, name=name))
        task.add_done_callback(self.tasks.discard)
