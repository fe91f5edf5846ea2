"""End to end: `netwatch run` pages real HTTP sinks once per outage and once per recovery."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.e2e.paging_support import kinds, query, tcp_target, venue
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import NetwatchProcess, wait_for


@pytest.fixture
def sinks() -> Iterator[dict[str, HttpSink]]:
    made = {"chat": HttpSink().start(), "sms": HttpSink().start()}
    yield made
    for s in made.values():
        s.stop()


def test_blip_is_quiet_outage_pages_once_and_recovery_once(
        netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], tmp_path: Path) -> None:
    web = TcpTarget().up()
    nw = netwatch_process(venue(sinks, tcp_target("web1", web.port), alert="{fail_after: 3, recover_after: 2}"))
    wait_for(lambda: query(tmp_path / "netwatch.db", "SELECT 1 FROM transitions WHERE to_state='up'"), 10)
    web.down()
    time.sleep(0.6)                      # at most two failing results: shorter than fail_after
    web.up()
    time.sleep(2.0)
    assert sinks["chat"].received == [] and sinks["sms"].received == []
    broke_at = time.time()
    web.down()
    chat = sinks["chat"].wait_count(1, 10)
    sms = sinks["sms"].wait_count(1, 10)
    assert chat[0].at - broke_at < 4.0
    assert "PROBLEM DOWN #1" in chat[0].body["title"] and "web1/tcp" in chat[0].body["title"]
    assert "refused" in chat[0].body["message"] and "Hall" in chat[0].body["message"]
    assert "netwatch ack 1" in chat[0].body["message"]
    assert sms[0].body["message"].startswith("PROBLEM DOWN #1: web1/tcp")
    assert len(sms[0].body["message"]) <= 160
    time.sleep(1.5)
    assert len(sinks["chat"].received) == 1, "the outage paged more than once"
    web.up()
    sinks["chat"].wait_count(2, 10)
    sinks["sms"].wait_count(2, 10)
    time.sleep(1.0)
    assert kinds(sinks["chat"]) == ["problem", "resolved"]
    assert kinds(sinks["sms"]) == ["problem", "resolved"]
    assert sinks["chat"].received[1].body["type"] == "success"
    rows = query(tmp_path / "netwatch.db", "SELECT state, resolved_at IS NOT NULL FROM incidents")
    assert rows == [("resolved", 1)]
    metrics = nw.metrics()
    assert any(v == 2 for labels, v in metrics["netwatch_notify_deliveries_total"] if labels["channel"] == "chat")
    assert "127.0.0.1:%d" % sinks["chat"].port not in nw.log()
