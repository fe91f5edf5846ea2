"""End to end: a store held by an external `BEGIN EXCLUSIVE` never holds back a page (issue 13)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from tests.e2e.paging_support import page_key, query, tcp_target, venue
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import NetwatchProcess, wait_for

LOCK_SECONDS = 20.0
NORMAL_BOUND_SECONDS = 7.0

HOLD_LOCK = """
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
c.execute("ROLLBACK")
"""


def _gauge(nw: NetwatchProcess, name: str) -> float:
    return nw.metrics()[name][0][1]


def test_locked_database_pages_from_memory_and_says_so(netwatch_process: Callable[..., NetwatchProcess],
                                                      tmp_path: Path) -> None:
    sms = HttpSink().start()
    chat = HttpSink().start()
    beat = HttpSink().start()
    room = TcpTarget().up()
    holder: subprocess.Popen[str] | None = None
    try:
        extra = f'  heartbeat: {{url: "http://127.0.0.1:{beat.port}/ping", every: 500ms}}'
        config = venue({"chat": chat, "sms": sms}, tcp_target("room1", room.port), extra=extra)
        nw = netwatch_process(config.replace("lang: en", "lang: vi"))
        store = tmp_path / "netwatch.db"
        wait_for(lambda: len(query(store, "SELECT 1 FROM transitions WHERE to_state='up'")) == 1, 10)
        beat.wait_count(2, 10)
        assert _gauge(nw, "netwatch_monitoring_degraded") == 0

        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(store), str(LOCK_SECONDS)],
                                  stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        locked_at = time.time()
        room.down()
        down_at = time.time()

        # The page arrives from memory within the normal bound, though nothing can be written.
        wait_for(lambda: any("room1" in r.body.get("message", "") for r in sms.received), NORMAL_BOUND_SECONDS,
                 0.1, "the DOWN page while the database is locked")
        page = next(r for r in sms.received if "room1" in r.body.get("message", ""))
        assert page.at - down_at <= NORMAL_BOUND_SECONDS
        assert query(store, "SELECT COUNT(*) FROM incidents")[0][0] == 0     # really not written yet

        # "Monitoring degraded" names the locked database in Vietnamese; the gauge is 1; the heartbeat stops.
        wait_for(lambda: any("cơ sở dữ liệu bị khóa" in r.body.get("message", "") for r in chat.received),
                 10 - (time.time() - locked_at) + 2, 0.1, "the degraded notice naming the locked database")
        assert time.time() - locked_at <= 12
        assert _gauge(nw, "netwatch_monitoring_degraded") == 1
        beats = len(beat.received)
        time.sleep(3)
        assert len(beat.received) == beats, "the dead-man heartbeat must stop while degraded"
        assert _gauge(nw, "netwatch_monitoring_degraded") == 1

        # The store comes back: the incident and its outbox row are written, marked sent, not paged twice.
        holder.wait(LOCK_SECONDS + 10)
        wait_for(lambda: query(store, "SELECT COUNT(*) FROM outbox WHERE kind='problem' AND state='sent'")[0][0] == 2,
                 40, 0.2, "the outbox rows written and marked sent")
        wait_for(lambda: _gauge(nw, "netwatch_monitoring_degraded") == 0, 10, 0.2, "degraded cleared")
        beat.wait_count(beats + 1, 10)
        time.sleep(2)
        assert len([r for r in sms.received if "room1" in r.body.get("message", "")]) == 1
        assert nw.metrics()["netwatch_notify_sent_from_memory_total"][0][1] == 2
        # The page from memory carried the key its outbox row got later: the check and its outage's start.
        (check_id, since), = query(store, "SELECT check_id, since FROM incidents")
        assert page.body["dedup_key"] == page_key(check_id, since)
        assert query(store, "SELECT DISTINCT dedup_key FROM outbox WHERE kind='problem'") == [(page_key(check_id, since),)]
        for sink in (sms, chat):      # exactly one delivery per dedup key at each gateway
            keys = [k for r in sink.received for k in r.body["dedup_key"].split(",")]
            assert len(keys) == len(set(keys)), keys
        assert not (tmp_path / ".netwatch-sent-from-memory.jsonl").read_text().strip()   # matched: forgotten
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.wait()
        room.down()
        for sink in (sms, chat, beat):
            sink.stop()


def test_kill9_after_a_page_from_memory_repeats_it_with_the_same_key(
        netwatch_process: Callable[..., NetwatchProcess], tmp_path: Path) -> None:
    """Sent from memory, then killed before the store was back: the decision is lost with the process, the new
    process sees the outage again (with a later start) and sends it again, under the first copy's key."""
    sms = HttpSink().start()
    room = TcpTarget().up()
    holder: subprocess.Popen[str] | None = None
    try:
        config = venue({"sms": sms}, tcp_target("room1", room.port))
        nw = netwatch_process(config)
        store = tmp_path / "netwatch.db"
        wait_for(lambda: len(query(store, "SELECT 1 FROM transitions WHERE to_state='up'")) == 1, 10)
        holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(store), str(LOCK_SECONDS)],
                                  stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        room.down()
        first = sms.wait_count(1, NORMAL_BOUND_SECONDS)[0]
        nw.kill9()
        holder.kill()
        holder.wait()
        assert query(store, "SELECT COUNT(*) FROM transitions WHERE to_state='down'") == [(0,)]   # never written

        netwatch_process(config)
        wait_for(lambda: query(store, "SELECT 1 FROM outbox WHERE kind='problem' AND state='sent'"), 20, 0.2,
                 "the repeated DOWN page sent from the outbox")
        time.sleep(1.0)
        keys = [r.body["dedup_key"] for r in sms.received]
        assert keys == [first.body["dedup_key"]] * 2, keys      # at-least-once: twice, one key
        assert query(store, "SELECT dedup_key FROM outbox WHERE kind='problem'") == [(first.body["dedup_key"],)]
        assert not (tmp_path / ".netwatch-sent-from-memory.jsonl").read_text().strip()
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.wait()
        room.down()
        sms.stop()
