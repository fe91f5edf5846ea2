"""Runs every check on its interval: spread starts, bounded concurrency per kind, measured lag."""

from __future__ import annotations

import asyncio
import bisect
import heapq
import itertools
import logging
import math
import time
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from netwatch.clock import RUN_CLOCK
from netwatch.model import Check, Result, build_result
from netwatch.probes import PROBES, ProbeKind
from netwatch.probes.contract import BatchRun
from netwatch.runner import ProbeContexts, run_check

log = logging.getLogger(__name__)

LAG_BOUNDS_SECONDS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A check whose last run took at least this share of its timeout (a blackholed port: every connect waits
# out the timeout) runs in its kind's slow lane, which holds at most SLOW_LANE_RATIO of the kind's pool,
# so thousands of hanging checks cannot starve the quick ones queued behind them (issue 13).
SLOW_RUN_RATIO = 0.5
SLOW_LANE_RATIO = 0.5


def slow_lane_size(concurrency: int) -> int:
    return max(1, int(concurrency * SLOW_LANE_RATIO))


class PriorityLane:
    """A semaphore whose waiters go in order of priority (lowest first), then of arrival.

    The slow lane orders by how many slow runs in a row a check has had: a check that was slow once
    (a healthy one on a busy moment) runs before the thousands that hang every time, so it is back in the
    quick lane within one slot's turn instead of queueing behind all of them.
    """

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self.arrivals = itertools.count()

    async def acquire(self, priority: int) -> None:
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self.waiters, (priority, next(self.arrivals), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()   # the slot was handed over just as the waiter was cancelled: pass it on
            raise

    def release(self) -> None:
        while self.waiters:
            fut = heapq.heappop(self.waiters)[2]
            if not fut.done():
                fut.set_result(None)
                return
        self.free += 1


@dataclass
class LagStats:
    """A cumulative histogram of scheduling lag per kind, for /metrics."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(LAG_BOUNDS_SECONDS) + 1))
    count: int = 0
    total_seconds: float = 0.0
    skipped: int = 0

    def observe(self, lag_seconds: float, runs: int = 1) -> None:
        """`runs` runs started `lag_seconds` late (a batch's checks share one lag)."""
        self.buckets[bisect.bisect_left(LAG_BOUNDS_SECONDS, lag_seconds)] += runs
        self.count += runs
        self.total_seconds += lag_seconds * runs


def spread_offset(check_id: str, interval_seconds: float) -> float:
    """A stable start offset within the interval, so thousands of checks do not fire together."""
    return (zlib.crc32(check_id.encode()) / 2**32) * interval_seconds


def first_due(now: float, check_id: str, interval_seconds: float, grid_seconds: float = 0.0) -> float:
    """When a new check first runs: `now` plus its spread offset, or, on a grid, at the next moment of
    its slot (offset within the interval, rounded down to the grid) on the clock's own phase, so
    checks of one slot fall due at the same instant whenever each of them was started."""
    offset = spread_offset(check_id, interval_seconds)
    if grid_seconds <= 0 or grid_seconds >= interval_seconds:
        return now + offset
    offset = math.floor(offset / grid_seconds) * grid_seconds
    return math.ceil((now - offset) / interval_seconds) * interval_seconds + offset


class _Slot:
    """Checks of one batching kind due at the same moments (same interval and grid offset): one timer."""

    __slots__ = ("key", "kind", "interval_seconds", "due", "checks", "handle", "planned")

    def __init__(self, key: tuple[str, float, float], kind: str, interval_seconds: float, due: float) -> None:
        self.key = key
        self.kind = kind
        self.interval_seconds = interval_seconds
        self.due = due
        self.checks: dict[str, Check] = {}
        self.handle: asyncio.TimerHandle | None = None
        # How many checks the batch starts with and its kind's plan of them: made again only when the slot's
        # checks change.
        self.planned: tuple[int, object] | None = None


class Scheduler:
    def __init__(self, on_result: Callable[[Check, Result], None],
                 probes: Mapping[str, ProbeKind] = PROBES,
                 clock: Callable[[], float] = time.monotonic, contexts: ProbeContexts | None = None,
                 allowed: Callable[[Check], bool] | None = None,
                 on_skipped: Callable[[Check, int], None] = lambda check, runs: None,
                 wall: Callable[[], float] = RUN_CLOCK,
                 on_batch: Callable[[list[tuple[Check, Result]]], None] | None = None) -> None:
        self.on_result = on_result
        # The results of a batch that finished together, in one call (None: on_result for each).
        self.on_batch = on_batch
        # Cluster mode: asked right before each probe (lease held, not fenced); None runs everything.
        self.allowed = allowed
        self.on_skipped = on_skipped   # told of every skip, so the check shows it could not run
        self.contexts = contexts if contexts is not None else ProbeContexts()
        self.probes = probes
        self.clock = clock
        self.wall = wall   # dates results (netwatch.clock: monotonic within a run)
        self.tasks: dict[str, tuple[Check, asyncio.Task[None]]] = {}
        self.limits = {kind: asyncio.Semaphore(p.concurrency) for kind, p in probes.items()}
        # A slow check takes a slow-lane slot first, then a pool slot: slow checks hold at most the lane's
        # share of the pool, and while they queue for the lane they hold no pool slot at all.
        self.slow_lanes = {kind: PriorityLane(slow_lane_size(p.concurrency)) for kind, p in probes.items()}
        self.slow: dict[str, int] = {}   # check id -> slow runs in a row (absent: its last run was quick)
        self.lag = {kind: LagStats() for kind in probes}
        self.in_flight = {kind: 0 for kind in probes}
        self.triggered: dict[str, asyncio.Task[None]] = {}
        # Checks of kinds that run in batches (ProbeKind.batching): no task each, one timer per slot.
        self.batched: dict[str, tuple[Check, _Slot]] = {}
        self.slots: dict[tuple[str, float, float], _Slot] = {}
        self.stopped = False

    def apply(self, checks: Iterable[Check]) -> None:
        """Start new checks, stop removed ones, restart changed ones; unchanged ones keep their rhythm."""
        wanted = {c.id: c for c in checks}
        self.contexts.retain(wanted)
        for check_id, (check, task) in list(self.tasks.items()):
            if wanted.get(check_id) != check:
                task.cancel()
                del self.tasks[check_id]
                self.slow.pop(check_id, None)
        for check_id, (check, slot) in list(self.batched.items()):
            if wanted.get(check_id) != check:
                self._unslot(check_id, slot)
        for check_id, check in wanted.items():
            if check_id in self.tasks or check_id in self.batched:
                continue
            batching = self.probes[check.kind].batching
            if batching is not None and batching.accepts(check):
                self._slot(check)
            else:
                task = asyncio.create_task(self._loop(check), name=f"check:{check_id}")
                self.tasks[check_id] = (check, task)

    def _slot(self, check: Check) -> None:
        interval = check.interval_seconds
        grid = self.probes[check.kind].spread_grid_seconds
        now = self.clock()
        due = first_due(now, check.id, interval, grid)
        # Checks of one slot share their due moments: keyed by the phase within the interval.
        key = (check.kind, interval, round((due % interval) if grid > 0 and grid < interval else due, 6))
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = _Slot(key, check.kind, interval, due)
            slot.handle = asyncio.get_running_loop().call_later(max(0.0, due - now), self._fire, slot)
        slot.checks[check.id] = check
        slot.planned = None
        self.batched[check.id] = (check, slot)

    def _unslot(self, check_id: str, slot: _Slot) -> None:
        del self.batched[check_id]
        slot.checks.pop(check_id, None)
        slot.planned = None
        if not slot.checks:
            if slot.handle is not None:
                slot.handle.cancel()
            if self.slots.get(slot.key) is slot:
                del self.slots[slot.key]

    def _fire(self, slot: _Slot) -> None:
        """A slot fell due: its checks go out as one batch; the timer is re-armed for the next interval."""
        kind_name = slot.kind
        kind = self.probes[kind_name]
        now = self.clock()
        lag = max(0.0, now - slot.due)
        batching = kind.batching
        assert batching is not None
        for_check = self.contexts.for_check
        try:
            if self.allowed is not None:   # cluster mode: which checks this node runs may change at any moment
                runs = [(c, for_check(c)) for c in slot.checks.values() if self.allowed(c)]
                planned = (len(runs), batching.plan(runs)) if runs else (0, None)
            else:
                planned = slot.planned
                if planned is None:
                    runs = [(c, for_check(c)) for c in slot.checks.values()]
                    planned = slot.planned = (len(runs), batching.plan(runs))
        except Exception:  # noqa: BLE001 - a bug in one batch must not stop the slot's rhythm
            log.exception("planning a batch of %d %s checks failed", len(slot.checks), kind_name)
            planned = (0, None)
        size, plan = planned
        if size:
            self.lag[kind_name].observe(lag, size)
            self.in_flight[kind_name] += size
            try:
                batching.start(plan, lambda done: self._delivered(kind_name, lag, done), self.wall())
            except Exception:  # noqa: BLE001 - a bug in one batch must not stop the slot's rhythm
                log.exception("starting a batch of %d %s checks failed", size, kind_name)
                self.in_flight[kind_name] -= size
        interval = slot.interval_seconds
        slot.due += interval
        behind = self.clock() - slot.due
        if behind > 0:
            # Fell a whole interval behind: skip the missed slots instead of bursting to catch up.
            missed = math.ceil(behind / interval)
            self.lag[kind_name].skipped += missed * len(slot.checks)
            for check in slot.checks.values():
                self.on_skipped(check, missed)
            slot.due += missed * interval
        slot.handle = asyncio.get_running_loop().call_later(max(0.0, slot.due - self.clock()), self._fire, slot)

    def _delivered(self, kind: str, lag: float, runs: list[BatchRun]) -> None:
        """Finished runs of a batch: each becomes a Result for on_result, unless its check went away."""
        self.in_flight[kind] -= len(runs)
        if self.stopped:
            return
        batched = self.batched
        results: list[tuple[Check, Result]] = []
        for check, outcome, started_at, duration in runs:
            entry = batched.get(check.id)
            if entry is None or entry[0] is not check:
                continue   # removed or changed by a reload while its echoes were out: as a cancelled task
            results.append((check, build_result(check.id, check.target.id, kind, started_at, duration, outcome, lag)))
        if self.on_batch is not None:
            try:
                self.on_batch(results)
            except Exception:  # noqa: BLE001 - a bug in result handling must not stop the slot's rhythm
                log.exception("handling the results of a batch of %d %s checks failed", len(results), kind)
            return
        on_result = self.on_result
        for check, result in results:
            try:
                on_result(check, result)
            except Exception:  # noqa: BLE001 - a bug in result handling must not stop the others
                log.exception("handling the result of %s failed", check.id)

    async def stop(self) -> None:
        self.stopped = True
        for slot in self.slots.values():
            if slot.handle is not None:
                slot.handle.cancel()
        self.slots.clear()
        self.batched.clear()
        tasks = [t for _, t in self.tasks.values()] + list(self.triggered.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()

    def trigger(self, check_id: str) -> bool:
        """Run a check now, outside its rhythm (e.g. a trap said its link went down)."""
        entry = self.tasks.get(check_id) or self.batched.get(check_id)
        if entry is None or check_id in self.triggered:
            return False   # one extra run at a time: a trap storm must not pile up polls of one device
        task = asyncio.create_task(self._run_once(entry[0], self.clock()), name=f"trigger:{check_id}")
        self.triggered[check_id] = task   # also keeps the task referenced until it ends
        task.add_done_callback(lambda _: self.triggered.pop(check_id, None))
        return True

    async def _loop(self, check: Check) -> None:
        interval = check.interval_seconds
        due = first_due(self.clock(), check.id, interval, self.probes[check.kind].spread_grid_seconds)
        while True:
            delay = due - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._run_once(check, due)
            due += interval
            behind = self.clock() - due
            if behind > 0:
                # Fell a whole interval behind: skip the missed slots instead of bursting to catch up.
                missed = math.ceil(behind / interval)
                self.lag[check.kind].skipped += missed
                self.on_skipped(check, missed)
                due += missed * interval

    async def _run_once(self, check: Check, due: float) -> None:
        kind = self.probes[check.kind]
        if self.allowed is not None and not self.allowed(check):
            return
        streak = self.slow.get(check.id, 0)
        lane = self.slow_lanes[check.kind] if streak else None
        if lane is not None:
            await lane.acquire(streak)
        try:
            async with self.limits[check.kind]:
                lag = max(0.0, self.clock() - due)
                self.lag[check.kind].observe(lag)
                self.in_flight[check.kind] += 1
                try:
                    result = await run_check(check, kind, lag, self.contexts.for_check(check), self.wall)
                finally:
                    self.in_flight[check.kind] -= 1
        finally:
            if lane is not None:
                lane.release()
        if result.duration_seconds >= SLOW_RUN_RATIO * check.timeout_seconds or result.outcome.error == "timeout":
            self.slow[check.id] = streak + 1
        else:
            self.slow.pop(check.id, None)
        try:
            self.on_result(check, result)
        except Exception:  # noqa: BLE001 - a bug in result handling must not stop this check's loop
            log.exception("handling the result of %s failed", check.id)
