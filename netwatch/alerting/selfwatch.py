"""Watching netwatch itself: "monitoring degraded" sent past the outbox, and the dead-man heartbeat.

`check(now)` looks at the store writer (errors, age of the oldest unwritten row), the scheduler's
lag and skipped runs, the resolver's oldest pending lookup and the delivery backlog; when one is
past its bound it sends the notice straight to the channels (the outbox may be what is failing),
naming the cause from causes.SELF, at most once per DEGRADED_RENOTIFY_SECONDS (or at once when a
new cause appears), and withholds the heartbeat while the condition lasts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol

import aiohttp
from prometheus_client.core import GaugeMetricFamily, Metric

from netwatch.causes import SELF
from netwatch.config.paging import SelfWatchSpec
from netwatch.net.resolver import resolver
from netwatch.notify import senders, templates

if TYPE_CHECKING:
    from netwatch.config import Config

log = logging.getLogger(__name__)

DEGRADED_RENOTIFY_SECONDS = 600.0
# The default bounds (paging.self_watch in the config): with the paging loop checking every 0.5 s, a
# stalled store or resolver is seen within 10 s.
_DEFAULTS = SelfWatchSpec()
STORE_STALL_SECONDS = float(_DEFAULTS.store_stall)
RESOLVER_STALL_SECONDS = float(_DEFAULTS.resolver_stall)
DELIVERY_BACKLOG_SECONDS = float(_DEFAULTS.delivery_backlog)
LOOP_LAG_SECONDS = float(_DEFAULTS.loop_lag)
SKIPPED_RUNS_RATIO = _DEFAULTS.skipped_runs_ratio
SKIPPED_RUNS_MIN = _DEFAULTS.skipped_runs_min


@dataclass(frozen=True)
class Vitals:
    """What self-watch reads of the daemon: cumulative counters, sampled on every check."""

    store_errors_total: int
    store_last_error: str
    lag_count: int
    lag_total_seconds: float
    store_pending_seconds: float = 0.0      # age of the oldest row waiting to be written
    resolver_pending_seconds: float = 0.0   # age of the oldest unfinished name lookup
    skipped_total: int = 0                   # check runs skipped because their kind's pool was full
    delivery_oldest_seconds: float = 0.0    # age of the oldest notice waiting in the outbox


class Writer(Protocol):
    """What self-watch reads of the store writer (netwatch.recorder.Recorder)."""

    errors_total: int
    last_error: str | None

    def oldest_pending_write_seconds(self) -> float: ...


class Lag(Protocol):
    """What self-watch reads of one probe kind's scheduling (netwatch.scheduler.LagStats)."""

    count: int
    total_seconds: float
    skipped: int


class Backlog(Protocol):
    """What self-watch reads of one channel's outbox (netwatch.notify.outbox.ChannelStats)."""

    oldest_pending_seconds: float


def vitals_of(writer: Writer, lag: Iterable[Lag], backlog: Iterable[Backlog]) -> Vitals:
    """The daemon's vitals: the store writer, the scheduler's lag per kind, the resolver, the outbox per channel."""
    lag = list(lag)
    return Vitals(writer.errors_total, writer.last_error or "", sum(s.count for s in lag),
                  sum(s.total_seconds for s in lag), writer.oldest_pending_write_seconds(),
                  resolver().oldest_pending_seconds(), sum(s.skipped for s in lag),
                  max((s.oldest_pending_seconds for s in backlog), default=0.0))


