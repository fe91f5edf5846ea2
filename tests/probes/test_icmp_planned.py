"""The batch path's judging (judge_planned, and judge_run through it) gives what the rules give (judge_rules), run
after run, memory included."""

from __future__ import annotations

import random

import pytest

from netwatch.net.icmp import PingStats
from netwatch.probes import icmp
from netwatch.probes.contract import ProbeContext


def _runs(seed: int, count: int, loss_ratio: float, slow_ratio: float) -> list[PingStats]:
    rng = random.Random(seed)
    out = []
    for _ in range(400):
        rtts = tuple(rng.uniform(0.0001, 0.004) * (30 if rng.random() < slow_ratio else 1)
                     for _ in range(count) if rng.random() >= loss_ratio)
        errors = ("host unreachable (reported by 10.0.0.1)",) if not rtts and rng.random() < 0.3 else ()  # example
        out.append(PingStats("192.0.2.7", count, rtts, errors))  # example address, never contacted
    return out


@pytest.mark.parametrize("count", [1, 2, 3, 5])
@pytest.mark.parametrize("loss_ratio, slow_ratio", [(0.0, 0.0), (0.02, 0.0), (0.3, 0.0), (0.0, 0.2), (0.1, 0.1)])
@pytest.mark.parametrize("settings", [icmp.Settings(), icmp.Settings(warn_rtt=0.02),  # type: ignore[arg-type]
                                      icmp.Settings(max_loss_ratio=0.5, warn_loss_ratio=0.2, loss_window=12)])
def test_planned_judging_matches_the_rules(count: int, loss_ratio: float, slow_ratio: float,
                                           settings: icmp.Settings) -> None:
    settings = icmp.Settings(**{**settings.__dict__, "count": count, "loss_window": max(count, settings.loss_window)
                                if settings.loss_window else None})
    slow_context, run_context = ProbeContext("c"), ProbeContext("r")
    memory = icmp._Window()
    echoes = icmp.loss_window(settings)
    fast_path = 0
    for stats in _runs(count * 1000 + int(loss_ratio * 100) + int(slow_ratio * 10), count, loss_ratio, slow_ratio):
        expected = icmp.judge_rules("192.0.2.7", stats, settings, icmp._V4_EXTRA, slow_context)  # example
        got = icmp.judge_planned("192.0.2.7", stats, settings, icmp._V4_EXTRA, memory, echoes)  # example
        assert got == expected
        assert icmp.judge_run("192.0.2.7", stats, settings, icmp._V4_EXTRA, run_context) == expected  # example
        assert list(got.measurements) == list(expected.measurements)   # the same order: /metrics writes in it
        for slow in (slow_context.memory["icmp_runs"], run_context.memory["icmp_runs"]):
            assert (memory.sent, memory.received, memory.loss_degraded, memory.clear_echoes) == (
                slow.sent, slow.received, slow.loss_degraded, slow.clear_echoes)
        fast_path += got.ok and got.degraded is None
    if not loss_ratio:
        assert fast_path > 0   # the common case was exercised, not only the rules' way
