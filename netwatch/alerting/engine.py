"""The paging loop: drives the decider's clock, the escalation sweep, delivery and self-watch.

Results reach the decider through `decide` (called by the daemon for every result); everything
decided goes to `submit`, which records it (one transaction per decision) and then delivers.
Every TICK_SECONDS the loop reads maintenance windows added by the CLI, lets the decider act on
window ends and held-page deadlines, and escalates and reminds what is due (a write transaction
only then).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Callable, Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily, Metric

from netwatch.alerting import incidents, replies
from netwatch.alerting.decide import Decider, Decision, Observed
from netwatch.alerting.selfwatch import SelfWatch
from netwatch.config.paging import Maintenance
from netwatch.model import Check, Result, Transition
from netwatch.notify.outbox import Delivery
from netwatch.store import DB_ERRORS, Store
from netwatch.store.maintenance import active_windows
from netwatch.windows import window

if TYPE_CHECKING:
    from netwatch.config import Config

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5


class PagingLoop:
    def __init__(self, decider: Decider, store: Store, delivery: Delivery, selfwatch: SelfWatch,
                 config: Callable[[], "Config"], views: Callable[[], Mapping[str, Observed]],
                 submit: Callable[[Decision], None], clock: Callable[[], float],
                 active: Callable[[], bool] = lambda: True) -> None:
        self.decider = decider
        self.active = active
        self.store = store
        self.delivery = delivery
        self.selfwatch = selfwatch
        self.config = config
        self.views = views
        self.submit = submit
        self.clock = clock
        self.open_incidents = 0

    def decide(self, check: Check, result: Result, raw: Transition | None) -> Decision:
        return self.decider.on_result(check, result, raw, self.views(), self.clock())

    async def run(self) -> None:
        delivery = asyncio.create_task(self.delivery.run(), name="outbox")
        heartbeat = asyncio.create_task(self.selfwatch.heartbeat(), name="heartbeat")
        sms_replies = asyncio.create_task(replies.run(self.store, lambda: self.config().paging, self.delivery.wake.set,
                                                      self.clock), name="sms-replies")
        try:
            while True:
                await asyncio.sleep(TICK_SECONDS)
                if not self.active():
                    continue      # cluster mode: only the coordinator sweeps escalations and reminders
                try:
                    await self.tick()
                except (*DB_ERRORS, OSError) as exc:
                    log.error("paging tick failed: %s", exc)
                except Exception:  # noqa: BLE001 - paging must outlive a bug in one tick
                    log.exception("paging tick failed")
        finally:
            for task in (delivery, heartbeat, sms_replies):
                task.cancel()
            await asyncio.gather(delivery, heartbeat, sms_replies, return_exceptions=True)

    async def tick(self) -> None:
        now = self.clock()
        windows = await asyncio.to_thread(self._windows)
        decision = self.decider.on_clock(now, self.views(), windows)
        if decision:
            self.submit(decision)
        config = self.config()
        self.open_incidents, swept = await asyncio.to_thread(incidents.sweep, self.store, now,
                                                             self.decider.quiet_checks(), config)
        if swept:
            self.delivery.wake.set()
        self.selfwatch.check(now)

    def _windows(self) -> tuple[Maintenance, ...]:
        """Windows added by `netwatch maintenance add` (the config's own are in config.paging)."""
        tz = self.config().site.tz
        out = []
        for r in active_windows(self.store.db):
            try:
                w = window(r.start, r.end, tz, r.repeat, r.until)
            except ValueError:
                continue
            out.append(Maintenance(f"db-{r.id}", w, tuple(json.loads(r.targets)), tuple(json.loads(r.zones)),
                                   tuple(json.loads(r.checks)), r.reason))
        return tuple(out)

    def metrics(self) -> Iterator[Metric]:
        yield from self.delivery.metrics()
        yield GaugeMetricFamily("netwatch_incidents_open", "Incidents open or acknowledged, not resolved.",
                                value=self.open_incidents)
        yield from self.selfwatch.metrics()
        flapping = GaugeMetricFamily("netwatch_check_flapping", "1 while a check is flapping.", labels=["check"])
        for cid in self.decider.flapping_checks():
            flapping.add_metric([cid], 1.0)
        yield flapping
