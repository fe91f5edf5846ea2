"""Pages sent from memory while the store is stalled (issue 13): the outbox row's dedup key, the channel's
backoff against a failing gateway, the bound with drop accounting, and the journal that keeps the key
across a kill -9. A real HTTP gateway on loopback; the store is never touched by these sends."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp
import pytest

from netwatch.config import loads
from netwatch.notify import outbox
from netwatch.notify.outbox import Delivery, SentJournal
from netwatch.store import Store
from netwatch.store.outbox import check_origin, page_key
from tests.peers.sinks import HttpSink

CONFIG = """
store: {store}
channels:
  sms: {{urls: ["{url}"], lang: en, sms: {{strip_diacritics: true, max_segments: 1}}}}
paging:
  backoff_initial: 200ms
  backoff_max: 1s
targets:
  - {{id: room1, host: 127.0.0.1, checks: [{{kind: tcp, port: 9}}]}}
"""


def facts(check: str, since: float) -> dict[str, object]:
    return {"check": check, "target": check.split("/")[0], "target_name": check.split("/")[0], "zone": "",
            "state": "down", "since": since, "error": "refused", "kind": "problem", "incident": None,
            "severity": "critical", "category": "availability", "told": ["sms"]}


def page(check: str, since: float) -> tuple[str, float, str, dict[str, object]]:
    return ("sms", since, check, facts(check, since))


async def delivery_for(sink: HttpSink, tmp_path: Path) -> tuple[Delivery, Store]:
    config = loads(CONFIG.format(store=tmp_path / "nw.db", url=sink.url("/sms")), str(tmp_path / "venue.yaml"))
    store = Store.open(config.store)
    delivery = Delivery.for_config(store, lambda: config, time.time)
    delivery.session = aiohttp.ClientSession()
    return delivery, store


async def settle(delivery: Delivery) -> None:
    while delivery.memory_tasks:
        await asyncio.gather(*delivery.memory_tasks, return_exceptions=True)


def test_the_key_is_known_before_the_incident_exists() -> None:
    assert page_key(check_origin("room1/tcp"), 1733150000.123, "problem") == "nw-room1/tcp-1733150000123-problem"
    assert page_key("am-4f2a", 1733150000.0, "resolved") == "am-4f2a-1733150000000-resolved"


async def test_a_failing_gateway_is_retried_with_backoff_then_sent_once_with_the_outbox_key(tmp_path: Path) -> None:
    sink = HttpSink(status=500).start()
    delivery, store = await delivery_for(sink, tmp_path)
    try:
        # The watch offers the unwritten page every 0.5 s; offered every 50 ms here, for 3 s.
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            delivery.send_from_memory([page("room1/tcp", 1000.0)])
            await asyncio.sleep(0.05)
        await settle(delivery)
        tries = len(sink.attempts)
        # 200 ms doubling to 1 s: about 5 tries in 3 s (60 without a backoff).
        assert 3 <= tries <= 8, tries
        assert delivery.memory_failed_total == tries and delivery.memory_sent_total == 0

        sink.status = 200
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and not sink.received:
            delivery.send_from_memory([page("room1/tcp", 1000.0)])
            await asyncio.sleep(0.05)
        await settle(delivery)
        for _ in range(10):    # offered again after it went out: not sent again
            delivery.send_from_memory([page("room1/tcp", 1000.0)])
            await asyncio.sleep(0.02)
        await settle(delivery)
        assert [r.body["dedup_key"] for r in sink.received] == ["nw-room1/tcp-1000000-problem"]
        assert delivery.memory_sent[("sms", "nw-room1/tcp-1000000-problem")] == "sent"
        journal = [json.loads(line) for line in (tmp_path / outbox.JOURNAL_NAME).read_text().splitlines()]
        assert journal == [{"channel": "sms", "check": "room1/tcp", "key": "nw-room1/tcp-1000000-problem",
                            "since": 1000.0}]
    finally:
        assert delivery.session is not None
        await delivery.session.close()
        store.close()
        sink.stop()


async def test_past_the_bound_the_oldest_are_forgotten_and_counted(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbox, "MAX_MEMORY_SENT", 3)
    sink = HttpSink().start()
    delivery, store = await delivery_for(sink, tmp_path)
    try:
        assert delivery.send_from_memory([page(f"room{i}/tcp", 1000.0 + i) for i in range(5)]) == 5
        await settle(delivery)
        assert delivery.memory_forgotten_total == 2
        assert len(delivery.memory_sent) == 3
        metrics = {m.name: m.samples[0].value for m in delivery.metrics() if m.name.startswith("netwatch_notify_mem")}
        assert metrics["netwatch_notify_memory_forgotten"] == 2
    finally:
        assert delivery.session is not None
        await delivery.session.close()
        store.close()
        sink.stop()


def test_the_journal_survives_a_cut_line_and_forgets_handled_keys(tmp_path: Path) -> None:
    path = tmp_path / outbox.JOURNAL_NAME
    journal = SentJournal(str(path))
    now = time.time()
    journal.add([("sms", "a/tcp", "nw-a/tcp-1-problem", now - 10), ("sms", "b/tcp", "nw-b/tcp-2-problem", now - 5),
                 ("sms", "old/tcp", "nw-old/tcp-3-problem", now - 2 * 86400)])
    with path.open("a") as f:
        f.write('{"channel": "sms", "check": "c/tc')      # the crash cut this line
    again = SentJournal(str(path))
    assert again.load(now) == {("sms", "a/tcp"): ("nw-a/tcp-1-problem", now - 10),
                               ("sms", "b/tcp"): ("nw-b/tcp-2-problem", now - 5)}
    again.remove({"nw-a/tcp-1-problem"})
    assert set(SentJournal(str(path)).load(now)) == {("sms", "b/tcp")}
