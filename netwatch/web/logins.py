"""Failed sign-ins: a growing delay per source and per account, capped so nobody is locked out for long."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, Metric

FREE_FAILURES = 5            # typos: the first few failures cost nothing
MAX_DELAY_SECONDS = 60.0     # guessing may slow the duty team down, never lock them out for longer
FORGET_SECONDS = 15 * 60.0   # a quiet source or account starts again from zero
TRUSTED_SECONDS = 12 * 3600.0  # where an operator signed in lately, guesses at their name do not block them
MAX_TRACKED = 10_000         # a flood from many addresses cannot grow memory without bound


@dataclass
class _Record:
    failures: int = 0
    blocked_until: float = 0.0
    last: float = 0.0


class _Table:
    def __init__(self) -> None:
        self.rows: OrderedDict[str, _Record] = OrderedDict()

    def get(self, key: str, now: float) -> _Record:
        row = self.rows.get(key)
        if row is None or now - row.last > FORGET_SECONDS:
            row = _Record()
        self.rows[key] = row
        self.rows.move_to_end(key)
        while len(self.rows) > MAX_TRACKED:
            self.rows.popitem(last=False)
        return row

    def peek(self, key: str, now: float) -> float:
        row = self.rows.get(key)
        if row is None or now - row.last > FORGET_SECONDS:
            return 0.0
        return max(0.0, row.blocked_until - now)


def delay_seconds(failures: int) -> float:
    """The wait after the `failures`-th failure in a row: none for the first few, then 1, 2, 4 ... 60 s."""
    if failures <= FREE_FAILURES:
        return 0.0
    return min(MAX_DELAY_SECONDS, 2.0 ** (failures - FREE_FAILURES - 1))


class LoginLimiter:
    """Counts failures per source address and per account name. While a key is blocked its requests are
    refused (429) without being checked or counted, so a blocked guesser cannot extend the block."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.sources = _Table()
        self.accounts = _Table()
        self.trusted: OrderedDict[tuple[str, str], float] = OrderedDict()
        self.failed_total: dict[str, int] = {}
        self.refused_total = 0

    def retry_after_seconds(self, source: str, account: str | None) -> float:
        """Seconds before `source` may try again (as `account`); 0 when it may now."""
        now = self.clock()
        wait = self.sources.peek(source, now)
        if account and now - self.trusted.get((source, account), -TRUSTED_SECONDS) >= TRUSTED_SECONDS:
            wait = max(wait, self.accounts.peek(account, now))
        if wait > 0:
            self.refused_total += 1
        return wait

    def failed(self, source: str, account: str | None, kind: str) -> None:
        now = self.clock()
        self.failed_total[kind] = self.failed_total.get(kind, 0) + 1
        for table, key in ((self.sources, source), (self.accounts, account)):
            if key:
                row = table.get(key, now)
                row.failures += 1
                row.last = now
                row.blocked_until = now + delay_seconds(row.failures)

    def succeeded(self, source: str, account: str) -> None:
        now = self.clock()
        self.sources.rows.pop(source, None)
        self.accounts.rows.pop(account, None)
        self.trusted[(source, account)] = now
        self.trusted.move_to_end((source, account))
        while len(self.trusted) > MAX_TRACKED:
            self.trusted.popitem(last=False)

    def metrics(self) -> Iterator[Metric]:
        failed = CounterMetricFamily("netwatch_web_login_failures", "Failed sign-ins on the web side, by credential.",
                                     labels=["credential"])
        for kind in ("password", "token"):
            failed.add_metric([kind], self.failed_total.get(kind, 0))
        yield failed
        yield CounterMetricFamily("netwatch_web_logins_throttled",
                                  "Sign-ins refused with 429 because their source or account failed too often.",
                                  value=self.refused_total)


class LoginCollector:
    """Exposes a limiter's counters on the daemon's registry."""

    def __init__(self, limiter: LoginLimiter) -> None:
        self.limiter = limiter

    def collect(self) -> Iterator[Metric]:
        yield from self.limiter.metrics()
