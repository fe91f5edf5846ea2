"""The daemon's garbage-collector policy: the long-lived heap is frozen once started, young collections are rarer."""

from __future__ import annotations

import gc
import time
from typing import Any

# CPython's default (700, 10, 10) runs a young collection every 700 allocations and a full one every
# 100 of those; with tens of thousands of checks the full ones rescan the whole configuration, live
# view and probe memory each time. Measured (bench/result_cost_bench.py, 5,000 icmp checks): ~1.3 s
# of collector CPU in 75 s with the defaults, ~0.1 s after start with these and a frozen start-up heap.
YOUNG_THRESHOLD = 20_000
# A middle-generation collection scans what every young collection since the last one kept: at 50,000
# checks that is mostly the per-result objects (Result, Outcome, its measurements, the check's state),
# which live one interval. After 20 young collections it cost ~420 ms of CPU (an event-loop stall of
# 0.4-2.5 s; bench/scale_bench.py); after 5, about a quarter. Full collections keep their old cadence
# (every 5 x 80 = 20 x 20 young ones), still gated by CPython's 25 %-of-the-old-heap rule.
MIDDLE_THRESHOLD = 5
OLDEST_THRESHOLD = 80


class Pauses:
    """How long the collector has held the process, per generation: every collection stops the event
    loop, and at 50,000 checks a full one lasts hundreds of ms (the scheduler's lag shows it, this says why)."""

    def __init__(self) -> None:
        self.collections = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.longest_seconds = [0.0, 0.0, 0.0]
        # The collector's own CPU: on a busy machine a pause is longer than its CPU (the process is not running).
        self.cpu_seconds = [0.0, 0.0, 0.0]
        self._started = 0.0
        self._cpu_started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            self._cpu_started = time.thread_time()
            return
        pause = time.perf_counter() - self._started
        generation = min(int(info.get("generation", 2)), 2)
        self.collections[generation] += 1
        self.seconds[generation] += pause
        self.cpu_seconds[generation] += time.thread_time() - self._cpu_started
        if pause > self.longest_seconds[generation]:
            self.longest_seconds[generation] = pause


# The collector is one per process; so is its account (filled only once `settle` ran, i.e. in `netwatch run`).
PAUSES = Pauses()


def settle() -> None:
    """Call once, in `netwatch run` only, when the daemon is built (config, live view): what exists now lives
    as long as the process, so the collector stops scanning it (gc.freeze), and collections of what is
    allocated per result run less often. Cyclic garbage is still collected, just in larger rounds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLDEST_THRESHOLD)
    if PAUSES not in gc.callbacks:
        gc.callbacks.append(PAUSES)
