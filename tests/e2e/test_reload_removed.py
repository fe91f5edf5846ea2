"""A target removed by a reload gets its open incident closed ("removed from configuration"), no reminder after."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Callable

from tests.e2e.paging_support import kinds, query, tcp_target, venue
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import NetwatchProcess, wait_for


def test_removed_target_closes_its_incident(netwatch_process: Callable[..., NetwatchProcess], tmp_path: Path) -> None:
    chat = HttpSink().start()
    keep, gone = TcpTarget().up(), TcpTarget().up()
    try:
        alert = "{fail_after: 2, recover_after: 2, remind_every: 2s}"
        nw = netwatch_process(venue({"chat": chat}, tcp_target("keep", keep.port) + tcp_target("gone", gone.port),
                                    alert=alert))
        store = tmp_path / "netwatch.db"
        gone.down()
        wait_for(lambda: query(store, "SELECT id FROM incidents WHERE check_id='gone/tcp' AND state='open'"), 10,
                 what="the incident of gone/tcp")
        wait_for(lambda: "problem" in kinds(chat), 10, what="the DOWN page")
        text = nw.config_path.read_text()
        start = text.index("  - id: gone")
        nw.config_path.write_text(text[:start] + text[start:].split("]\n", 1)[1])
        nw.signal(signal.SIGHUP)
        wait_for(lambda: query(store, "SELECT state, ack_note FROM incidents WHERE check_id='gone/tcp'")
                 == [("resolved", "removed from configuration")], 10, 0.2, "the incident closed with the note")
        reminders = kinds(chat).count("reminder")
        time.sleep(5)                         # remind_every 2s: reminders would have come by now
        assert kinds(chat).count("reminder") == reminders
        assert "recovery" not in kinds(chat) and "resolved" not in kinds(chat)   # nothing recovered
        assert query(store, "SELECT COUNT(*) FROM audit WHERE what LIKE '%removed from configuration%'")[0][0] == 1
    finally:
        chat.stop()
        keep.down()
        gone.down()
