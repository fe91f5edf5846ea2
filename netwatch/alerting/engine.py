"""The paging loop: drives the decider's clock, the escalation sweep, delivery and self-watch.

Results reach the decider through `decide` (called by the result path for every result), reboots
through `polled_reboot` and `trap_reboot`; everything decided goes to `submit`, which records it (one
transaction per decision) and then delivers.
Every TICK_SECONDS the loop reads maintenance windows added by the CLI, lets the decider act on
window ends and held-page deadlines, and escalates and reminds what is due (a write transaction
only then). A separate watch task, which never touches the store, runs self-watch and sends the
pages of decisions the store writer has held longer than MEMORY_AFTER_SECONDS from memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, AbstractSet, Any, Callable, Iterator, Mapping, Sequence

from prometheus_client.core import GaugeMetricFamily, Metric

from netwatch.alerting import incidents, replies
from netwatch.alerting.decide import Change, Decider, Decision, Observed, Page, Release
from netwatch.alerting.selfwatch import SelfWatch, Vitals
from netwatch.alerting.timers import is_due
from netwatch.config.paging import Maintenance
from netwatch.model import Check, Result, State, Transition
from netwatch.notify.outbox import Delivery
from netwatch.store import DB_ERRORS, Store, StoredState, Tx
from netwatch.store.maintenance import active_windows
from netwatch.windows import window

if TYPE_CHECKING:
    from netwatch.config import Config

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
# The tick's reads (the CLI's maintenance windows, the earliest follow-up) change only when the store does; they are
# read again when it did (seen_marker), and at least this often in case a change went unseen.
REREAD_SECONDS = 10.0
# A decision unwritten this long means the store writer is stalled (a normal write takes milliseconds):
# its pages go out from memory rather than wait (docs/operations.md, "When netwatch's own resources fail").
MEMORY_AFTER_SECONDS = 2.0


def memory_pages(decisions: Sequence[Decision]) -> list[tuple[str, float, str, dict[str, Any]]]:
    """The problem pages of unwritten decisions, as open_incident would enqueue them: (channel, since, check, facts)."""
    out = []
    for d in decisions:
        for item in d.items:
            page: Page | None = None
            if isinstance(item, Change) and item.hold_until is None and item.transition.to_state in (
                    State.DOWN, State.DEGRADED):
                page = item.page
            elif isinstance(item, Release):
                page = item.page
            if page is None or page.flapping:
                continue
            facts = {**page.facts, "kind": "problem", "incident": None, "severity": page.severity,
                     "category": page.category, "told": list(dict.fromkeys(page.channels))}
            for channel in dict.fromkeys(page.channels):
                out.append((channel, float(page.facts["since"]), page.check.id, facts))
    return out


class PagingLoop:
    def __init__(self, decider: Decider, store: Store, delivery: Delivery, selfwatch: SelfWatch,
                 config: Callable[[], "Config"], views: Callable[[], Mapping[str, Observed]],
                 submit: Callable[[Decision], None], clock: Callable[[], float],
                 active: Callable[[], bool] = lambda: True,
                 unwritten: Callable[[], tuple[float, Sequence[Decision]]] = lambda: (0.0, ())) -> None:
        self.decider = decider
        self.active = active
        self.store = store
        self.delivery = delivery
        self.selfwatch = selfwatch
        self.config = config
        self.views = views
        self.submit = submit
        self.clock = clock
        self.unwritten = unwritten    # (age of the oldest unwritten row, decisions not yet committed)
        self.open_incidents = 0
        # The tick's last reads, the store's marker before them and when (monotonic): see REREAD_SECONDS.
        self._read: tuple[tuple[Maintenance, ...], tuple[int, float | None]] | None = None
        self._read_marker: tuple[int, int] | None = None
        self._read_at = 0.0

    @classmethod
    def for_config(cls, config: Callable[[], "Config"], store: Store, stored: Mapping[str, StoredState],
                   delivery: Delivery, vitals: Callable[[], Vitals], views: Callable[[], Mapping[str, Observed]],
                   submit: Callable[..., None], unwritten: Callable[[], tuple[float, Sequence[Decision]]],
                   clock: Callable[[], float], active: Callable[[], bool]) -> "PagingLoop":
        """The daemon's paging: its decider starts from the stored states and holds again the pages held when
        netwatch stopped (a restart must not swallow them); in a cluster only the coordinator (`active`) pages."""
        decider = Decider(config(), {cid: s.state for cid, s in stored.items()})
        decider.resume(incidents.held_pages(store), clock())
        return cls(decider, store, delivery, SelfWatch(config, vitals, clock, may_page=active), config, views, submit,
                   clock, active, unwritten)

    def decide(self, check: Check, result: Result, raw: Transition | None) -> Decision:
        return self.decider.on_result(check, result, raw, self.views(), self.clock())

    def quiet_ids(self) -> AbstractSet[str]:
        """The checks whose clean result decides nothing while they show up (Decider.quiet_ids)."""
        return self.decider.quiet_ids()

    def deciding(self) -> Callable[[Check, Result, Transition | None], Decision]:
        """`decide` for the results of one batch, handed over in one loop step: one view and one moment for all."""
        on_result, views, now = self.decider.on_result, self.views(), self.clock()
        return lambda check, result, raw: on_result(check, result, raw, views, now)

    def polled_reboot(self, check: Check, at: float, data: Mapping[str, Any],
                      fence: Callable[[Tx], None] | None = None) -> None:
        """sysUpTime went back between two polls (seen at `at`): page the reboot; the decider pages each once.
        In a cluster it commits under the slot lease it was seen under (`fence`), like the result's decision."""
        self.submit(self.decider.on_polled_reboot(check.target.id, at, data, self.views(), self.clock()), fence)

    def trap_reboot(self, target_id: str, at: float, uptime_seconds: float | None) -> None:
        """A coldStart/warmStart trap; in a cluster only the coordinator pages (every node may hear the trap)."""
        if self.active():
            self.submit(self.decider.on_reboot(target_id, at, uptime_seconds, None, "trap", self.views(), self.clock()))

    async def run(self) -> None:
        delivery = asyncio.create_task(self.delivery.run(), name="outbox")
        heartbeat = asyncio.create_task(self.selfwatch.heartbeat(), name="heartbeat")
        watch = asyncio.create_task(self.watch(), name="selfwatch")
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
            for task in (delivery, heartbeat, sms_replies, watch):
                task.cancel()
            await asyncio.gather(delivery, heartbeat, sms_replies, watch, return_exceptions=True)

    async def watch(self) -> None:
        """Self-watch and pages from memory: never awaits the store, so a locked database cannot hold it."""
        loop = asyncio.get_running_loop()
        while True:
            slept_at = loop.time()
            await asyncio.sleep(TICK_SECONDS)
            self.selfwatch.loop_lag_seconds = max(0.0, loop.time() - slept_at - TICK_SECONDS)
            try:
                self.selfwatch.check(self.clock())
                age, decisions = self.unwritten()
                if age > MEMORY_AFTER_SECONDS:
                    self.delivery.send_from_memory(memory_pages(decisions))
            except Exception:  # noqa: BLE001 - the watch must outlive a bug in one round
                log.exception("self-watch failed")

    async def tick(self) -> None:
        now = self.clock()
        # The windows and whether any escalation or reminder is due, in one hop when the store changed since the
        # last read (or REREAD_SECONDS passed): an idle tick costs no thread hop. The sweep (its own hop, a write)
        # only when a follow-up is due.
        windows, (count, next_at) = await self._reads_now()
        decision = self.decider.on_clock(now, self.views(), windows)
        if decision:
            self.submit(decision)
        if not is_due(next_at, now):
            self.open_incidents = count
            return
        self._read = None   # the sweep writes, or finds the follow-up gone (acknowledged): read again next tick
        config = self.config()
        # A check with a decision not yet written (e.g. resolved at a maintenance window's end, this very tick)
        # waits: its stored incident is about to change, and reminding it now would be a false REMINDER.
        undecided = {t.check_id for d in self.unwritten()[1] for t in d.transitions}
        self.open_incidents, swept = await asyncio.to_thread(incidents.sweep, self.store, now,
                                                             self.decider.quiet_checks() | undecided, config)
        if swept:
            self.delivery.wake.set()

    async def _reads_now(self) -> tuple[tuple[Maintenance, ...], tuple[int, float | None]]:
        """The tick's reads: the last ones while the store is seen unchanged, else read again in a worker thread."""
        marker = self.store.db.seen_marker()   # before the read: a commit during it moves the marker again
        at = time.monotonic()
        if self._read is None or marker != self._read_marker or at - self._read_at >= REREAD_SECONDS:
            self._read = await asyncio.to_thread(self._reads)
            self._read_marker, self._read_at = marker, at
        return self._read

    def _reads(self) -> tuple[tuple[Maintenance, ...], tuple[int, float | None]]:
        """In a worker thread: the CLI's maintenance windows, and (incidents open, earliest follow-up time)."""
        return self._windows(), incidents.clock_read(self.store)

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
