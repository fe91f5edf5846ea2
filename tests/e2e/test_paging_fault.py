"""End to end: a defaced portal (its http and web_integrity checks both fail) pages once and recovers once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from tests.e2e.paging_support import kinds, query, venue
from tests.peers.portal import Portal, portal_page
from tests.peers.sinks import HttpSink
from tests.support import NetwatchProcess, http_get, wait_for

MARKER = "Chào mừng Đại hội đại biểu Đảng bộ tỉnh lần thứ XV"
DEFACED = {f"<h1>{MARKER}</h1>": "<h1>Hacked by h4x0r team</h1>"}


def portal_target(portal: Portal) -> str:
    url = portal.url()
    return f"""  - id: portal
    name: Cổng thông tin
    host: 127.0.0.1
    zone: hall
    checks:
      - {{kind: http, url: "{url}", must_contain: ["{MARKER}"]}}
      - {{kind: web_integrity, url: "{url}", ignore: [".ticker", ".date"], forbidden: [hacked by]}}
"""


def test_a_defaced_portal_pages_once_and_recovers_once(
        netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], tmp_path: Path) -> None:
    portal = Portal()
    try:
        portal.set("/", portal_page())
        # the channels' group_wait (the grouping window) covers the two checks' failures reaching their verdicts
        nw = netwatch_process(venue(sinks, portal_target(portal),
                                    channel_opts="group_wait: 2s, rate_per_minute: 120, burst: 10"))
        db = tmp_path / "netwatch.db"
        wait_for(lambda: len(query(db, "SELECT DISTINCT check_id FROM transitions WHERE to_state='up'")) == 2, 20)
        portal.set("/", portal_page(**DEFACED))
        chat = sinks["chat"].wait_count(1, 20)
        sms = sinks["sms"].wait_count(1, 20)
        # both checks failed: one incident, named by the defacement (security beats the http check's failure)
        wait_for(lambda: len(query(db, "SELECT 1 FROM transitions WHERE to_state='down'")) == 2, 20)
        assert query(db, "SELECT id, check_id, category FROM incidents") == [(1, "portal/web_integrity", "security")]
        assert sorted(query(db, "SELECT check_id, how FROM incident_checks")) == [
            ("portal/http", "grouped"), ("portal/web_integrity", "named")]
        assert chat[0].body["title"] == "SECURITY ALERT #1: Cổng thông tin (Hall)"
        assert "Also failing: unexpected content" in chat[0].body["message"]
        assert sms[0].body["message"].startswith("SECURITY ALERT #1: Cong thong tin (Hall) since ")
        # the API lists the incident with its checks; the board shows both failing checks under incident #1
        (listed,) = json.loads(http_get(nw.base_url + "/api/v1/incidents")[1])["incidents"]
        assert [(m["check"], m["how"]) for m in listed["checks"]] == [("portal/web_integrity", "named"),
                                                                       ("portal/http", "grouped")]
        board = json.loads(http_get(nw.base_url + "/api/v1/board")[1])
        assert sorted((i["check"], i["id"]) for i in board["incidents"]) == [("portal/http", 1),
                                                                             ("portal/web_integrity", 1)]
        time.sleep(3.0)
        assert kinds(sinks["chat"]) == ["problem"] and kinds(sinks["sms"]) == ["problem"], "paged twice"
        portal.set("/", portal_page())
        sinks["chat"].wait_count(2, 20)
        sinks["sms"].wait_count(2, 20)
        wait_for(lambda: len(query(db, "SELECT 1 FROM transitions WHERE to_state='up' AND from_state='down'")) == 2,
                 20)
        time.sleep(2.0)
        assert kinds(sinks["chat"]) == ["problem", "resolved"]
        assert kinds(sinks["sms"]) == ["problem", "resolved"]
        assert query(db, "SELECT state FROM incidents") == [("resolved",)]
    finally:
        portal.close()
