"""Mergeable latency histograms and per-bucket rollups (pure)."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

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
