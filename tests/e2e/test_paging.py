"""End to end: `netwatch run` pages real HTTP sinks once per outage and once per recovery."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from tests.e2e.paging_support import kinds, query, tcp_target, venue
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import NetwatchProcess, wait_for


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
    assert chat[0].body["title"] == "PROBLEM #1 – connection lost: web1 (Hall)"
    assert "Cause: connection refused" in chat[0].body["message"]
    assert "\nTake it: http://127.0.0.1:" in chat[0].body["message"]      # a signed link, never a shell command
    assert "Told: duty chat (other system, SMS)" in chat[0].body["message"]
    assert "/ack/" not in sms[0].body["message"]
    assert sms[0].body["message"].startswith("PROBLEM #1 - connection lost: web1 (Hall) since ")
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


def test_parent_down_pages_once_for_root_cause_and_child_alone_pages(
        netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], tmp_path: Path) -> None:
    router = TcpTarget().up()
    switches = [TcpTarget().up() for _ in range(5)]
    targets = tcp_target("core-router", router.port) + "".join(
        tcp_target(f"sw{i}", s.port, depends_on="core-router") for i, s in enumerate(switches))
    nw = netwatch_process(venue(sinks, targets))
    store = tmp_path / "netwatch.db"
    wait_for(lambda: len(query(store, "SELECT 1 FROM transitions WHERE to_state='up'")) == 6, 10)
    router.down()
    for s in switches:
        s.down()
    chat = sinks["chat"].wait_count(1, 10)
    wait_for(lambda: len(query(store, "SELECT 1 FROM transitions WHERE to_state='unreachable'")) == 5, 10,
             what="five unreachable switches")
    time.sleep(1.5)
    assert len(sinks["chat"].received) == 1 and len(sinks["sms"].received) == 1
    assert "core-router (Hall)" in chat[0].body["title"]
    assert "Affected: 5 dependent devices" in chat[0].body["message"]
    causes = query(store, "SELECT DISTINCT cause FROM transitions WHERE to_state='unreachable'")
    assert causes == [("core-router",)]
    metrics = nw.metrics()
    unreachable = [labels["check"] for labels, v in metrics["netwatch_check_state"]
                   if labels["state"] == "unreachable" and v == 1]
    assert sorted(unreachable) == [f"sw{i}/tcp" for i in range(5)]
    router.up()
    for s in switches[1:]:
        s.up()
    # sw0 stays down while its parent is back: now it is a real outage of its own and pages.
    sinks["chat"].wait_count(3, 10)
    time.sleep(1.0)
    titles = [r.body["title"] for r in sinks["chat"].received]
    assert any("RECOVERED" in t and "core-router" in t for t in titles)
    assert any(t.startswith("PROBLEM") and "sw0 (Hall)" in t for t in titles), [r.body for r in sinks["chat"].received]
    assert not any(f"sw{i} " in t for t in titles for i in range(1, 5))


def test_flapping_link_sends_one_notice_then_one_settled(
        netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], tmp_path: Path) -> None:
    link = TcpTarget().up()
    extra = "  flapping: {window: 6, high: 0.4, low: 0.2}"
    netwatch_process(venue(sinks, tcp_target("uplink", link.port), extra=extra,
                           alert="{fail_after: 1, recover_after: 1}"))
    store = tmp_path / "netwatch.db"
    wait_for(lambda: query(store, "SELECT 1 FROM transitions WHERE to_state='up'"), 10)
    end = time.time() + 6.0
    while time.time() < end:
        link.down()
        time.sleep(0.7)
        link.up()
        time.sleep(0.7)
    sinks["chat"].wait_count(1, 5)
    wait_for(lambda: "settled" in kinds(sinks["chat"]), 15, what="the settled notice")
    time.sleep(1.0)
    seen = kinds(sinks["chat"])
    assert seen.count("flapping") == 1, seen
    assert seen.count("settled") == 1, seen
    between = seen[seen.index("flapping") + 1:seen.index("settled")]
    assert between == [], seen
    assert seen.index("flapping") <= 4, seen
    settled = next(r for r in sinks["chat"].received if "settled" in r.body.get("dedup_key", ""))
    assert settled.body["title"].startswith("SETTLED") and "settled in state up" in settled.body["message"]
