"""Acknowledge by SMS reply end to end: `netwatch run` pages through the pty modem and reads the answer."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.e2e.paging_support import kinds, query, tcp_target, venue
from tests.peers.modem import SimulatedModem
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import NetwatchProcess, wait_for

LAN = "+84901234567"


@pytest.fixture
def sim() -> Iterator[SimulatedModem]:
    s = SimulatedModem()
    yield s
    s.close()


def test_reply_ok_acknowledges_tells_the_others_and_answers(
        netwatch_process: Callable[..., NetwatchProcess], tmp_path: Path, sim: SimulatedModem) -> None:
    chat = HttpSink().start()
    try:
        web = TcpTarget().up()
        extra = """oncall:
  contacts: [{id: lan, name: Lan, phone: "0901234567", notify: [gsm]}]
"""
        text = venue({"chat": chat}, tcp_target("web1", web.port), extra=extra).replace(
            "channels:\n", f"channels:\n  gsm: {{modem: {{device: {sim.device}, to: [\"{LAN}\"], replies: true, "
                           "replies_every: 500ms}, sms: {strip_diacritics: true, max_segments: 2}, group_wait: 0s}\n")
        nw = netwatch_process(text)
        store = tmp_path / "netwatch.db"
        wait_for(lambda: query(store, "SELECT 1 FROM transitions WHERE to_state='up'"), 10, what="web1 up")
        web.down()
        wait_for(lambda: sim.sent, 15, what="the page by SMS")
        page = sim.sent[0].text
        assert page.startswith("SU CO #1 - mat ket noi: web1 (Hall)") and 'Tra loi "OK 1"' in page, page
        sim.receive("+84999999999", "OK 1")                   # a forger: nothing happens
        sim.receive(LAN, "Xác nhận 1 đang thay cáp")
        wait_for(lambda: query(store, "SELECT state FROM incidents WHERE id=1") == [("acked",)], 10,
                 what="the SMS acknowledgement")
        assert query(store, "SELECT acked_by, ack_note FROM incidents WHERE id=1") == [("Lan", "đang thay cáp")]
        wait_for(lambda: any(s.text.startswith("Da ghi nhan: Lan") for s in sim.sent), 10, what="the answer")
        wait_for(lambda: "ack" in kinds(chat), 10, what="the ack notice in chat")
        ack = next(r for r in chat.received if r.body["dedup_key"].endswith("-ack"))
        assert "Handled by: Lan — Note: đang thay cáp" in ack.body["message"]
        audit = query(store, "SELECT who, action FROM audit ORDER BY id")
        assert audit == [("?", "sms_ignored"), ("Lan", "ack")]
        assert not any(s.number == "+84999999999" for s in sim.sent)
        assert nw.proc.poll() is None
    finally:
        chat.stop()
