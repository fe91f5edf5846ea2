"""Self-watch bounds: each stalled resource is named (vi/en, causes.SELF), sets the gauge, stops the heartbeat."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from netwatch.alerting import selfwatch as sw
from netwatch.alerting.selfwatch import SelfWatch, Vitals
from netwatch.config import loads
from tests.e2e.paging_support import venue
from tests.peers.sinks import HttpSink


def _watch(sink: HttpSink, tmp_path: Path, vitals: list[Vitals]) -> SelfWatch:
    config = loads(venue({"chat": sink}, "  - {id: web1, host: 127.0.0.1, checks: []}")
                   .replace("lang: en", "lang: vi")
                   .replace("{listen}", "127.0.0.1:1").replace("{store}", str(tmp_path / "nw.db")))
    return SelfWatch(lambda: config, lambda: vitals[-1], time.time)


async def _message(sink: HttpSink) -> str:
    for _ in range(100):
        if sink.received:
            return str(sink.received[-1].body["message"])
        await asyncio.sleep(0.05)
    raise AssertionError("no monitoring-degraded notice")


@pytest.mark.parametrize(("vitals", "words"), [
    (Vitals(0, "", 0, 0.0, store_pending_seconds=sw.STORE_STALL_SECONDS + 1), "cơ sở dữ liệu bị khóa"),
    (Vitals(0, "", 0, 0.0, resolver_pending_seconds=sw.RESOLVER_STALL_SECONDS + 1), "máy chủ DNS không trả lời"),
    (Vitals(0, "", 100, 0.0, skipped_total=50), "nhiều lượt kiểm tra bị bỏ qua"),
    (Vitals(0, "", 0, 0.0, delivery_oldest_seconds=sw.DELIVERY_BACKLOG_SECONDS + 1), "thông báo tồn đọng"),
    (Vitals(1, "database or disk is full", 0, 0.0, store_pending_seconds=3), "đĩa đầy"),
])
async def test_each_bound_is_named_in_vietnamese(vitals: Vitals, words: str, tmp_path: Path) -> None:
    sink = HttpSink().start()
    try:
        seen = [Vitals(0, "", 0, 0.0)]
        watch = _watch(sink, tmp_path, seen)
        watch.check(time.time())
        assert not watch.degraded_reason
        seen.append(vitals)
        watch.check(time.time())
        assert watch.degraded_reason
        assert words in await _message(sink)
        assert [m.samples[0].value for m in watch.metrics() if m.name == "netwatch_monitoring_degraded"] == [1.0]
    finally:
        sink.stop()


async def test_a_blocked_event_loop_is_named(tmp_path: Path) -> None:
    sink = HttpSink().start()
    try:
        watch = _watch(sink, tmp_path, [Vitals(0, "", 0, 0.0)])
        watch.loop_lag_seconds = sw.LOOP_LAG_SECONDS + 1
        watch.check(time.time())
        assert "phần mềm giám sát bị nghẽn" in await _message(sink)
    finally:
        sink.stop()


async def test_within_bounds_is_quiet_and_a_new_episode_is_told_again(tmp_path: Path) -> None:
    sink = HttpSink().start()
    try:
        seen = [Vitals(0, "", 100, 0.0, store_pending_seconds=1.0, resolver_pending_seconds=3.0, skipped_total=2,
                       delivery_oldest_seconds=30.0)]
        watch = _watch(sink, tmp_path, seen)
        watch.check(time.time())
        seen.append(Vitals(0, "", 200, 0.0, store_pending_seconds=2.0, resolver_pending_seconds=4.0, skipped_total=3))
        watch.check(time.time())
        assert not watch.degraded_reason          # one skipped run after a pause is not an alarm
        t0 = time.time()
        seen.append(Vitals(0, "", 200, 0.0, store_pending_seconds=9.0))
        watch.check(t0)
        await _message(sink)
        seen.append(Vitals(0, "", 200, 0.0))
        watch.check(t0 + 30)
        assert not watch.degraded_reason
        seen.append(Vitals(0, "", 200, 0.0, resolver_pending_seconds=20.0))
        watch.check(t0 + 90)                      # a new episode after a healthy spell: told again at once
        for _ in range(100):
            if len(sink.received) == 2:
                break
            await asyncio.sleep(0.05)
        assert "máy chủ DNS không trả lời" in str(sink.received[-1].body["message"])
    finally:
        sink.stop()
