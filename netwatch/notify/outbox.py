"""The durable outbox: rows written with their transition, delivered per channel in order.

Each channel has its own worker, so a slow or dead channel never delays another. Within a
channel rows leave strictly in id order (a DOWN is never delivered after its RESOLVED): the head
row blocks the rest until it is delivered, rerouted to the fallback channel, or refused for good.
A row is marked sent only after the gateway accepted it, so a crash in between re-sends it with
the same dedup key (at-least-once). Problem rows of one zone arriving within the channel's
`group_wait` (up to one check interval) leave as one message; past the channel's rate limit, everything
waiting is merged into one digest message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence
from zoneinfo import ZoneInfo

import aiohttp
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from netwatch.config.paging import Channel, Paging
from netwatch.notify import acklink, audience, modem, senders, templates
from netwatch.store import DB_ERRORS, Store, Tx
from netwatch.store import outbox as rows_of
from netwatch.store.outbox import PAGE_KINDS, Row, check_origin, enqueue, page_key

if TYPE_CHECKING:
    from netwatch.cluster.node import ClusterNode
    from netwatch.config import Config

__all__ = ["PAGE_KINDS", "Delivery", "Row", "enqueue"]

log = logging.getLogger(__name__)

# Woken by the writer (a decision with outbox rows, an ack), by its own workers and by commits of other
# processes (`netwatch ack` from the CLI); this is only the longest it sleeps when nothing happens.
IDLE_SECONDS = 5.0
WATCH_SECONDS = 1.0   # one wait for another process's commit; bounds how long stopping waits for the watcher
MAX_BATCH = 200
BROKEN_RENOTIFY_SECONDS = 1800.0   # one "channel broken" notice per channel per half hour
# Pages sent from memory while the store was stalled, remembered until their outbox rows are written;
# past this many the oldest are forgotten (counted) and may be sent a second time when the store is back.
MAX_MEMORY_SENT = 10_000


def group_key(facts: dict[str, Any]) -> str:
    """The page's grouping key (alerting.decide sets it); rows written before it existed group by zone."""
    key = facts.get("group_key")
    return str(key) if key else f"zone:{facts.get('zone')}" if facts.get("zone") else "site"


JOURNAL_NAME = ".netwatch-sent-from-memory.jsonl"
JOURNAL_MAX_AGE_SECONDS = 86400.0   # an entry older than this names an outage long over
# Only an outage the new process sees this soon after it starts is the one paged before the crash; a later
# one (the check came back and failed again) is a new outage and keeps its own key.
EARLIER_WINDOW_SECONDS = 600.0
JOURNAL_WAIT_SECONDS = 0.5


