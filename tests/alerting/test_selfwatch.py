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


def test_the_bounds_are_config_and_their_defaults_see_a_stalled_store_or_resolver_within_10s(tmp_path: Path) -> None:
    """paging.self_watch: each bound configurable, frozen; the defaults plus the 0.5 s look stay within 10 s."""
    text = venue({"chat": HttpSink()}, "  - {id: web1, host: 127.0.0.1, checks: []}") \
        .replace("{listen}", "127.0.0.1:1").replace("{store}", str(tmp_path / "nw.db"))
    spec = loads(text).paging.spec.self_watch
    assert spec.store_stall + 0.5 <= 10 and spec.resolver_stall + 0.5 <= 10
    tuned = loads(text.replace("  backoff_max: 1s\n", "  backoff_max: 1s\n  self_watch: {store_stall: 2s, resolver_stall: "
                               "6s, delivery_backlog: 1m, loop_lag: 1s, skipped_runs_ratio: 0.05, "
                               "skipped_runs_min: 20}\n")).paging.spec.self_watch
    assert (tuned.store_stall, tuned.resolver_stall, tuned.delivery_backlog, tuned.loop_lag,
            tuned.skipped_runs_ratio, tuned.skipped_runs_min) == (2.0, 6.0, 60.0, 1.0, 0.05, 20)
    with pytest.raises(AttributeError):
        tuned.store_stall = 9   # type: ignore[misc]


async def test_a_configured_bound_is_the_one_applied(tmp_path: Path) -> None:
    sink = HttpSink().start()
    try:
        config = loads(venue({"chat": sink}, "  - {id: web1, host: 127.0.0.1, checks: []}")
                       .replace("  backoff_max: 1s\n", "  backoff_max: 1s\n  self_watch: {store_stall: 20s}\n")
                       .replace("{listen}", "127.0.0.1:1").replace("{store}", str(tmp_path / "nw.db")))
        seen = [Vitals(0, "", 0, 0.0)]
        watch = SelfWatch(lambda: config, lambda: seen[-1], time.time)
        seen.append(Vitals(0, "", 0, 0.0, store_pending_seconds=sw.STORE_STALL_SECONDS + 1))
        watch.check(time.time())
        assert not watch.degraded_reason        # 6 s is within the configured 20 s
        seen.append(Vitals(0, "", 0, 0.0, store_pending_seconds=21))
        watch.check(time.time())
        assert "database is locked (21 s)" in await _message(sink)
    finally:
        sink.stop()


@pytest.mark.parametrize(("value", "message"), [
    ("store_stall: 0s", "paging.self_watch.store_stall: must be greater than 0s and at most 1d"),
    ("resolver_stall: 3s", "paging.self_watch.resolver_stall: must be longer than the resolver's own timeout (4s)"),
    ("skipped_runs_ratio: 1.5", "paging.self_watch.skipped_runs_ratio: must be greater than 0 and at most 1"),
    ("skipped_runs_min: 0", "paging.self_watch.skipped_runs_min: must be at least 1"),
    ("loop_lag: soon", "paging.self_watch.loop_lag: bad duration 'soon'"),
    ("store_stal: 5s", "paging.self_watch.store_stal: unknown key; did you mean 'store_stall'?"),
])
def test_bad_bounds_exit_2_with_file_line_col(value: str, message: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.support import REPO

    path = tmp_path / "venue.yaml"
    path.write_text(venue({"chat": HttpSink()}, "  - {id: web1, host: 127.0.0.1, checks: []}")
                    .replace("  backoff_max: 1s\n", f"  backoff_max: 1s\n  self_watch: {{{value}}}\n")
                    .replace("{listen}", "127.0.0.1:1").replace("{store}", str(tmp_path / "nw.db")))
    line = path.read_text().splitlines().index(f"  self_watch: {{{value}}}") + 1
    done = subprocess.run([sys.executable, "-m", "netwatch", "check", "-c", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{path}:{line}:" in done.stderr and message in done.stderr, done.stderr
