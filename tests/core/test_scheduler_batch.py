"""The scheduler's batch path: checks of a batching kind due together run as one batch, no task each."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import pytest

from netwatch.fields import Duration
from netwatch.model import AlertPolicy, Check, Outcome, Result, Target
from netwatch.probes import PROBES, ProbeContext, ProbeKind
from netwatch.probes import icmp
from netwatch.probes.contract import BatchRun, Batching
from netwatch.net import icmp as pinger_module
from netwatch.scheduler import Scheduler

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root")


@dataclass(frozen=True)
class EchoSettings:
    batch: bool = True
    fail: bool = False


async def single_probe(target: Target, settings: EchoSettings, timeout_seconds: float,
                       context: object = None) -> Outcome:
    return Outcome(ok=True, detail="single")


class Recorder:
    """A batching kind without sockets: records each batch and answers it a little later."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def start(self, runs: Sequence[tuple[Check, ProbeContext]], deliver: Callable[[list[BatchRun]], None],
              started: float) -> None:
        self.batches.append([c.id for c, _ in runs])
        answered = [(c, Outcome(ok=not c.settings.fail, error="timeout" if c.settings.fail else None,  # type: ignore[attr-defined]
                                detail="batch"), started, 0.01) for c, _ in runs]
        asyncio.get_running_loop().call_later(0.02, deliver, answered)


def kinds(rec: Recorder, grid: float = 0.25) -> dict[str, ProbeKind]:
    return {"echo": ProbeKind(kind="echo", settings=EchoSettings, measurements={}, probe=single_probe,
                              spread_grid_seconds=grid,
                              batching=Batching(accepts=lambda c: c.settings.batch, start=rec.start))}  # type: ignore[attr-defined]


def check(cid: str, interval: float, batch: bool = True, fail: bool = False) -> Check:
    return Check(cid, Target(cid.split("/")[0], "127.0.0.1"), "echo", interval, 1.0, AlertPolicy(),  # example
                 EchoSettings(batch, fail))


async def test_checks_of_one_slot_run_as_one_batch_once_per_interval() -> None:
    rec = Recorder()
    results: list[Result] = []
    sched = Scheduler(lambda c, r: results.append(r), kinds(rec, grid=0.5))
    checks = [check(f"t{i}/echo", 1.0) for i in range(200)]
    sched.apply(checks)
    assert not sched.tasks, "no task per check on the batch path"
    assert len(sched.slots) <= 2, "a 1 s interval on a 0.5 s grid has two slots"
    await asyncio.sleep(3.05)
    await sched.stop()
    per_check: dict[str, int] = {}
    for r in results:
        per_check[r.check_id] = per_check.get(r.check_id, 0) + 1
        assert r.kind == "echo" and r.outcome.detail == "batch" and r.target_id == r.check_id.split("/")[0]
    assert all(2 <= per_check.get(c.id, 0) <= 4 for c in checks), per_check
    assert len(rec.batches) <= 2 * 4 and sum(len(b) for b in rec.batches) == len(results) + sched.in_flight["echo"]
    assert sched.lag["echo"].count == sum(len(b) for b in rec.batches)
    assert max(r.lag_seconds for r in results) < 0.1


async def test_batch_runs_are_dated_by_the_schedulers_run_clock() -> None:
    # Like run_check's results: a batch is dated by the injected clock (netwatch.clock, monotonic
    # within a run), never by time.time(), so a wall-clock step cannot reorder an outage.
    rec = Recorder()
    results: list[Result] = []
    ticks = iter(range(1_000_000))
    sched = Scheduler(lambda c, r: results.append(r), kinds(rec, grid=0.0), wall=lambda: 5000.0 + next(ticks))
    sched.apply([check("a/echo", 0.2)])
    await asyncio.sleep(0.5)
    await sched.stop()
    assert results and all(5000.0 <= r.started_at < 6000.0 for r in results), [r.started_at for r in results]


async def test_removed_and_changed_checks_stop_and_in_flight_runs_of_them_are_dropped() -> None:
    rec = Recorder()
    results: list[Result] = []
    sched = Scheduler(lambda c, r: results.append(r), kinds(rec, grid=0.0))
    a, b = check("a/echo", 0.2), check("b/echo", 0.2)
    sched.apply([a, b])
    await asyncio.sleep(0.5)
    sched.apply([a])                   # b removed: nothing of it is delivered any more
    assert set(sched.batched) == {"a/echo"}
    removed_at = len([r for r in results if r.check_id == "b/echo"])
    await asyncio.sleep(0.5)
    assert len([r for r in results if r.check_id == "b/echo"]) == removed_at
    changed = check("a/echo", 0.2, fail=True)
    sched.apply([changed])             # changed settings: the old one's runs are dropped, the new one runs
    await asyncio.sleep(0.5)
    await sched.stop()
    assert sched.batched == {} and sched.slots == {}
    after = [r for r in results if r.check_id == "a/echo"][-2:]
    assert all(r.outcome.error == "timeout" for r in after)


async def test_checks_the_kind_does_not_accept_run_as_tasks_and_trigger_reaches_both() -> None:
    rec = Recorder()
    results: list[Result] = []
    sched = Scheduler(lambda c, r: results.append(r), kinds(rec))
    sched.apply([check("a/echo", 60.0), check("n/echo", 60.0, batch=False)])
    assert set(sched.tasks) == {"n/echo"} and set(sched.batched) == {"a/echo"}
    assert sched.trigger("a/echo") and sched.trigger("n/echo")
    await asyncio.sleep(0.1)
    await sched.stop()
    assert {r.check_id for r in results if r.outcome.detail == "single"} == {"a/echo", "n/echo"}