class SentJournal:
    """Pages sent from memory, on local disk until their outbox rows are matched (one JSON line each).

    The memory map above dies with the process. After a kill -9 between a page sent from memory and the
    store write, the new process sees the outage again with a later start, so its row would carry another
    key; this journal (beside a SQLite store, else beside the config) lets that row go out with the key the
    first copy had, so the gateway can drop the repeat. Best effort: a journal that cannot be written is
    logged, and the repeat then carries the new key.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.keys: set[str] = set()

    @staticmethod
    def beside(store: object, config_path: str) -> str:
        where = store if isinstance(store, str) else (getattr(store, "path", None) or "")
        base = where if "://" not in where and where not in ("", ":memory:") else config_path
        return os.path.join(os.path.dirname(os.path.abspath(base)), JOURNAL_NAME)

    def load(self, now: float) -> dict[tuple[str, str], tuple[str, float]]:
        """(channel, check id) -> (dedup key, outage start) of pages an earlier run sent from memory."""
        out: dict[tuple[str, str], tuple[str, float]] = {}
        for entry in self._read():
            if now - float(entry["since"]) < JOURNAL_MAX_AGE_SECONDS:
                out[(str(entry["channel"]), str(entry["check"]))] = (str(entry["key"]), float(entry["since"]))
                self.keys.add(str(entry["key"]))
        return out

    def _read(self) -> list[dict[str, object]]:
        if self.path is None:
            return []
        try:
            with open(self.path, encoding="utf-8") as f:
                lines = f.readlines()[-MAX_MEMORY_SENT:]
        except FileNotFoundError:
            return []
        except OSError as exc:
            log.error("pages sent from memory: cannot read %s: %s", self.path, exc)
            return []
        out = []
        for line in lines:
            try:
                entry = json.loads(line)
                if isinstance(entry, dict) and {"channel", "check", "key", "since"} <= set(entry):
                    out.append(entry)
            except ValueError:
                continue      # a line cut by the crash this journal is for
        return out

    def add(self, entries: Sequence[tuple[str, str, str, float]]) -> None:
        """(channel, check id, key, since) of pages about to leave from memory; on disk before the call returns."""
        entries = [e for e in entries if e[2] not in self.keys]    # a retry after a failed send: written already
        if self.path is None or not entries:
            return
        try:
            with open(self.path, "a", encoding="utf-8") as f:
                for channel, check, key, since in entries:
                    f.write(json.dumps({"channel": channel, "check": check, "key": key, "since": since}) + "\n")
                f.flush()
                os.fsync(f.fileno())
            self.keys.update(e[2] for e in entries)
        except OSError as exc:
            log.error("pages sent from memory: cannot write %s: %s (after a crash they may repeat with a new key)",
                      self.path, exc)

    def remove(self, keys: set[str]) -> None:
        """Forget pages whose outbox rows are now handled."""
        if self.path is None or not keys & self.keys:
            return
        self.keys -= keys
        keep = [e for e in self._read() if e["key"] not in keys]
        try:
            tmp = self.path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(e) + "\n" for e in keep)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("pages sent from memory: cannot rewrite %s: %s", self.path, exc)


@dataclass
class ChannelStats:
    delivered_total: int = 0
    failures_total: int = 0
    messages_total: int = 0
    queue_depth: int = 0
    oldest_pending_seconds: float = 0.0
    tokens: float = 0.0
    refilled_at: float = 0.0
    first_failure_at: float | None = None
    last_error: str = ""


@dataclass
class Delivery:
    """The delivery loop over the outbox table of `store`."""

    store: Store
    paging: Callable[[], Paging]
    tz: Callable[[], ZoneInfo]
    redact: Callable[[str], str]
    clock: Callable[[], float] = time.time
    stats: dict[str, ChannelStats] = field(default_factory=dict)
    workers: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    session: aiohttp.ClientSession | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    links: audience.LinkMaker | None = None     # acknowledgement links for chat and e-mail (web.ack)
    # Cluster mode: may a send that can take this many seconds start now (the coordinator's lease)?
    may_send: Callable[[float], bool] | None = None
    # Cluster mode: run first in the transaction that marks rows sent, failed or rerouted; raises FencedWrite
    # unless this node still holds the coordinator lease (a deposed coordinator's marks are refused).
    guard: Callable[[Tx], None] | None = None
    # (channel, dedup key) -> "sending" | "sent": pages sent from memory while the store was stalled
    memory_sent: "OrderedDict[tuple[str, str], str]" = field(default_factory=OrderedDict)
    memory_failures: dict[str, int] = field(default_factory=dict)      # consecutive failed memory sends, per channel
    memory_retry_at: dict[str, float] = field(default_factory=dict)    # monotonic: no memory send before, per channel
    memory_sent_total: int = 0
    memory_failed_total: int = 0
    memory_forgotten_total: int = 0
    memory_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    journal: SentJournal = field(default_factory=lambda: SentJournal(None))
    # (channel, check id) -> (dedup key, since) of pages an earlier process sent from memory, not yet matched
    earlier: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    started_at: float = 0.0

    @classmethod
    def for_config(cls, store: Store, config: Callable[[], "Config"], clock: Callable[[], float],
                   node: "ClusterNode | None" = None) -> "Delivery":
        """The daemon's delivery loop: paging, time zone and redaction of the config of the moment, ack links;
        in a cluster only the coordinator sends, under its lease."""
        delivery = cls(store, lambda: config().paging, lambda: config().site.tz, lambda text: config().redact(text),
                       clock, links=acklink.maker(config, clock), may_send=node.may_send if node is not None else None,
                       guard=node.coordinator_guard if node is not None else None,
                       journal=SentJournal(SentJournal.beside(config().store, config().path)))
        if node is not None:    # a coordinator that cannot deliver hands the lease over (cluster.handover_after)
            node.hand_over_when(delivery.undelivered_seconds)
        return delivery

    def send_from_memory(self, pages: Sequence[tuple[str, float, str, dict]]) -> int:
        """Deliver problem pages the store has not yet written: (channel, since, check id, facts) each.

        The one exception to "record, then deliver" (docs/operations.md): while the store writer is
        stalled a decided page must not wait for it. Each page goes out once from here, with the dedup key
        its outbox row will have (store.outbox.page_key); when that row is finally written, the drain
        finds its (channel, key) here and marks it sent without sending again. A crash in between sends it
        again from the outbox, with the same key (at-least-once; the gateway can drop the repeat). A
        failing gateway is retried with the channel's backoff, never faster.
        """
        now = time.monotonic()
        fresh: dict[str, list[tuple[str, dict]]] = {}
        for channel, since, check_id, facts in pages:
            key = (channel, page_key(check_origin(check_id), since, "problem"))
            if key in self.memory_sent or self.memory_retry_at.get(channel, 0.0) > now:
                continue
            self.memory_sent[key] = "sending"
            while len(self.memory_sent) > MAX_MEMORY_SENT:
                self.memory_sent.popitem(last=False)
                self.memory_forgotten_total += 1
            fresh.setdefault(channel, []).append((key[1], facts))
        for channel, items in fresh.items():
            task = asyncio.create_task(self._send_memory(channel, items), name=f"memory:{channel}")
            self.memory_tasks.add(task)
            task.add_done_callback(self.memory_tasks.discard)
        return sum(len(v) for v in fresh.values())

    async def _send_memory(self, channel: str, items: list[tuple[str, dict]]) -> None:
        ok = False
        try:
            # On disk before the send, so a kill -9 right after the gateway took it cannot lose the key; a disk
            # that hangs (it may be why the store stalled) delays the page by JOURNAL_WAIT_SECONDS at most.
            entries = [(channel, str(f.get("check")), d, float(f.get("since") or 0)) for d, f in items]
            try:
                await asyncio.wait_for(asyncio.shield(asyncio.to_thread(self.journal.add, entries)),
                                       JOURNAL_WAIT_SECONDS)
            except TimeoutError:
                log.error("pages sent from memory: the journal write hangs; sending without it")
            ok = await self._send_memory_once(channel, items)
        finally:
            for dedup, _ in items:
                if ok and (channel, dedup) in self.memory_sent:
                    self.memory_sent[(channel, dedup)] = "sent"
                else:      # not delivered on this channel: retried after the backoff, or by its outbox row
                    self.memory_sent.pop((channel, dedup), None)
            failures = 0 if ok else self.memory_failures.get(channel, 0) + 1
            self.memory_failures[channel] = failures
            if failures:
                spec = self.paging().spec
                delay = min(spec.backoff_max, spec.backoff_initial * 2 ** min(failures - 1, 20))
                self.memory_retry_at[channel] = time.monotonic() + delay
            self.wake.set()    # a drain waiting on a send in flight looks again

    async def _send_memory_once(self, channel: str, items: list[tuple[str, dict]]) -> bool:
        ch = self.paging().channels.get(channel)
        if ch is None:
            return False
        facts = [audience.enrich(f, ch, self.paging(), self.clock(), None) for _, f in items]
        dedup = ",".join(d for d, _ in items)[:4000]
        tz = self.tz()
        for secret in ch.urls:
            url = secret.reveal()
            if ch.sms is not None:
                text = templates.sms_text(facts, ch.lang, ch.sms.max_segments, ch.sms.strip_diacritics, tz)
                title, body, markup = "", text.text, "text"
            else:
                markup = templates.markup_for(url)
                title, body = templates.chat(facts, ch.lang, markup, tz)
            result = await senders.send(url, title, body, markup, "problem", dedup, ch.timeout, self.session)
            if result.ok:
                self.memory_sent_total += len(items)
                log.warning("channel %s: %d page(s) sent from memory while the store is stalled", channel, len(items))
                return True
            self.memory_failed_total += 1
            log.error("channel %s: page from memory failed (%s); retried after the backoff, or sent from the outbox "
                      "when the store is back", channel, self.redact(result.error)[:200])
        return False

    def _from_memory(self, row: Row) -> str | None:
        """"sent" if this outbox row's page already went out from memory on its channel, "sending" while that
        send is in flight (the row waits for its outcome), else None."""
        if row.kind != "problem" or row.attempts:
            return None
        return self.memory_sent.get((row.channel, row.dedup_key))

    def undelivered_seconds(self) -> float:
        """How long a channel with messages waiting has failed every send (0: each delivers or has nothing)."""
        now = self.clock()
        return max((now - s.first_failure_at for s in self.stats.values()
                    if s.first_failure_at is not None and s.queue_depth > 0), default=0.0)

    def stat(self, channel: str) -> ChannelStats:
        s = self.stats.get(channel)
        if s is None:
            ch = self.paging().channels.get(channel)
            s = ChannelStats(tokens=float(ch.burst if ch else 1), refilled_at=time.monotonic())
            self.stats[channel] = s
        return s

    async def run(self) -> None:
        self.session = senders.gateway_session()
        self.started_at = self.clock()
        self.earlier = await asyncio.to_thread(self.journal.load, self.started_at)
        watcher = asyncio.create_task(self._watch(), name="outbox-watch")
        try:
            while True:
                self.wake.clear()
                if self.may_send is not None and not self.may_send(0.0):
                    for s in self.stats.values():   # another node delivers: this one's failures are history
                        s.first_failure_at = None
                    await asyncio.sleep(0.5)    # not the coordinator: another node delivers
                    continue
                try:
                    pending = await asyncio.to_thread(self._pending_summary)
                except DB_ERRORS as exc:
                    log.error("outbox read failed: %s", exc)
                    pending = {}
                now = self.clock()
                for name, s in self.stats.items():
                    s.queue_depth, s.oldest_pending_seconds = 0, 0.0
                sleep = IDLE_SECONDS
                for channel, (depth, oldest, due) in pending.items():
                    s = self.stat(channel)
                    s.queue_depth, s.oldest_pending_seconds = depth, max(0.0, now - oldest)
                    task = self.workers.get(channel)
                    if task is not None and not task.done():
                        continue      # its end wakes this loop
                    if due <= now:
                        task = asyncio.create_task(self._drain(channel), name=f"outbox:{channel}")
                        task.add_done_callback(lambda _: self.wake.set())
                        self.workers[channel] = task
                    else:
                        sleep = min(sleep, due - now)   # a retry waiting for its backoff
                try:
                    await asyncio.wait_for(self.wake.wait(), max(0.01, sleep))
                except TimeoutError:
                    pass
        finally:
            for task in (*self.workers.values(), watcher):
                task.cancel()
            await asyncio.gather(*self.workers.values(), watcher, return_exceptions=True)
            await self.session.close()

    async def _watch(self) -> None:
        """Wake on any commit, this process's or another's (the store's wait_for_change: SQLite's data_version,
        PostgreSQL's LISTEN/NOTIFY). In a thread of its own, not the default pool, so a waiting watch never holds
        a thread the store writer needs; the thread waits round after round and calls into the loop only when the
        store changed, so an idle daemon's loop is not woken every WATCH_SECONDS for nothing."""
        loop = asyncio.get_running_loop()
        stop = threading.Event()
        pool = ThreadPoolExecutor(1, thread_name_prefix="outbox-watch")
        try:
            await loop.run_in_executor(pool, self._watch_rounds, loop, stop)
        finally:
            stop.set()   # the thread ends after its current wait (WATCH_SECONDS at most)
            pool.shutdown(wait=False, cancel_futures=True)

    def _watch_rounds(self, loop: asyncio.AbstractEventLoop, stop: threading.Event) -> None:
        """In the watch's thread until `stop`: each commit after the last marker sets `wake` on the loop."""
        marker: tuple[int, int] | None = None
        while not stop.is_set():
            try:
                if marker is None:
                    marker = self.store.db.change_marker()
                changed = self.store.wait_for_change(WATCH_SECONDS, marker)
                seen = self.store.db.change_marker()
            except DB_ERRORS as exc:
                log.error("outbox: watching the store failed: %s", exc)
                stop.wait(WATCH_SECONDS)
                continue
            if changed or seen != marker:
                try:
                    loop.call_soon_threadsafe(self.wake.set)
                except RuntimeError:
                    return   # the loop is closed: the daemon stopped
            marker = seen

    def metrics(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("netwatch_notify_queue_depth", "Notices waiting in the outbox, per channel.",
                                  labels=["channel"])
        oldest = GaugeMetricFamily("netwatch_notify_oldest_pending_seconds",
                                   "Age of the oldest notice waiting, per channel.", labels=["channel"])
        delivered = CounterMetricFamily("netwatch_notify_deliveries", "Notices delivered, per channel.",
                                        labels=["channel"])
        failures = CounterMetricFamily("netwatch_notify_failures", "Failed delivery attempts, per channel.",
                                       labels=["channel"])
        messages = CounterMetricFamily("netwatch_notify_messages", "Messages sent (a group is one), per channel.",
                                       labels=["channel"])
        for name in self.paging().channels:
            s = self.stat(name)
            depth.add_metric([name], s.queue_depth)
            oldest.add_metric([name], s.oldest_pending_seconds)
            delivered.add_metric([name], s.delivered_total)
            failures.add_metric([name], s.failures_total)
            messages.add_metric([name], s.messages_total)
        yield from (depth, oldest, delivered, failures, messages)
        yield CounterMetricFamily("netwatch_notify_sent_from_memory",
                                  "Pages sent from memory because the store writer was stalled.",
                                  value=self.memory_sent_total)
        yield CounterMetricFamily("netwatch_notify_memory_send_failures",
                                  "Failed attempts to send a page from memory (retried after the channel's backoff).",
                                  value=self.memory_failed_total)
        yield CounterMetricFamily("netwatch_notify_memory_forgotten",
                                  "Pages sent from memory whose record was forgotten past the bound (may repeat).",
                                  value=self.memory_forgotten_total)

    def _pending_summary(self) -> dict[str, tuple[int, float, float]]:
        with self.store.db.read() as c:
            return rows_of.pending_summary(c)

    def _load(self, channel: str) -> list[Row]:
        with self.store.db.read() as c:
            return rows_of.pending(c, channel, MAX_BATCH)

    async def _drain(self, channel: str) -> None:
        try:
            await self._drain_due(channel)
        except (*DB_ERRORS, OSError) as exc:
            log.error("channel %s: outbox error: %s", channel, exc)
            await asyncio.sleep(1.0)
        except Exception:  # noqa: BLE001 - one bad row must not stop the channel for good
            log.exception("channel %s: delivery worker failed", channel)
            await asyncio.sleep(1.0)

    async def _drain_due(self, channel: str) -> None:
        """Send what is due on one channel, head first; return when the head must wait."""
        while True:
            rows = await asyncio.to_thread(self._load, channel)
            if not rows:
                return
            now = self.clock()
            head = rows[0]
            if head.due_at > now:
                return
            memory = self._from_memory(head)
            if memory == "sending":
                await asyncio.sleep(0.1)    # its outcome decides: matched, or sent from here
                continue
            if memory == "sent":
                await asyncio.to_thread(self._finish, [head], "sent", "sent from memory while the store was stalled")
                self.stat(channel).delivered_total += 1
                continue
            if head.kind == "problem" and not head.attempts and self.earlier:
                await asyncio.to_thread(self._adopt_earlier_key, head)
            ch = self.paging().channels.get(channel)
            if ch is None:
                await asyncio.to_thread(self._finish, rows, "dropped", "channel no longer configured")
                continue
            if head.attempts == 0 and head.kind == "problem" and now < head.created_at + ch.group_wait:
                await asyncio.sleep(head.created_at + ch.group_wait - now)
                continue
            s = self.stat(channel)
            self._refill(s, ch)
            if s.tokens < 1:
                await asyncio.sleep(min(1.0, (1 - s.tokens) * 60.0 / ch.rate_per_minute))
                continue
            batch = self._batch(rows, ch, s, now)
            ok = await self._deliver(ch, batch)
            if not ok:
                return

    @staticmethod
    def _refill(s: ChannelStats, ch: Channel) -> None:
        mono = time.monotonic()
        s.tokens = min(float(ch.burst), s.tokens + (mono - s.refilled_at) * ch.rate_per_minute / 60.0)
        s.refilled_at = mono

    @staticmethod
    def _batch(rows: list[Row], ch: Channel, s: ChannelStats, now: float) -> list[Row]:
        head = rows[0]
        due = [r for r in rows if r.due_at <= now]
        if s.tokens < 2 and len(due) > 1:
            # The last token of the burst: merge everything waiting into one digest, in order.
            out = []
            for r in rows:
                if r.due_at > now or r.sent_via != head.sent_via:
                    break
                out.append(r)
            return out
        if head.kind != "problem":
            return [head]
        key = group_key(head.facts)
        out = [head]
        for r in rows[1:]:
            if (r.kind != "problem" or group_key(r.facts) != key or r.created_at > head.created_at + ch.group_wait
                    or r.sent_via != head.sent_via or r.due_at > now):
                break
            out.append(r)
        return out

    async def _deliver(self, ch: Channel, batch: list[Row]) -> bool:
        if self.may_send is not None and not self.may_send(ch.timeout):
            await asyncio.sleep(1.0)    # the lease would run out mid-send: leave it to the next coordinator
            return False
        s = self.stat(ch.id)
        s.tokens -= 1
        s.messages_total += 1
        tz = self.tz()
        items = [audience.enrich(r.facts, ch, self.paging(), self.clock(), self.links) for r in batch]
        dedup = ",".join(r.dedup_key for r in batch)[:4000]
        kind = batch[0].kind if len({r.kind for r in batch}) == 1 else "problem"
        done = {int(i) for i in batch[0].sent_via.split(",") if i}
        result = senders.SendResult(True)
        if ch.modem is not None and -1 not in done:
            text = templates.sms_text(items, ch.lang, ch.sms.max_segments if ch.sms else 1,
                                      ch.sms.strip_diacritics if ch.sms else True, tz)
            pin = ch.modem.pin.reveal() if ch.modem.pin else None
            result = await modem.send(ch.modem.device, ch.modem.baud, ch.modem.to, text.text, ch.timeout, pin)
            if result.ok:
                done.add(-1)
        for i, secret in enumerate(ch.urls):
            if i in done or not result.ok:
                continue
            url = secret.reveal()
            if ch.sms is not None:
                text = templates.sms_text(items, ch.lang, ch.sms.max_segments, ch.sms.strip_diacritics, tz)
                title, body, markup = "", text.text, "text"
            else:
                markup = templates.markup_for(url)
                title, body = templates.chat(items, ch.lang, markup, tz)
            result = await senders.send(url, title, body, markup, kind, dedup, ch.timeout, self.session)
            if result.ok:
                done.add(i)
        via = ",".join(str(i) for i in sorted(done))
        if result.ok:
            s.delivered_total += len(batch)
            s.first_failure_at = None
            await asyncio.to_thread(self._finish, batch, "sent", None)
            return True
        s.tokens += 1         # the rate limit counts messages that arrived; backoff paces the retries
        s.messages_total -= 1
        s.failures_total += 1
        error = self.redact(result.error)[:200]
        s.last_error = error
        now = self.clock()
        if s.first_failure_at is None:
            s.first_failure_at = now
        log.warning("channel %s: delivery failed (%s), attempt %d", ch.id, error, batch[0].attempts + 1)
        if not result.retry:
            await asyncio.to_thread(self._refused, ch, batch, error, now)
            return True
        if ch.fallback and now - batch[0].created_at >= ch.fallback_after:
            await asyncio.to_thread(self._reroute, ch, batch, error, now)
            return True
        spec = self.paging().spec
        backoff = min(spec.backoff_max, spec.backoff_initial * 2 ** min(batch[0].attempts, 20))
        delay = result.retry_after_seconds if result.retry_after_seconds is not None else backoff
        await asyncio.to_thread(self._retry_later, batch, now + delay, error, via)
        return False

    def _guard(self, c: Tx) -> None:
        if self.guard is not None:
            self.guard(c)

    def _adopt_earlier_key(self, row: Row) -> None:
        """A problem row of an outage an earlier process paged from memory before it died: same key (at-least-once)."""
        earlier = self.earlier.pop((row.channel, str(row.facts.get("check"))), None)
        if earlier is None or earlier[0] == row.dedup_key:
            return
        key, since = earlier
        if not since <= float(row.facts.get("since") or 0) <= self.started_at + EARLIER_WINDOW_SECONDS:
            return
        with self.store.transaction() as c:
            rows_of.set_dedup_key(c, row.id, key)
        log.warning("channel %s: %s repeats a page sent from memory before a restart; it keeps that page's key",
                    row.channel, row.facts.get("check"))
        row.dedup_key = key

    def _finish(self, batch: Sequence[Row], state: str, error: str | None) -> None:
        now = self.clock()
        with self.store.transaction() as c:
            self._guard(c)
            rows_of.finish(c, batch, state, error, now)
        if state == "sent":
            self.journal.remove({r.dedup_key for r in batch})

    def _retry_later(self, batch: Sequence[Row], due_at: float, error: str, via: str) -> None:
        with self.store.transaction() as c:
            self._guard(c)
            rows_of.retry_later(c, batch, due_at, error, via)

    def _refused(self, ch: Channel, batch: Sequence[Row], error: str, now: float) -> None:
        """4xx: not retried; the rows go to the fallback and a 'channel broken' notice goes elsewhere."""
        paging = self.paging()
        with self.store.transaction() as c:
            self._guard(c)
            rows_of.give_up(c, batch, "failed", error)
            if ch.fallback:
                for r in batch:
                    enqueue(c, r.incident_id, ch.fallback, r.kind, r.facts, now, r.dedup_key)
            others = [ch.fallback] if ch.fallback else [n for n in (paging.spec.self_notify or paging.channels)
                                                        if n != ch.id][:1]
            recent = rows_of.broken_notice_since(c, ch.id, now - BROKEN_RENOTIFY_SECONDS)
            for other in others if not recent else []:
                enqueue(c, None, other, "channel_broken", {"kind": "channel_broken", "channel": ch.id,
                                                           "error": error}, now, f"broken-{ch.id}-{batch[0].id}")

    def _reroute(self, ch: Channel, batch: Sequence[Row], error: str, now: float) -> None:
        assert ch.fallback
        with self.store.transaction() as c:
            self._guard(c)
            rows_of.give_up(c, batch, "rerouted", error)
            for r in batch:
                enqueue(c, r.incident_id, ch.fallback, r.kind, r.facts, now, r.dedup_key)
