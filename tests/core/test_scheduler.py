"""The scheduler against real loopback servers: rhythm, spread, isolation of slow targets."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from netwatch.model import AlertPolicy, Check, Outcome, Result, Target
from netwatch.probes import ProbeKind
from netwatch.runner import run_check
from netwatch.scheduler import Scheduler, spread_offset


@dataclass(frozen=True)
class SleepSettings:
    seconds: float


async def sleeping_probe(target: Target, settings: SleepSettings, timeout_seconds: float,
                         context: object = None) -> Outcome:
    await asyncio.sleep(settings.seconds)
    return Outcome(ok=True)


async def raising_probe(target: Target, settings: SleepSettings, timeout_seconds: float,
                        context: object = None) -> Outcome:
    raise RuntimeError("bug in a probe")


KINDS = {
    "sleep": ProbeKind(kind="sleep", settings=SleepSettings, measurements={}, probe=sleeping_probe, concurrency=1000),
    "boom": ProbeKind(kind="boom", settings=SleepSettings, measurements={}, probe=raising_probe, concurrency=10),
}


def check(cid: str, interval: float, seconds: float = 0.0, kind: str = "sleep", timeout: float = 0.5) -> Check:
    return Check(cid, Target(cid.split("/")[0], "127.0.0.1"), kind, interval, timeout, AlertPolicy(),
                 SleepSettings(seconds))


async def test_each_check_runs_once_per_interval_and_hung_ones_do_not_delay_others() -> None:
    results: list[Result] = []
    sched = Scheduler(lambda c, r: results.append(r), KINDS)
    fast = [check(f"fast{i}/sleep", 0.2) for i in range(50)]
    hung = [check(f"hung{i}/sleep", 0.2, seconds=60.0, timeout=0.15) for i in range(20)]
    sched.apply(fast + hung)
    await asyncio.sleep(2.05)
    await sched.stop()
    per_check: dict[str, int] = {}
    for r in results:
        per_check[r.check_id] = per_check.get(r.check_id, 0) + 1
    for c in fast:
        assert 8 <= per_check[c.id] <= 11, (c.id, per_check[c.id])
    hung_results = [r for r in results if r.check_id.startswith("hung")]
    assert hung_results and all(r.outcome.error == "timeout" for r in hung_results)
    fast_lags = sorted(r.lag_seconds for r in results if r.check_id.startswith("fast"))
    # A fast check queued behind a hung one would wait its 0.15 s timeout at least.
    assert fast_lags[int(len(fast_lags) * 0.95)] < 0.1


async def test_unexpected_exception_is_a_failed_outcome() -> None:
    r = await run_check(check("x/boom", 1.0, kind="boom"), KINDS["boom"])
    assert not r.outcome.ok and r.outcome.error == "internal" and "RuntimeError" in r.outcome.detail


def test_spread_is_stable_and_covers_the_interval() -> None:
    offsets = [spread_offset(f"t{i}/icmp", 10.0) for i in range(1000)]
    assert offsets == [spread_offset(f"t{i}/icmp", 10.0) for i in range(1000)]
    assert all(0 <= o < 10 for o in offsets)
    per_second = [sum(1 for o in offsets if s <= o < s + 1) for s in range(10)]
    assert min(per_second) > 60 and max(per_second) < 140


async def test_apply_keeps_unchanged_checks_and_stops_removed_ones() -> None:
    sched = Scheduler(lambda c, r: None, KINDS)
    a, b = check("a/sleep", 1.0), check("b/sleep", 1.0)
    sched.apply([a, b])
    task_a = sched.tasks["a/sleep"][1]
    sched.apply([a, check("b/sleep", 2.0)])
    assert sched.tasks["a/sleep"][1] is task_a and sched.tasks["b/sleep"][0].interval_seconds == 2.0
    sched.apply([a])
    assert set(sched.tasks) == {"a/sleep"}
    await sched.stop()


async def test_lag_is_recorded() -> None:
    sched = Scheduler(lambda c, r: None, KINDS, clock=time.monotonic)
    sched.apply([check("a/sleep", 0.1)])
    await asyncio.sleep(0.35)
    await sched.stop()
    assert sched.lag["sleep"].count >= 2


async def test_skipped_runs_are_shown_per_check_not_as_unknown_alone() -> None:
    from netwatch.live import LiveView
    from netwatch.web import wording

    kinds = {"sleep": ProbeKind(kind="sleep", settings=SleepSettings, measurements={}, probe=sleeping_probe,
                                concurrency=1)}
    checks = [check(f"slow{i}/sleep", 0.1, seconds=0.3, timeout=0.5) for i in range(4)]
    live = LiveView(checks)
    sched = Scheduler(lambda c, r: live.update(c, r), kinds,
                      on_skipped=lambda c, runs: live.note_skipped(c.id, runs))
    sched.apply(checks)
    await asyncio.sleep(2.0)
    await sched.stop()
    views = [live.views[c.id] for c in checks]
    assert sum(v.skipped_runs for v in views) == sched.lag["sleep"].skipped > 0
    assert all(v.skipped_runs > 0 for v in views)     # every check of the saturated pool knows it was skipped
    assert "quá tải" in (wording.cause("skipped") or {}).get("vi", "")


def test_first_due_on_a_grid_puts_a_slot_at_one_instant() -> None:
    from netwatch.scheduler import first_due, spread_offset

    ids = [f"t{i}/icmp" for i in range(2000)]
    # Started at different moments, checks of one slot still fall due at the same instant.
    dues = {cid: first_due(1000.0 + (i % 7) * 0.0013, cid, 10.0, 0.25) for i, cid in enumerate(ids)}
    for i, cid in enumerate(ids):
        now = 1000.0 + (i % 7) * 0.0013
        assert now <= dues[cid] < now + 10.0
        slot = int(spread_offset(cid, 10.0) / 0.25)
        assert abs((dues[cid] % 10.0) - slot * 0.25) < 1e-6 or abs((dues[cid] % 10.0) - slot * 0.25 - 10.0) < 1e-6
    assert len({round(d, 9) for d in dues.values()}) <= 40 + 1, "at most one instant per slot (40 per 10 s)"
    # Without a grid, starts stay spread over the whole interval as before.
    assert first_due(5.0, "a", 10.0) == 5.0 + spread_offset("a", 10.0)
    assert first_due(5.0, "a", 10.0, 20.0) == 5.0 + spread_offset("a", 10.0)


async def test_hanging_checks_hold_at_most_the_slow_lane_and_quick_ones_keep_their_rhythm() -> None:
    """Issue 13: more hanging checks than the pool has slots must not starve the quick ones."""
    kinds = {"sleep": ProbeKind(kind="sleep", settings=SleepSettings, measurements={}, probe=sleeping_probe,
                                concurrency=8)}
    results: list[Result] = []
    sched = Scheduler(lambda c, r: results.append(r), kinds)
    hung = [check(f"hung{i}/sleep", 0.5, seconds=0.4, timeout=0.4) for i in range(40)]
    quick = [check(f"quick{i}/sleep", 0.5) for i in range(4)]
    sched.apply(hung + quick)
    peak_slow = 0
    started = time.monotonic()
    wall_started = time.time()
    # Start-up: until each hanging check has been slow once, it takes a slot of the whole pool
    # (40 x 0.4 s over 8 slots).
    startup = 0.5 + 40 * 0.4 / 8 + 0.5
    while time.monotonic() - started < startup + 2.0:
        await asyncio.sleep(0.02)
        if time.monotonic() - started > startup:
            peak_slow = max(peak_slow, 4 - sched.slow_lanes["sleep"].free)
    await sched.stop()
    assert sched.slow_lanes["sleep"].free >= 0 and peak_slow <= 4
    late = [r for r in results if r.check_id.startswith("quick") and r.started_at - r.lag_seconds - wall_started > startup]
    assert len(late) >= 4 * 3   # each quick check ran on (about) every interval after start-up
    assert max(r.lag_seconds for r in late) < 0.15   # a quick check queued behind a hanging one waits up to 0.4 s
    assert sched.lag["sleep"].skipped > 0   # the hanging ones could not all run: counted, never silent


async def test_priority_lane_serves_the_fewest_slow_runs_first_and_survives_cancellation() -> None:
    from netwatch.scheduler import PriorityLane

    lane = PriorityLane(1)
    await lane.acquire(0)
    order: list[str] = []

    async def take(name: str, priority: int) -> None:
        await lane.acquire(priority)
        order.append(name)
        lane.release()

    waiting = [asyncio.create_task(take("hangs-often", 9)), asyncio.create_task(take("cancelled", 1)),
               asyncio.create_task(take("slow-once", 1))]
    await asyncio.sleep(0.01)
    waiting[1].cancel()
    await asyncio.sleep(0.01)
    lane.release()
    await asyncio.gather(waiting[0], waiting[2])
    assert order == ["slow-once", "hangs-often"] and lane.free == 1
