"""Watching netwatch itself: "monitoring degraded" sent past the outbox, and the dead-man heartbeat.

`check(now)` looks at the store writer's errors and the scheduler's lag; when either is wrong it
sends the notice straight to the channels (the outbox may be what is failing), at most once per
DEGRADED_RENOTIFY_SECONDS, and withholds the heartbeat while the condition lasts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

import aiohttp
from prometheus_client.core import GaugeMetricFamily, Metric

from netwatch.notify import senders, templates

if TYPE_CHECKING:
    from netwatch.config import Config

log = logging.getLogger(__name__)

DEGRADED_RENOTIFY_SECONDS = 600.0


@dataclass(frozen=True)
class Vitals:
    """What self-watch reads of the daemon: cumulative counters, sampled on every check."""

    store_errors_total: int
    store_last_error: str
    lag_count: int
    lag_total_seconds: float


class SelfWatch:
    def __init__(self, config: Callable[[], "Config"], vitals: Callable[[], Vitals],
                 clock: Callable[[], float]) -> None:
        self.config = config
        self.vitals = vitals
        self.clock = clock
        self.degraded_reason = ""
        self.degraded_sent_at = 0.0
        self.heartbeat_ok_at = 0.0
        self.heartbeat_failures = 0
        self.sends: set[asyncio.Task[None]] = set()
        self._seen = Vitals(0, "", 0, 0.0)   # the counters as of the previous check

    def check(self, now: float) -> None:
        config = self.config()
        v = self.vitals()
        reasons = []
        if v.store_errors_total > self._seen.store_errors_total:
            reasons.append(f"history store write failed: {config.redact(v.store_last_error)[:120]}")
        if v.lag_count > self._seen.lag_count:
            mean = (v.lag_total_seconds - self._seen.lag_total_seconds) / (v.lag_count - self._seen.lag_count)
            if mean > config.paging.spec.lag_alarm:
                reasons.append(f"scheduler lag {mean:.1f}s")
        self._seen = v
        self.degraded_reason = "; ".join(reasons)
        if reasons and now - self.degraded_sent_at > DEGRADED_RENOTIFY_SECONDS:
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
