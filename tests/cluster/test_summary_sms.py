"""The venue's one local summary SMS per episode of lost cluster contact: the pure rule, then a real node."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import pytest

from netwatch.cluster.summary import LocalFails, SummaryEpisode, summary_extra, summary_key
from netwatch.notify import sms
from tests.cluster.proxy import Relay
from tests.cluster.test_nodes import Nodes, cluster_config, database, nodes, sinks, sql  # noqa: F401 - fixtures
from tests.e2e.paging_support import tcp_target
from tests.peers import postgres
from tests.peers.modem import SimulatedModem
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import wait_for

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def test_one_summary_per_episode_after_the_delay() -> None:
    ep = SummaryEpisode(120.0)
    assert not ep.step(0.0, False)
    assert not ep.step(10.0, True)            # lost from 10 s
    assert not ep.step(129.9, True)
    assert ep.step(130.0, True)               # 120 s later: once
    assert not ep.step(500.0, True)           # never twice in one episode
    assert not ep.step(501.0, False)          # back: the episode ends
    assert not ep.step(600.0, True)
    assert ep.step(720.0, True)               # a new episode may send again


def test_local_view_uses_each_checks_fail_after() -> None:
    local = LocalFails()
    for _ in range(2):
        local.observe("cam/tcp", "Camera hội trường", False)
        local.observe("hall/tcp", "hall", False)
    local.observe("web/http", "web", True)
    assert local.down({"cam/tcp": 2, "hall/tcp": 3, "web/http": 1}) == ["Camera hội trường"]


def test_summary_fits_the_sms_budget_and_keeps_the_key() -> None:
    key = summary_key("venue-1", "venue", 1_800_000_000.0, TZ)
    assert key.startswith("netwatch venue-1 (venue): mất liên lạc với cụm giám sát từ ")
    many = [f"camera-{i:02d}" for i in range(40)]
    text = sms.fit(key, summary_extra(many), 2, True)
    assert sms.segments(text.text) <= 2 and "mat lien lac voi cum giam sat" in text.text
    assert text.text.endswith("...")          # the list is cut, the key is whole
    assert summary_extra([]) == "Tại chỗ không thấy lỗi." and "Down here (1): x" == summary_extra(["x"], "en")


@pytest.fixture
def sim() -> Iterator[SimulatedModem]:
    m = SimulatedModem()
    yield m
    m.close()


def test_a_node_that_lost_the_cluster_sends_one_local_summary_sms(
        pg_cluster: postgres.Cluster, database: str, tmp_path: Path, sinks: dict[str, HttpSink],  # noqa: F811
        nodes: Nodes, sim: SimulatedModem) -> None:  # noqa: F811
    relay = Relay(pg_cluster.port)
    web = TcpTarget().up()
    try:
        text = cluster_config(pg_cluster, database, tmp_path, sinks, tcp_target("cam", web.port))
        text = text.replace(f"127.0.0.1:{pg_cluster.port}/", f"127.0.0.1:{relay.port}/")
        text = text.replace("  fence_margin: 2s\n", "  fence_margin: 2s\n  summary_sms_after: 3s\n")
        text = text.replace("channels:\n", f"channels:\n  gsm: {{modem: {{device: {sim.device}, to: [\"+84901234567\"]}}, "
                                           "sms: {strip_diacritics: true, max_segments: 2}, timeout: 2s}\n", 1)
        node = nodes.start(text, "venue-1")
        wait_for(lambda: sql(pg_cluster, database, "SELECT count(*) FROM results")[0][0] >= 3, 30,
                 what="results written")
        assert sim.sent == []
        relay.cut.set()
        cut_at = time.time()
        web.down()                                              # seen down here only while cut off
        wait_for(lambda: len(sim.sent) >= 1, 30, 0.2, what="the summary SMS")
        sent_after = time.time() - cut_at
        time.sleep(6.0)
        assert len(sim.sent) == 1, [s.text for s in sim.sent]   # one per episode
        body = sim.sent[0].text
        print(f"\nsummary SMS {sent_after:.2f} s after the cut: {body!r}")
        assert "venue-1" in body and "mat lien lac voi cum giam sat" in body and "cam" in body, body
        assert node.proc.poll() is None
    finally:
        web.down()
        relay.close()
