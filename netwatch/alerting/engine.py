"""The paging loop: drives the decider's clock, the escalation sweep, delivery and self-watch.

Results reach the decider through `decide` (called by the daemon for every result); everything
decided goes to `submit`, which records it (one transaction per decision) and then delivers.
Every TICK_SECONDS the loop reads maintenance windows added by the CLI, lets the decider act on
window ends and held-page deadlines, escalates and reminds what is due (a write transaction only
then), and wakes delivery when another process (`netwatch ack`) changed the store.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric

from netwatch.alerting import incidents
from netwatch.alerting.decide import Decider, Decision, Observed
from netwatch.alerting.selfwatch import SelfWatch
from netwatch.config.paging import Maintenance
from netwatch.model import Check, Result, Transition
from netwatch.notify.outbox import Delivery
from netwatch.store import Store
from netwatch.store.incidents import maintenance_rows
from netwatch.store.outbox import data_version
from netwatch.windows import window

if TYPE_CHECKING:
    from netwatch.config import Config

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5


class PagingLoop:
    def __init__(self, decider: Decider, store: Store, delivery: Delivery, selfwatch: SelfWatch,
                 config: Callable[[], "Config"], views: Callable[[], Mapping[str, Observed]],
                 submit: Callable[[Decision], None], clock: Callable[[], float]) -> None:
        self.decider = decider
        self.store = store
        self.delivery = delivery
        self.selfwatch = selfwatch
        self.config = config
        self.views = views
        self.submit = submit
        self.clock = clock
        self.open_incidents = 0
        self._data_version: int | None = None

    def decide(self, check: Check, result: Result, raw: Transition | None) -> Decision:
        return self.decider.on_result(check, result, raw, self.views(), self.clock())

    async def run(self) -> None:
        delivery = asyncio.create_task(self.delivery.run(), name="outbox")
        heartbeat = asyncio.create_task(self.selfwatch.heartbeat(), name="heartbeat")
        try:
            while True:
                await asyncio.sleep(TICK_SECONDS)
                try:
                    await self.tick()
                except (sqlite3.Error, OSError) as exc:
                    log.error("paging tick failed: %s", exc)
                except Exception:  # noqa: BLE001 - paging must outlive a bug in one tick
                    log.exception("paging tick failed")
        finally:
            for task in (delivery, heartbeat):
                task.cancel()
            await asyncio.gather(delivery, heartbeat, return_exceptions=True)

    async def tick(self) -> None:
        now = self.clock()
        windows, version = await asyncio.to_thread(self._read)
        decision = self.decider.on_clock(now, self.views(), windows)
        if decision:
            self.submit(decision)
        config = self.config()
        self.open_incidents, swept = await asyncio.to_thread(incidents.sweep, self.store, now,
                                                             self.decider.quiet_checks(), config)
        if swept or version != self._data_version:
            # A sweep queued follow-ups, or another process wrote (an ack from the CLI).
            self._data_version = version
            self.delivery.wake.set()
        self.selfwatch.check(now)

    def _read(self) -> tuple[tuple[Maintenance, ...], int]:
        with self.store.lock:
            rows = maintenance_rows(self.store.conn)
            version = data_version(self.store.conn)
        tz = self.config().site.tz
        out = []
        for id_, start, end, repeat, until, targets, zones, checks, reason in rows:
            try:
                w = window(start, end, tz, repeat, until)
            except ValueError:
                continue
            out.append(Maintenance(f"db-{id_}", w, targets, zones, checks, reason))
        return tuple(out), version

    def metrics(self) -> Iterator[Metric]:
        yield from self.delivery.metrics()
        yield GaugeMetricFamily("netwatch_incidents_open", "Incidents open or acknowledged, not resolved.",
                                value=self.open_incidents)
        yield from self.selfwatch.metrics()
        flapping = GaugeMetricFamily("netwatch_check_flapping", "1 while a check is flapping.", labels=["check"])
        for cid in self.decider.flapping_checks():
            flapping.add_metric([cid], 1.0)
        yield flapping
