"""Wiring: config -> scheduler -> result path (live view, decide, record) -> delivery, and the web side; owns reload."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from netwatch import logs
from netwatch.alerting.engine import PagingLoop
from netwatch.alerting.incidents import PagingCommands, close_removed_after_reload
from netwatch.alerting.selfwatch import vitals_of
from netwatch.clock import RUN_CLOCK
from netwatch.cluster.node import ClusterNode
from netwatch.clustering import ClusterRole, checks_here
from netwatch.config import Config, reloaded
from netwatch.live import LiveView
from netwatch.notify.outbox import Delivery
from netwatch.recorder import Recorder
from netwatch.resultpath import ResultPath
from netwatch.runner import ProbeContexts
from netwatch.scheduler import Scheduler
from netwatch.store import Store
from netwatch.trapfeed import TrapFeed
from netwatch.web.listener import Listener
from netwatch.web.services import Services

log = logging.getLogger(__name__)


class Monitor:
    """The running daemon: one config at a time, swapped whole on reload. `node`: cluster mode only."""

    def __init__(self, config: Config, store: Store, clock: Callable[[], float] = RUN_CLOCK,
                 node: ClusterNode | None = None) -> None:
        self.config, self.store, self.clock, self.node = config, store, clock, node
        current = lambda: self.config  # noqa: E731 - every component reads the config of the moment
        self.live = live = LiveView(checks_here(config, node), stored := store.last_states())
        self.delivery = out = Delivery.for_config(store, current, clock, node)
        self.recorder = rec = Recorder.for_config(store, current, out.wake.set, clock, live.set_overlays, node)
        # Self-watch (run by paging) reads the scheduler, built below as it hands its results on to this paging.
        self.paging = paging = PagingLoop.for_config(
            current, store, stored, out, lambda: vitals_of(rec, self.scheduler.lag.values(), out.stats.values()),
            live.decided, rec.submit, rec.unwritten, clock, node.coordinating if node is not None else lambda: True)
        self.cluster = (ClusterRole(node, store, live, current, paging.decide, rec.submit, rec.latency_of,
                                    adopt=paging.decider.adopt) if node is not None else None)
        self.path = ResultPath(live, rec, paging, self.cluster)
        self.scheduler = Scheduler(
            self.path.handle, contexts=ProbeContexts.of_store(store, lambda ts: current().event.phase_at(ts)),
            allowed=node.runs if node else None, on_skipped=lambda c, n: live.note_skipped(c.id, n), wall=clock,
            on_batch=self.path.handle_batch)
        self.traps = TrapFeed(current, rec.add_event, self.scheduler.trigger, paging.trap_reboot)
        self.reloads = {"ok": 0, "refused": 0}
        self.services = Services.for_daemon(current, live, self.scheduler, [
            *([node.metrics] if node else []), paging.metrics, rec.metrics, self.traps.metrics], self.reloads,
            PagingCommands(store, current), out.wake.set, clustered=node is not None)
        self.tasks: set[asyncio.Task[object]] = set()
        self.listener: Listener | None = None

    def reload(self, path: str) -> bool:
        """Adopt a new config file, every section of it; a bad one is refused and the running one stays."""
        new = reloaded(path, self.config)   # the store stays as it runs until the next restart
        if new is None:
            self.reloads["refused"] += 1
            return False
        self.config = new
        logs.set_redaction(new.redact)
        if self.cluster is not None:
            self.cluster.reload(new)
        self.live.apply(checks_here(new, self.node))
        self.paging.decider.reload(new)
        self.recorder.set_retention(new.retention.results, new.retention.rollups)
        self.scheduler.apply(checks_here(new, self.node))
        # Traps rebind, removed checks' incidents close, the listener rebinds `listen` (or keeps its socket, saying so).
        for work in (self.traps.reload(), close_removed_after_reload(self.store, new, self.clock()),
                     *([self.listener.apply(new.listen)] if self.listener is not None else [])):
            self.tasks.add(task := asyncio.create_task(work))
            task.add_done_callback(self.tasks.discard)
        self.reloads["ok"] += 1
        log.info("config reloaded: %d targets, %d checks", len(new.targets), len(new.checks))
        return True
