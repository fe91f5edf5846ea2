"""Mergeable latency histograms and per-bucket rollups (pure)."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

# Log-spaced upper bounds from 50 us to ~100 s, 4 per decade: coarse enough to keep 30 days of
# 1,000 checks small, fine enough that p50/p95 estimates land within ~30 % of the true value.
BOUNDS_SECONDS: tuple[float, ...] = tuple(5e-5 * 10 ** (i / 4) for i in range(26))
BUCKET_SECONDS = 300.0


def bucket_index(latency_seconds: float) -> int:
    return bisect.bisect_left(BOUNDS_SECONDS, latency_seconds)


def quantile(hist: list[int], q: float) -> float | None:
    """Estimate the q-quantile from histogram counts (geometric interpolation inside a bucket)."""
    total = sum(hist)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(hist):
        if n and seen + n >= rank:
            lo = BOUNDS_SECONDS[i - 1] if i > 0 else BOUNDS_SECONDS[0] / 2
            hi = BOUNDS_SECONDS[i] if i < len(BOUNDS_SECONDS) else BOUNDS_SECONDS[-1] * 2
            frac = (rank - seen) / n
            return lo * math.pow(hi / lo, frac)
        seen += n
    return BOUNDS_SECONDS[-1]


def encode_hist(hist: list[int]) -> str:
    """Sparse text form `index:count,...` — most buckets of one check are empty."""
    return ",".join([f"{i}:{n}" for i, n in enumerate(hist) if n])


def decode_hist(text: str) -> list[int]:
    hist = [0] * (len(BOUNDS_SECONDS) + 1)
    if text:
        for part in text.split(","):
            i, n = part.split(":")
            hist[int(i)] += int(n)
    return hist


@dataclass
class Rollup:
    check_id: str
    bucket_start: float
    bucket_seconds: float = BUCKET_SECONDS
    count: int = 0
    ok_count: int = 0
    degraded_count: int = 0
    latency_count: int = 0
    latency_sum: float = 0.0
    latency_max: float = 0.0
    hist: list[int] = field(default_factory=lambda: [0] * (len(BOUNDS_SECONDS) + 1))

    def add(self, ok: bool, degraded: bool, latency_seconds: float | None) -> None:
        self.count += 1
        self.ok_count += int(ok)
        self.degraded_count += int(degraded)
        if latency_seconds is not None and ok and latency_seconds >= 0:
            self.latency_count += 1
            self.latency_sum += latency_seconds
            self.latency_max = max(self.latency_max, latency_seconds)
            self.hist[bucket_index(latency_seconds)] += 1

    def row(self) -> tuple[object, ...]:
        return (self.check_id, self.bucket_start, self.bucket_seconds, self.count, self.ok_count,
                self.degraded_count, self.latency_count, self.latency_sum, self.latency_max,
                encode_hist(self.hist))


def bucket_start(ts: float, bucket_seconds: float = BUCKET_SECONDS) -> float:
    return math.floor(ts / bucket_seconds) * bucket_seconds


# The histogram text of a single latency, by bin: most rollup rows of a batch hold one result.
_ONE_IN_BIN: tuple[str, ...] = tuple(f"{i}:1" for i in range(len(BOUNDS_SECONDS) + 1))


def rollup_rows(result_rows: Iterable[Sequence[Any]], bucket_seconds: float = BUCKET_SECONDS
                ) -> dict[tuple[str, float], tuple[object, ...]]:
    """The rollup row (as `Rollup.row()`) of each (check, bucket) that result rows (check_id, ts, duration,
    ok, degraded, error, latency) fall in.

    The recorder's hot path: a batch holds about one result per check, and a `Rollup` with its 27-bin
    histogram list per result (built, then encoded by scanning every bin) cost more than the SQL. Counts
    are kept in a short list and the histogram sparsely, bins only as they occur.
    """
    floor = math.floor
    bounds = BOUNDS_SECONDS
    acc: dict[tuple[str, float], list[Any]] = {}
    for check_id, ts, _, ok, degraded, _, latency in result_rows:
        key = (check_id, floor(ts / bucket_seconds) * bucket_seconds)
        a = acc.get(key)
        if a is None:
            # count, ok_count, degraded_count, latency_count, latency_sum, latency_max, {bin: count}
            a = acc[key] = [0, 0, 0, 0, 0.0, 0.0, None]
        a[0] += 1
        if degraded:
            a[2] += 1
        if ok:
            a[1] += 1
            if latency is not None and latency >= 0:
                a[3] += 1
                a[4] += latency
                if latency > a[5]:
                    a[5] = latency
                i = bisect.bisect_left(bounds, latency)
                bins = a[6]
                if bins is None:
                    a[6] = {i: 1}
                else:
                    bins[i] = bins.get(i, 0) + 1
    out: dict[tuple[str, float], tuple[object, ...]] = {}
    for key, (count, ok_count, degraded_count, latency_count, latency_sum, latency_max, bins) in acc.items():
        if bins is None:
            text = ""
        elif len(bins) == 1:
            ((i, n),) = bins.items()
            text = _ONE_IN_BIN[i] if n == 1 else f"{i}:{n}"
        else:
            text = ",".join([f"{i}:{n}" for i, n in sorted(bins.items())])
        out[key] = (key[0], key[1], bucket_seconds, count, ok_count, degraded_count, latency_count, latency_sum,
                    latency_max, text)
    return out