async def test_allowed_filters_batch_members_and_a_stalled_loop_skips_runs() -> None:
    rec = Recorder()
    results: list[Result] = []
    skipped: list[tuple[str, int]] = []
    sched = Scheduler(lambda c, r: results.append(r), kinds(rec, grid=0.0), allowed=lambda c: c.id != "x/echo",
                      on_skipped=lambda c, n: skipped.append((c.id, n)))
    sched.apply([check("x/echo", 0.1), check("y/echo", 0.1)])
    await asyncio.sleep(0.3)
    time.sleep(0.35)                   # the loop stalls over three intervals
    await asyncio.sleep(0.2)
    await sched.stop()
    assert results and {r.check_id for r in results} == {"y/echo"}
    assert {cid for cid, _ in skipped} >= {"y/echo"} and sched.lag["echo"].skipped >= 2


@needs_root
async def test_icmp_checks_run_through_batches_with_honest_rtts() -> None:
    results: list[Result] = []
    sched = Scheduler(lambda c, r: results.append(r), PROBES)
    settings = icmp.Settings(count=3, interval_between=Duration(0.01))
    checks = [Check(f"h{i}/icmp", Target(f"h{i}", f"127.49.{i // 250}.{i % 250 + 1}"), "icmp", 1.0, 1.0,
                    AlertPolicy(), settings) for i in range(500)]
    named = Check("named/icmp", Target("named", "localhost"), "icmp", 1.0, 1.0, AlertPolicy(), settings)
    sched.apply([*checks, named])
    assert set(sched.tasks) == {"named/icmp"} and len(sched.batched) == 500
    await asyncio.sleep(2.6)
    await sched.stop()
    per_check: dict[str, int] = {}
    for r in results:
        per_check[r.check_id] = per_check.get(r.check_id, 0) + 1
    assert all(2 <= per_check.get(c.id, 0) <= 3 for c in checks), sorted(per_check.values())[:5]
    assert per_check.get("named/icmp", 0) >= 2
    batch = [r for r in results if r.check_id != "named/icmp"]
    assert all(r.outcome.ok and r.outcome.measurements["packets_received"] == 3 for r in batch), \
        [r.outcome.detail for r in batch if not r.outcome.ok][:3]
    rtts = sorted(r.outcome.measurements["rtt_avg_seconds"] for r in batch)
    assert rtts[len(rtts) // 2] < 0.0001
    assert all(r.duration_seconds < 0.5 for r in batch)
    await asyncio.sleep(0.05)
    assert pinger_module.pinger().in_flight == 0


@needs_root
async def test_icmp_batch_failure_is_each_checks_failed_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(family: int) -> None:
        raise pinger_module.PingNotPermitted("no ICMP socket here")

    shared = pinger_module.pinger()
    monkeypatch.setattr(shared, "_channels", {})
    monkeypatch.setattr(shared, "_channel", refuse)
    got: list[BatchRun] = []
    settings = icmp.Settings()
    runs = [(Check(f"h{i}/icmp", Target(f"h{i}", f"127.50.0.{i + 1}"), "icmp", 10.0, 2.0, AlertPolicy(), settings),
             ProbeContext()) for i in range(3)]
    icmp.start_batch(runs, got.extend, time.time())
    for _ in range(20):
        await asyncio.sleep(0.01)
        if len(got) == 3:
            break
    assert [(c.id, o.ok, o.error) for c, o, _, _ in got] == [(c.id, False, "not_permitted") for c, _ in runs]


async def test_a_slot_is_planned_once_until_its_checks_change_and_its_results_arrive_as_one_batch() -> None:
    rec = Recorder()
    planned: list[list[str]] = []

    def plan(runs: Sequence[tuple[Check, ProbeContext]]) -> Sequence[tuple[Check, ProbeContext]]:
        planned.append([c.id for c, _ in runs])
        return runs

    kind = {"echo": ProbeKind(kind="echo", settings=EchoSettings, measurements={}, probe=single_probe,
                              spread_grid_seconds=0.0, batching=Batching(accepts=lambda c: True, start=rec.start,
                                                                         plan=plan))}
    handed: list[list[str]] = []
    sched = Scheduler(lambda c, r: pytest.fail("results of a batch go to on_batch"), kind,
                      on_batch=lambda pairs: handed.append([r.check_id for _, r in pairs]))
    a = check("a/echo", 0.2)
    sched.apply([a])
    await asyncio.sleep(0.75)           # three or four runs: one plan
    assert planned == [["a/echo"]] and len(rec.batches) >= 3
    sched.apply([a, check("b/echo", 0.2)])
    await asyncio.sleep(0.75)
    await sched.stop()
    # b has a slot of its own (its own phase) or joined a's: either way each slot was planned once more at most
    assert planned[0] == ["a/echo"] and len(planned) <= 3 and any("b/echo" in p for p in planned)
    assert handed and all(len(h) >= 1 for h in handed)
    assert sum(len(h) for h in handed) == sum(len(b) for b in rec.batches) - sched.in_flight["echo"]
