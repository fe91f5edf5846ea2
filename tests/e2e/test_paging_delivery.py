"""End to end: delivery survives dead gateways, kill -9 and 429s; refused channels and slow ones."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from tests.e2e.paging_support import kinds, page_key, query, tcp_target, venue
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import NetwatchProcess, wait_for


def test_kill9_mid_incident_loses_nothing_and_never_pages_twice(
        netwatch_process: Callable[..., NetwatchProcess], tmp_path: Path) -> None:
    chat = HttpSink()                    # absent for now: the gateway is down
    web = TcpTarget().up()
    config = venue({"chat": chat}, tcp_target("web1", web.port))
    nw = netwatch_process(config)
    store = tmp_path / "netwatch.db"
    wait_for(lambda: query(store, "SELECT 1 FROM transitions WHERE to_state='up'"), 10)
    web.down()
    wait_for(lambda: query(store, "SELECT 1 FROM outbox WHERE state='pending' AND attempts > 0"), 10,
             what="a DOWN notice waiting for the gateway")
    nw.kill9()
    chat.start()
    try:
        nw2 = netwatch_process(config)
        chat.wait_count(1, 10)
        time.sleep(2.0)
        assert kinds(chat) == ["problem"]
        assert query(store, "SELECT COUNT(*) FROM incidents") == [(1,)]
        web.up()
        chat.wait_count(2, 10)
        time.sleep(1.0)
        assert kinds(chat) == ["problem", "resolved"]
        assert chat.received[0].body["dedup_key"] == stored_key(store)
        assert nw2.proc.poll() is None
    finally:
        chat.stop()


def test_gateway_down_then_back_keeps_order(netwatch_process: Callable[..., NetwatchProcess], tmp_path: Path) -> None:
    chat = HttpSink(fail_first=6, fail_status=503).start()
    web = TcpTarget().up()
    try:
        netwatch_process(venue({"chat": chat}, tcp_target("web1", web.port)))
        store = tmp_path / "netwatch.db"
        wait_for(lambda: query(store, "SELECT 1 FROM transitions WHERE to_state='up'"), 10)
        web.down()
        wait_for(lambda: query(store, "SELECT 1 FROM incidents"), 10)
        web.up()
        wait_for(lambda: query(store, "SELECT 1 FROM incidents WHERE state='resolved'"), 10)
        chat.wait_count(1, 15)
        wait_for(lambda: len(kinds(chat)) >= 2, 10, what="both notices")
        time.sleep(1.0)
        assert kinds(chat) == ["problem", "resolved"]
        assert len(chat.attempts) >= 7
        errors = query(store, "SELECT last_error FROM outbox WHERE last_error IS NOT NULL")
        assert errors and all(e == "http 503" for (e,) in errors)
    finally:
        chat.stop()


def test_retry_after_refused_channel_fallback_and_slow_channel(
        netwatch_process: Callable[..., NetwatchProcess], tmp_path: Path) -> None:
    chat = HttpSink(fail_first=1, fail_status=429, retry_after="2").start()
    bad = HttpSink(status=401).start()
    slow = HttpSink(hang=True).start()
    sinks = {"chat": chat, "bad": bad, "slow": slow}
    web = TcpTarget().up()
    try:
        config = venue(sinks, tcp_target("web1", web.port)).replace(
            "  bad: {", "  bad: {fallback: chat, ").replace("  slow: {", "  slow: {timeout: 1s, ")
        nw = netwatch_process(config)
        store = tmp_path / "netwatch.db"
        wait_for(lambda: query(store, "SELECT 1 FROM transitions WHERE to_state='up'"), 10)
        web.down()
        wait_for(lambda: chat.received, 10, what="the page on chat")
        assert chat.received[0].at - chat.attempts[0] >= 1.9     # Retry-After: 2 honoured
        wait_for(lambda: len(chat.received) >= 3, 10, what="the rerouted page and the broken-channel notice")
        time.sleep(1.0)
        assert len(bad.attempts) == 1, "a 401 must not be retried"
        seen = kinds(chat)
        assert seen.count("problem") == 2 and "broken" in seen
        broken = next(r for r in chat.received if r.body["dedup_key"].startswith("broken-"))
        assert "bad" in broken.body["title"] and "http 401" in broken.body["message"]
        assert query(store, "SELECT state FROM outbox WHERE channel='bad'") == [("failed",)]
        # The hanging channel is retried on its own clock; it never held chat back.
        assert len(slow.attempts) >= 2 and slow.received == []
        metrics = nw.metrics()
        assert any(v >= 2 for labels, v in metrics["netwatch_notify_failures_total"] if labels["channel"] == "slow")
        assert any(v >= 1 for labels, v in metrics["netwatch_notify_queue_depth"] if labels["channel"] == "slow")
    finally:
        for s in sinks.values():
            s.stop()


def test_zone_outage_is_grouped_and_rate_limited(netwatch_process: Callable[..., NetwatchProcess],
                                                 tmp_path: Path) -> None:
    sms = HttpSink().start()
    targets = [TcpTarget().up() for _ in range(20)]
    try:
        config = venue({"sms": sms}, "".join(tcp_target(f"room{i}", t.port) for i, t in enumerate(targets)),
                       channel_opts="group_wait: 1s, rate_per_minute: 4, burst: 2")
        netwatch_process(config)
        store = tmp_path / "netwatch.db"
        wait_for(lambda: len(query(store, "SELECT 1 FROM transitions WHERE to_state='up'")) == 20, 10)
        for t in targets:
            t.down()
        wait_for(lambda: len(query(store, "SELECT 1 FROM incidents")) == 20, 10, what="twenty incidents")
        first_decided = query(store, "SELECT MIN(created_at) FROM outbox")[0][0]
        sms.wait_count(1, 10)
        assert sms.received[0].at - first_decided <= 2.5       # grouping never holds the first page > 2 s
        wait_for(lambda: query(store, "SELECT COUNT(*) FROM outbox WHERE state='sent'")[0][0] == 20, 30,
                 what="every notice delivered")
        assert len(sms.received) <= 3
        listed = " ".join(k for r in sms.received for k in r.body["dedup_key"].split(","))
        assert sorted(listed.split()) == sorted(page_key(c, since) for c, since in
                                                query(store, "SELECT check_id, since FROM incidents"))
        assert all(len(r.body["message"]) <= 160 for r in sms.received)
    finally:
        sms.stop()
        for t in targets:
            t.down()


def test_heartbeat_pings_and_store_failure_raises_monitoring_degraded(
        netwatch_process: Callable[..., NetwatchProcess], tmp_path: Path) -> None:
    chat = HttpSink().start()
    beat = HttpSink().start()
    try:
        extra = f'  heartbeat: {{url: "http://127.0.0.1:{beat.port}/ping/secret-hb-id", every: 500ms}}'
        nw = netwatch_process(venue({"chat": chat}, "  - {id: web1, host: 127.0.0.1, checks: []}", extra=extra))
        beat.wait_count(3, 10)
        assert all(r.path == "/ping/secret-hb-id" for r in beat.received)
        metrics = nw.metrics()
        assert metrics["netwatch_heartbeat_last_success_timestamp_seconds"][0][1] > time.time() - 5
        assert "secret-hb-id" not in str(metrics)
    finally:
        chat.stop()
        beat.stop()


async def test_store_failure_sends_monitoring_degraded_directly(tmp_path: Path) -> None:
    import asyncio

    from netwatch.app import Monitor
    from netwatch.config import loads
    from netwatch.store import Store

    chat = HttpSink().start()
    try:
        config = loads(venue({"chat": chat}, "  - {id: web1, host: 127.0.0.1, checks: []}")
                       .replace("{listen}", "127.0.0.1:1").replace("{store}", str(tmp_path / "nw.db")))
        store = Store.open(config.store)
        monitor = Monitor(config, store)
        monitor.recorder.errors_total += 1
        monitor.recorder.last_error = "disk I/O error"
        monitor.paging.selfwatch.check(time.time())
        for _ in range(100):
            if chat.received:
                break
            await asyncio.sleep(0.05)
        assert "MONITORING DEGRADED" in chat.received[0].body["title"]
        assert "disk I/O error" in chat.received[0].body["message"]
        assert monitor.paging.selfwatch.degraded_reason
        store.close()
    finally:
        chat.stop()


def test_channel_down_too_long_falls_back(netwatch_process: Callable[..., NetwatchProcess], tmp_path: Path) -> None:
    sms = HttpSink()                      # the HTTP SMS gateway is absent the whole time
    chat = HttpSink().start()
    web = TcpTarget().up()
    try:
        config = venue({"sms": sms, "chat": chat}, tcp_target("web1", web.port, alert="{notify: [sms]}")).replace(
            "  sms: {", "  sms: {fallback: chat, fallback_after: 2s, ")
        netwatch_process(config)
        store = tmp_path / "netwatch.db"
        wait_for(lambda: query(store, "SELECT 1 FROM transitions WHERE to_state='up'"), 10)
        web.down()
        wait_for(lambda: query(store, "SELECT created_at FROM outbox WHERE channel='sms'"), 10)
        (queued_at,), = query(store, "SELECT created_at FROM outbox WHERE channel='sms'")
        got = chat.wait_count(1, 10)
        assert got[0].at - queued_at >= 1.9
        assert got[0].body["dedup_key"] == stored_key(store) and "web1 (" in got[0].body["title"]
        assert query(store, "SELECT state FROM outbox WHERE channel='sms'") == [("rerouted",)]
    finally:
        chat.stop()


def stored_key(store: Path) -> str:
    """The dedup key of the one incident's DOWN page: its check and its start in ms (the same from memory)."""
    (check_id, since), = query(store, "SELECT check_id, since FROM incidents")
    return page_key(check_id, since)
