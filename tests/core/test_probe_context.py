"""The probe contract and the context the scheduler hands each run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from netwatch.model import AlertPolicy, Check, Outcome, Result, Target
from netwatch.probes import PROBES, ProbeContext, ProbeKind
from netwatch.scheduler import Scheduler


@dataclass(frozen=True)
class Counting:
    pass


async def counting_probe(target: Target, settings: Counting, timeout_seconds: float,
                         context: ProbeContext | None = None) -> Outcome:
    assert context is not None
    runs = int(context.memory.get("runs", 0)) + 1   # type: ignore[call-overload]
    context.memory["runs"] = runs
    return Outcome(ok=True, measurements={"runs": float(runs)})


KINDS = {"count": ProbeKind(kind="count", settings=Counting, measurements={"runs": "Runs so far."},
                            probe=counting_probe)}


def check(cid: str) -> Check:
    return Check(cid, Target(cid.split("/")[0], "127.0.0.1"), "count", 0.05, 1.0, AlertPolicy(), Counting())


def test_a_misspelt_contract_field_is_an_error() -> None:
    with pytest.raises(TypeError):
        ProbeKind(kind="x", settings=Counting, measurements={}, probe=counting_probe, concurency=4)  # type: ignore[call-arg]


def test_every_registered_kind_declares_its_contract() -> None:
    for kind, contract in PROBES.items():
        assert contract.kind == kind and contract.settings is not None and contract.probe is not None


async def test_memory_is_per_check_and_dropped_when_the_check_is_removed() -> None:
    results: list[Result] = []
    sched = Scheduler(lambda c, r: results.append(r), KINDS)
    a, b = check("a/count"), check("b/count")
    sched.apply([a, b])
    await asyncio.sleep(0.3)
    runs = {r.check_id: r.outcome.measurements["runs"] for r in results}
    assert runs["a/count"] >= 3 and runs["b/count"] >= 3     # each check counts its own runs
    sched.apply([b])
    assert set(sched.contexts.contexts) == {"b/count"}        # a's memory went with it
    results.clear()
    sched.apply([a, b])                                       # a comes back: it starts from nothing
    await asyncio.sleep(0.12)
    first_a = min(r.outcome.measurements["runs"] for r in results if r.check_id == "a/count")
    assert first_a == 1.0
    await sched.stop()
