"""Writes results, decisions and events to the store in batches, off the event loop.

A decision (netwatch.alerting.decide) is written in ONE transaction: its transitions, the incidents
they open or resolve, their outbox rows and held pages commit together or not at all; a failed
write is retried whole at the next flush. In a cluster the same transaction first checks the lease the
decision was made under (the coordinator's, or the slot owner's) and results are checked against their
slot leases: a write the database refuses as fenced is dropped, never retried (docs/cluster.md). `on_commit` is
told after a decision is stored, so the delivery loop wakes at once instead of polling. `submit` is the one way a
decision goes in: shown first (its overlays on the live view), then queued.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from netwatch import __version__
from netwatch.alerting import incidents
from netwatch.alerting.decide import Change, Decision
from netwatch.model import Event, Outcome, Result, State, Transition
from netwatch.probes import PROBES
from netwatch.store import DB_ERRORS, FencedWrite, ResultRow, Store, Tx

if TYPE_CHECKING:
    from netwatch.cluster.node import ClusterNode
    from netwatch.config import Config

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0
SLOW_WRITE_SECONDS = 2.0
HEARTBEAT_SECONDS = 10.0
PRUNE_SECONDS = 3600.0
# Past this many unwritten results (the disk is gone), the oldest raw results are dropped;
# transitions and events are never dropped.
MAX_PENDING_RESULTS = 2_000_000
# Past this many unwritten decisions the oldest are dropped and counted (their pages went out from memory,
# see notify.outbox.Delivery.send_from_memory); far beyond any real outage, it bounds memory on a dead disk.
MAX_PENDING_DECISIONS = 50_000


def _redacted(value: object, redact: Callable[[str], str]) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v, redact) for v in value]
    return value


def _lap(steps: dict[str, float], step: str, since: float) -> float:
    now = time.monotonic()
    steps[step] = now - since
    return now


class Recorder:
    def __init__(self, store: Store, run_id: int, latency: Mapping[str, str | None],
                 results_retention_seconds: float, rollups_retention_seconds: float,
                 redact: Callable[[str], str] = lambda text: text, on_commit: Callable[[], None] = lambda: None,
                 clock: Callable[[], float] = time.time,
                 fence_results: Callable[[Tx, list[ResultRow]], list[ResultRow]] | None = None,
                 show: Callable[[Iterable[tuple[str, State | None]]], None] = lambda overlays: None,
                 coordinator_fence: Callable[[], Callable[[Tx], None]] | None = None) -> None:
        self.store = store
        self.show = show   # the live view's overlays: a decision is shown before it is written
        # Cluster mode: the lease check of a decision made outside a slot owner's result (votes, escalations,
        # reminders, self-watch): the coordinator's.
        self.coordinator_fence = coordinator_fence
        # Probe details quote URLs and device text that may hold configured secrets; history keeps them masked.
        self.redact = redact
        self.run_id = run_id
        self.latency = latency
        self.retention = (results_retention_seconds, rollups_retention_seconds)
        self.on_commit = on_commit
        self.clock = clock
        # Cluster mode: inside the results' transaction, the results whose slot lease is still live.
        self.fence_results = fence_results
        self.fences: dict[int, Callable[[Tx], None]] = {}   # id(decision) -> its lease check (cluster mode)
        self.fenced_total = {"results": 0, "decisions": 0}
        self.results: list[ResultRow] = []
        self.decisions: list[Decision] = []
        self.events: list[tuple[float, str | None, str | None, Event]] = []
        self.errors_total = 0
        self.dropped_decisions_total = 0
        # Monotonic time since which something is waiting to be written (None: nothing); self-watch reads its age.
        self.unwritten_since: float | None = None
        self.writing: list[Decision] = []     # the decisions of the flush in progress (a stalled write holds them)
        self.dropped_results_total = 0
        self.last_error: str | None = None
        self.last_flush_ok_at: float = 0.0
        self._last_heartbeat = 0.0
        self._last_prune = 0.0
        self._wake = asyncio.Event()
        self._flush_started = 0.0
        self.write_seconds: dict[str, float] = {}   # the last write's steps, for the slow-write warning

    @classmethod
    def for_config(cls, store: Store, config: Callable[[], "Config"], on_commit: Callable[[], None],
                   clock: Callable[[], float], show: Callable[[Iterable[tuple[str, State | None]]], None],
                   node: "ClusterNode | None" = None) -> "Recorder":
        """The daemon's recorder, for a run it starts now (its heartbeat keeps the run's last_seen_at): every probe
        kind's latency measurement, retention and redaction of the config of the moment (a reload changes retention
        through set_retention); in a cluster, the node's fences."""
        retention, run_id = config().retention, store.start_run(__version__, os.getpid(), clock())
        return cls(store, run_id, {k: p.latency for k, p in PROBES.items()}, retention.results, retention.rollups,
                   redact=lambda text: config().redact(text), on_commit=on_commit, clock=clock,
                   fence_results=node.fence_results if node is not None else None, show=show,
                   coordinator_fence=node.coordinator_fence if node is not None else None)

    def _pending(self) -> None:
        if self.unwritten_since is None:
            self.unwritten_since = time.monotonic()

    def oldest_pending_write_seconds(self, now: float | None = None) -> float:
        """How long the oldest unwritten row has waited (0 when none): a locked or failing store grows it."""
        if self.unwritten_since is None:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - self.unwritten_since)

    def pending_decisions(self) -> list[Decision]:
        """Decisions not yet committed, oldest first (the ones being written, then the queued ones)."""
        return [*self.writing, *self.decisions]

    def unwritten(self) -> tuple[float, list[Decision]]:
        """What paging reads of the writer: the age of the oldest unwritten row, the decisions not yet committed."""
        return self.oldest_pending_write_seconds(), self.pending_decisions()

    def add_result(self, result: Result) -> None:
        self._pending()
        # Keep only what the store reads, as the row it writes: while the disk is full, pending results
        # pile up, and an SNMP result holds hundreds of Series (tens of kB) that history never stores.
        # One tuple, not a slimmed copy of the Result: this runs for every result.
        o = result.outcome
        self.results.append((result.check_id, result.started_at, result.duration_seconds, int(o.ok),
                             int(o.degraded is not None), o.error, self.latency_of(result)))
        if len(self.results) > MAX_PENDING_RESULTS:
            drop = len(self.results) - MAX_PENDING_RESULTS
            del self.results[:drop]
            self.dropped_results_total += drop

    def add_results(self, runs: Sequence[tuple[object, Result]]) -> None:
        """`add_result` for the results of one batch (the icmp batch path), as the result path has them:
        (check, result) pairs. The same rows, one call."""
        if not runs:
            return
        self._pending()
        latency, rows = self.latency, self.results
        for _, result in runs:
            o, name = result.outcome, latency.get(result.kind)
            rows.append((result.check_id, result.started_at, result.duration_seconds, int(o.ok),
                         int(o.degraded is not None), o.error,
                         result.duration_seconds if name is None else o.measurements.get(name)))
        if len(rows) > MAX_PENDING_RESULTS:
            drop = len(rows) - MAX_PENDING_RESULTS
            del rows[:drop]
            self.dropped_results_total += drop

    def set_retention(self, results_seconds: float, rollups_seconds: float) -> None:
        """A reload's new `retention:`; the next prune uses it."""
        if (results_seconds, rollups_seconds) != self.retention:
            self.retention = (results_seconds, rollups_seconds)
            self._last_prune = 0.0

    def submit(self, decision: Decision, fence: Callable[[Tx], None] | None = None) -> None:
        """Show it, then record it (one transaction per decision); the commit wakes delivery.

        In a cluster a decision commits only under the lease it was made under: the slot owner's (`fence`,
        from the result path) or, for everything else (votes, escalations, reminders, self-watch), the
        coordinator's."""
        if not decision:
            return   # most results decide nothing (an up check staying up)
        if fence is None and self.coordinator_fence is not None:
            fence = self.coordinator_fence()
        self.show(decision.overlays)
        for ts, check_id, target_id, event in decision.events:
            self.add_event(ts, check_id, target_id, event)
        for line in decision.log_lines():
            log.info("%s", line)
        self.add_decision(decision, fence)

    def add_decision(self, decision: Decision, fence: Callable[[Tx], None] | None = None) -> None:
        """Queue a decision; `fence` (cluster mode) runs first in its transaction and raises FencedWrite when
        the lease it was decided under is gone (a takeover between deciding and committing)."""
        if not decision.items:
            return
        self._pending()
        self.decisions.append(decision)
        if fence is not None:
            self.fences[id(decision)] = fence
        if len(self.decisions) > MAX_PENDING_DECISIONS:
            drop = len(self.decisions) - MAX_PENDING_DECISIONS
            for gone in self.decisions[:drop]:
                self.fences.pop(id(gone), None)
            del self.decisions[:drop]
            self.dropped_decisions_total += drop
            log.error("history store unavailable too long: %d decisions dropped unwritten", drop)
        self._wake.set()  # state changes page people: write them now, not at the next tick

    def add_transition(self, transition: Transition) -> None:
        """A transition that pages nobody (recorded as decided, e.g. by tests and tools)."""
        self.add_decision(Decision((Change(transition),)))

    def add_event(self, ts: float, check_id: str | None, target_id: str | None, event: Event) -> None:
        self._pending()
        self.events.append((ts, check_id, target_id, replace(event, summary=self.redact(event.summary),
                                                                   data={str(k): _redacted(v, self.redact)
                                                                         for k, v in event.data.items()})))

    def metrics(self) -> Iterator[Metric]:
        """The store's health as seen by its writer: a full disk shows here before anywhere else."""
        yield CounterMetricFamily("netwatch_store_write_errors", "Failed writes to the history store.",
                                  value=self.errors_total)
        yield CounterMetricFamily("netwatch_store_dropped_results",
                                  "Raw results dropped unwritten after the store failed for too long.",
                                  value=self.dropped_results_total)
        yield CounterMetricFamily("netwatch_store_dropped_decisions",
                                  "Decisions (transitions, incidents) dropped unwritten after the store failed "
                                  "too long.",
                                  value=self.dropped_decisions_total)
        yield GaugeMetricFamily("netwatch_store_oldest_pending_write_seconds",
                                "Age of the oldest row waiting to be written (0 when none).",
                                value=self.oldest_pending_write_seconds())
        pending = GaugeMetricFamily("netwatch_store_pending_rows", "Rows waiting to be written, by table.",
                                    labels=["table"])
        pending.add_metric(["results"], len(self.results))
        pending.add_metric(["transitions"], sum(len(d.transitions) for d in self.pending_decisions()))
        pending.add_metric(["events"], len(self.events))
        yield pending
        if self.fence_results is not None:
            fenced = CounterMetricFamily("netwatch_store_fenced_writes",
                                         "Cluster writes the database refused because this node no longer held "
                                         "the lease they were made under (dropped, not retried).", labels=["table"])
            for table, count in self.fenced_total.items():
                fenced.add_metric([table], count)
            yield fenced

    def latency_of(self, result: Result) -> float | None:
        name = self.latency.get(result.kind)
        if name is None:
            return result.duration_seconds
        return result.outcome.measurements.get(name)

    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), FLUSH_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    def _housekeeping_due(self, now: float) -> bool:
        return now - self._last_heartbeat >= HEARTBEAT_SECONDS or now - self._last_prune >= PRUNE_SECONDS

    async def flush(self) -> bool:
        if not (self.results or self.decisions or self.events) and not self._housekeeping_due(time.time()):
            # Nothing to write and no heartbeat or prune due: no hop to a worker thread for nothing.
            self.last_flush_ok_at = time.time()
            return True
        results, decisions, events = self.results, self.decisions, self.events
        self.results, self.decisions, self.events = [], [], []
        stored = len(decisions)
        started = self._flush_started = time.monotonic()
        self.writing = decisions
        counts = (len(results), len(decisions), len(events))
        try:
            await asyncio.to_thread(self._write, results, decisions, events)
        except (*DB_ERRORS, OSError) as exc:
            self.writing = []
            self.errors_total += 1
            self.last_error = str(exc)
            log.error("history store write failed (%s); keeping %d results, %d transitions to retry",
                      exc, len(results), sum(len(d.transitions) for d in decisions))
            self.results[:0] = results
            self.decisions[:0] = decisions
            self.events[:0] = events
            if len(decisions) < stored:
                self.on_commit()
            return False
        self.writing = []
        self.last_flush_ok_at = time.time()
        took = time.monotonic() - started
        if took > SLOW_WRITE_SECONDS:
            # Self-watch pages at store_stall; this says what the slow write held and where its time went.
            log.warning("history store write took %.1f s (%d results, %d decisions, %d events; %s)", took, *counts,
                        ", ".join(f"{step} {seconds:.2f} s" for step, seconds in
                                  [*self.write_seconds.items(), ("back on the loop", took - sum(self.write_seconds.values()))]))
        if self.unwritten_since is not None:
            self.unwritten_since = started if (self.results or self.decisions or self.events) else None
        if stored:
            self.on_commit()
        return True

    def _write(self, results: list[ResultRow], decisions: list[Decision],
               events: list[tuple[float, str | None, str | None, Event]]) -> None:
        """Each list is emptied as it commits, so a failure leaves exactly the unwritten rest."""
        steps = self.write_seconds = {"waiting for a thread": time.monotonic() - self._flush_started}
        mark = time.monotonic()
        while decisions:
            decided_at = self.clock()   # incidents open at the paging clock (injected in tests)
            fence = self.fences.get(id(decisions[0]))
            try:
                with self.store.transaction() as c:
                    if fence is not None:
                        fence(c)
                    for item in decisions[0].items:
                        incidents.record(c, item, decided_at, lambda change: self.store.insert_transition(
                            c, replace(change.transition, detail=self.redact(change.transition.detail)),
                            self.run_id))
            except FencedWrite as exc:
                # The lease holder of now decides (and pages) this; writing it here would duplicate it.
                self.fenced_total["decisions"] += 1
                log.warning("decision not written, this node no longer holds its lease: %s", exc)
            self.fences.pop(id(decisions[0]), None)
            decisions.pop(0)
        now = time.time()
        mark = _lap(steps, "decisions", mark)
        if results and self.fence_results is None:
            self.store.record_rows(results)
            results.clear()
        elif results:
            assert self.fence_results is not None
            with self.store.transaction(notify=False) as c:
                kept = self.fence_results(c, results)
                if kept:
                    self.store.record_rows(kept)
            self.fenced_total["results"] += len(results) - len(kept)
            results.clear()
        mark = _lap(steps, "results", mark)
        if events:
            self.store.record_events(events)
            events.clear()
        mark = _lap(steps, "events", mark)
        if now - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self.store.touch_run(self.run_id, now)
            self._last_heartbeat = now
        mark = _lap(steps, "heartbeat", mark)
        if now - self._last_prune >= PRUNE_SECONDS:
            self.store.prune(now, *self.retention)
            self._last_prune = now
        _lap(steps, "prune", mark)