class SelfWatch:
    def __init__(self, config: Callable[[], "Config"], vitals: Callable[[], Vitals],
                 clock: Callable[[], float], may_page: Callable[[], bool] = lambda: True) -> None:
        self.config = config
        # Cluster mode: only the coordinator pages; a node cut off from PostgreSQL fences itself and its
        # trouble shows in the cluster's own metrics and status instead (docs/cluster.md).
        self.may_page = may_page
        self.vitals = vitals
        self.clock = clock
        self.degraded_reason = ""
        self.degraded_sent_at = 0.0
        self.heartbeat_ok_at = 0.0
        self.heartbeat_failures = 0
        self.sends: set[asyncio.Task[None]] = set()
        self._seen = Vitals(0, "", 0, 0.0)   # the counters as of the previous check
        self.loop_lag_seconds = 0.0          # set by the watch task: how late its last wake-up was

    def check(self, now: float) -> None:
        config = self.config()
        bounds = config.paging.spec.self_watch
        v = self.vitals()
        reasons = []
        if v.store_errors_total > self._seen.store_errors_total:
            error = v.store_last_error.lower()
            if "full" in error or "no space" in error:
                reasons.append(f"{SELF['disk_full'].en} ({v.store_pending_seconds:.0f} s)")
            elif "locked" in error or "busy" in error:
                reasons.append(f"{SELF['store_locked'].en} ({v.store_pending_seconds:.0f} s)")
            reasons.append(f"history store write failed: {config.redact(v.store_last_error)[:120]}")
        elif v.store_pending_seconds > bounds.store_stall:
            # A write that waits without failing is waiting for a lock (SQLite's busy timeout) or a hung server.
            reasons.append(f"{SELF['store_locked'].en} ({v.store_pending_seconds:.0f} s)")
        if v.resolver_pending_seconds > bounds.resolver_stall:
            reasons.append(f"{SELF['resolver_stalled'].en} ({v.resolver_pending_seconds:.0f} s)")
        skipped = v.skipped_total - self._seen.skipped_total
        runs = v.lag_count - self._seen.lag_count
        if skipped >= bounds.skipped_runs_min and skipped > bounds.skipped_runs_ratio * (runs + skipped):
            log.warning("%d check runs skipped since the last self-check (probe pools full)", skipped)
            reasons.append(SELF["probes_saturated"].en)
        if self.loop_lag_seconds > bounds.loop_lag:
            reasons.append(f"{SELF['loop_blocked'].en} ({self.loop_lag_seconds:.0f} s)")
        if v.delivery_oldest_seconds > bounds.delivery_backlog:
            reasons.append(f"{SELF['delivery_backlog'].en} ({v.delivery_oldest_seconds:.0f} s)")
        if v.lag_count > self._seen.lag_count:
            mean = (v.lag_total_seconds - self._seen.lag_total_seconds) / (v.lag_count - self._seen.lag_count)
            if mean > config.paging.spec.lag_alarm:
                reasons.append(f"scheduler lag {mean:.1f}s")
        self._seen = v
        before = self.degraded_reason
        self.degraded_reason = "; ".join(reasons)
        # Renotify every DEGRADED_RENOTIFY_SECONDS while it lasts; a new episode after a healthy spell is told
        # at once unless the last notice is under a minute old (a flickering condition must not flood).
        fresh = not before and now - self.degraded_sent_at > 60.0
        if reasons and (now - self.degraded_sent_at > DEGRADED_RENOTIFY_SECONDS or fresh) and self.may_page():
            self.degraded_sent_at = now
            log.error("monitoring degraded: %s", self.degraded_reason)
            # The event loop holds tasks only weakly: keep this one until it has been sent.
            task = asyncio.create_task(self.send_direct({"kind": "degraded", "detail": self.degraded_reason,
                                                         "title": config.site.name}, now))
            self.sends.add(task)
            task.add_done_callback(self.sends.discard)

    async def send_direct(self, facts: dict[str, Any], now: float) -> None:
        """Bypasses the outbox: this is for when the store itself is failing."""
        config = self.config()
        paging = config.paging
        names = paging.spec.self_notify if paging.spec.self_notify is not None else tuple(paging.channels)
        for name in names:
            ch = paging.channels[name]
            for secret in ch.urls:
                url = secret.reveal()
                if ch.sms is not None:
                    text = templates.sms_text([facts], ch.lang, ch.sms.max_segments, ch.sms.strip_diacritics,
                                              config.site.tz)
                    title, body, markup = "", text.text, "text"
                else:
                    markup = templates.markup_for(url)
                    title, body = templates.chat([facts], ch.lang, markup, config.site.tz)
                result = await senders.send(url, title, body, markup, "degraded", f"degraded-{int(now)}", ch.timeout)
                if not result.ok:
                    log.error("channel %s: monitoring-degraded notice failed (%s)", name, config.redact(result.error))

    async def heartbeat(self) -> None:
        """The dead-man heartbeat: an outside receiver alarms when it stops, so it stops while degraded."""
        async with aiohttp.ClientSession() as session:
            while True:
                spec = self.config().paging.spec.heartbeat
                if spec is None:
                    await asyncio.sleep(5)
                    continue
                ok = False
                if not self.degraded_reason:
                    try:
                        async with asyncio.timeout(spec.timeout):
                            async with session.get(spec.url.reveal()) as resp:
                                await resp.content.read(4096)
                                ok = resp.status < 400
                    except (TimeoutError, aiohttp.ClientError, OSError, ValueError):
                        ok = False
                if ok:
                    self.heartbeat_ok_at = self.clock()
                else:
                    self.heartbeat_failures += 1
                await asyncio.sleep(spec.every)

    def metrics(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("netwatch_monitoring_degraded", "1 while netwatch's own scheduler or store fails.",
                                value=1.0 if self.degraded_reason else 0.0)
        if self.config().paging.spec.heartbeat is not None:
            yield GaugeMetricFamily("netwatch_heartbeat_last_success_timestamp_seconds",
                                    "Unix time of the last accepted dead-man heartbeat.", value=self.heartbeat_ok_at)
