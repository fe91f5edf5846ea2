"""A check that could not run (its probe pool was full) says so on the wall, in /metrics and the JSON API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

from netwatch.config import loads
from netwatch.live import LiveView
from netwatch.web import board, wall
from netwatch.web.metrics import NetwatchCollector, registry_for
from netwatch.web.services import Services
from tests.e2e.paging_support import tcp_target, venue
from tests.peers.sinks import HttpSink


def test_unknown_because_skipped_is_shown_as_such(tmp_path: Path) -> None:
    sink = HttpSink()
    config = loads(venue({"chat": sink}, tcp_target("room1", 9) + tcp_target("room2", 9))
                   .replace("{listen}", "127.0.0.1:1").replace("{store}", str(tmp_path / "nw.db")))
    live = LiveView(config.checks)
    live.note_skipped("room1/tcp", 3)
    collector = NetwatchCollector(lambda: live, lambda: None)
    services = Services(lambda: config, live, collector, registry_for(collector), cast(Any, None), lambda: None)
    now = time.time()
    data = wall.enrich(services, board.snapshot(services, now), now)
    tiles = {t["id"]: t for z in data["zones"] for t in z["tiles"]}
    assert tiles["room1"]["state"] == "unknown" and tiles["room1"]["skipped"] == 3
    assert "bỏ qua" in tiles["room1"]["words"]["vi"]
    assert tiles["room2"]["skipped"] == 0 and tiles["room2"]["words"] is None
    text = collector.render_checks()
    skipped = [line for line in text.splitlines() if line.startswith("netwatch_check_skipped_runs{")]
    assert len(skipped) == 1 and 'check="room1/tcp"' in skipped[0] and skipped[0].endswith(" 3.0")
