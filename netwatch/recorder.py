"""Writes results, transitions and events to the store in batches, off the event loop."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import replace
from typing import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from netwatch.model import Transition
from netwatch.model import Event, Outcome, Result
from netwatch.store import DB_ERRORS, Store

log = logging.getLogger(__name__)

# Called inside the transaction that stores a transition, so whatever it writes (the paging
# outbox) commits together with it or not at all.
TransitionHook = Callable[[sqlite3.Connection, Transition, int], None]

FLUSH_SECONDS = 1.0
HEARTBEAT_SECONDS = 10.0
PRUNE_SECONDS = 3600.0
# Past this many unwritten results (the disk is gone), the oldest raw results are dropped;
# transitions and events are never dropped.
MAX_PENDING_RESULTS = 2_000_000


def _redacted(value: object, redact: Callable[[str], str]) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v, redact) for v in value]
    return value


class Recorder:
    def __init__(self, store: Store, run_id: int, latency: Mapping[str, str | None],
                 results_retention_seconds: float, rollups_retention_seconds: float,
                 redact: Callable[[str], str] = lambda text: text) -> None:
        self.store = store
        # Probe details quote URLs and device text that may hold configured secrets; history keeps them masked.
        self.redact = redact
        self.run_id = run_id
        self.latency = latency
        self.retention = (results_retention_seconds, rollups_retention_seconds)
        self.results: list[Result] = []
        self.transitions: list[Transition] = []
        self.events: list[tuple[float, str | None, str | None, Event]] = []
        self.hooks: list[TransitionHook] = []
        # Called once a transition's transaction has committed (a failed one is retried with the same object).
        self.committed: list[Callable[[Transition], None]] = []
        self.errors_total = 0
        self.dropped_results_total = 0
        self.last_error: str | None = None
        self.last_flush_ok_at: float = 0.0
        self._last_heartbeat = 0.0
        self._last_prune = 0.0
        self._wake = asyncio.Event()

    def add_result(self, result: Result) -> None:
        # Keep only what the store reads: while the disk is full, pending results pile up, and an SNMP
        # result holds hundreds of Series (tens of kB) that history never stores.
        o = result.outcome
        name = self.latency.get(result.kind)
        kept = {name: o.measurements[name]} if name is not None and name in o.measurements else {}
        self.results.append(replace(result, outcome=Outcome(ok=o.ok, error=o.error, degraded=o.degraded,
                                                            measurements=kept)))
        if len(self.results) > MAX_PENDING_RESULTS:
            drop = len(self.results) - MAX_PENDING_RESULTS
            del self.results[:drop]
            self.dropped_results_total += drop

    def add_transition(self, transition: Transition) -> None:
        self.transitions.append(transition)
        self._wake.set()  # state changes page people: write them now, not at the next tick

    def add_event(self, ts: float, check_id: str | None, target_id: str | None, event: Event) -> None:
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
        pending = GaugeMetricFamily("netwatch_store_pending_rows", "Rows waiting to be written, by table.",
                                    labels=["table"])
        pending.add_metric(["results"], len(self.results))
        pending.add_metric(["transitions"], len(self.transitions))
        pending.add_metric(["events"], len(self.events))
        yield pending

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

    async def flush(self) -> bool:
        results, transitions, events = self.results, self.transitions, self.events
        self.results, self.transitions, self.events = [], [], []
        try:
            await asyncio.to_thread(self._write, results, transitions, events)
        except (*DB_ERRORS, OSError) as exc:
            self.errors_total += 1
            self.last_error = str(exc)
            log.error("history store write failed (%s); keeping %d results, %d transitions to retry",
                      exc, len(results), len(transitions))
            self.results[:0] = results
            self.transitions[:0] = transitions
            self.events[:0] = events
            return False
        self.last_flush_ok_at = time.time()
        return True

    def _write(self, results: list[Result], transitions: list[Transition],
               events: list[tuple[float, str | None, str | None, Event]]) -> None:
        """Each list is emptied as it commits, so a failure leaves exactly the unwritten rest."""
        now = time.time()
        while transitions:
            t = transitions[0]
            with self.store.transaction() as c:
                # Hooks get the very object they planned for (the paging engine keys plans by id()).
                tid = self.store.insert_transition(c, replace(t, detail=self.redact(t.detail)), self.run_id)
                for hook in self.hooks:
                    hook(c, t, tid)
            transitions.pop(0)
            for done in self.committed:
                done(t)
        if results:
            self.store.record_results(results, [self.latency_of(r) for r in results])
            results.clear()
        if events:
            self.store.record_events(events)
            events.clear()
        if now - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self.store.touch_run(self.run_id, now)
            self._last_heartbeat = now
        if now - self._last_prune >= PRUNE_SECONDS:
            self.store.prune(now, *self.retention)
            self._last_prune = now
