"""The collector's pause account (netwatch.heap) and its /metrics families."""

from __future__ import annotations

import gc

from netwatch.heap import Pauses
from netwatch.web.metrics import gc_metrics


def test_every_collection_is_counted_and_timed_by_generation() -> None:
    pauses = Pauses()
    gc.callbacks.append(pauses)
    try:
        junk = [[] for _ in range(100_000)]
        for item in junk:
            item.append(item)   # cycles only the collector frees: the full collection has work to do
        del junk, item
        gc.collect(2)
        gc.collect(0)
    finally:
        gc.callbacks.remove(pauses)
    assert pauses.collections[2] >= 1 and pauses.collections[0] >= 1
    assert pauses.seconds[2] > 0 and 0 < pauses.longest_seconds[2] <= pauses.seconds[2]
    samples = {(m.name, s.name, s.labels["generation"]): s.value for m in gc_metrics(pauses) for s in m.samples}
    assert samples[("netwatch_gc_collections", "netwatch_gc_collections_total", "2")] == pauses.collections[2]
    assert samples[("netwatch_gc_pause_seconds", "netwatch_gc_pause_seconds_total", "2")] == pauses.seconds[2]
    assert 0 < samples[("netwatch_gc_cpu_seconds", "netwatch_gc_cpu_seconds_total", "2")] == pauses.cpu_seconds[2]
    assert samples[("netwatch_gc_longest_pause_seconds", "netwatch_gc_longest_pause_seconds", "0")] == \
        pauses.longest_seconds[0]
