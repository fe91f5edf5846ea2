"""Acknowledge by SMS reply through the (simulated, pty) GSM modem: roster numbers only, answered, audited."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Iterator

import pytest

from netwatch.alerting import incidents, replies
from netwatch.config import loads
from netwatch.store import Store
from tests.peers.modem import SimulatedModem

LAN = "+84901234567"


@pytest.fixture
def sim() -> Iterator[SimulatedModem]:
    s = SimulatedModem()
    yield s
    s.close()


def _setup(tmp_path: Path, sim: SimulatedModem) -> tuple[Store, object, list[int]]:
    config = loads(f"""
store: {tmp_path / 'nw.db'}
channels:
  gsm: {{modem: {{device: {sim.device}, to: ["{LAN}"], replies: true, replies_every: 1s}},
         sms: {{strip_diacritics: true}}}}
  chat: {{urls: ["json://127.0.0.1:9/never"]}}
oncall:
  contacts: [{{id: lan, name: Lan, phone: "0901234567", notify: [gsm]}}]
targets: []
""", str(tmp_path / "venue.yaml"))
    store = Store.open(config.store)
    ids = []
    with store.transaction() as c:
        for n in range(3):
            ids.append(incidents.open_incident(c, incidents.NewIncident(
                "nw", "check", "critical", "availability", f"web{n}/tcp", {"check": f"web{n}/tcp", "since": 1.0},
                ["gsm", "chat"], check_id=f"web{n}/tcp", target_id=f"web{n}"), time.time()))
    return store, config, ids


def _poll(store: Store, config: object, woken: list[int]) -> int:
    ch = config.paging.channels["gsm"]  # type: ignore[attr-defined]
    return asyncio.run(replies.poll(store, config.paging, ch, lambda: woken.append(1)))  # type: ignore[attr-defined]


def _row(store: Store, iid: int) -> tuple[object, ...]:
    with store.lock:
        return store.conn.execute("SELECT state, acked_by, ack_note FROM incidents WHERE id=?", (iid,)).fetchone()


@pytest.mark.parametrize("text", ["OK {id}", "ok {id}", "XN {id}", "Xác nhận {id}", "xac nhan {id}"])
def test_reply_from_roster_number_acknowledges_and_is_answered(tmp_path: Path, sim: SimulatedModem,
                                                               text: str) -> None:
    store, config, ids = _setup(tmp_path, sim)
    woken: list[int] = []
    sim.receive(LAN, text.format(id=ids[1]) + " đang khởi động lại")
    assert _poll(store, config, woken) == 1
    assert _row(store, ids[1]) == ("acked", "Lan", "đang khởi động lại")
    assert _row(store, ids[0])[0] == "open" and woken
    assert sim.inbox == {}                       # read messages are deleted from the SIM
    assert [(s.number, s.text) for s in sim.sent] == [(LAN, f"Da ghi nhan: Lan nhan xu ly su co #{ids[1]}.")]
    with store.lock:
        told = store.conn.execute("SELECT channel, facts FROM outbox WHERE kind='ack' ORDER BY id").fetchall()
        audit = store.conn.execute("SELECT who, action, source FROM audit").fetchall()
    assert [ch for ch, _ in told] == ["gsm", "chat"] and "đang khởi động lại" in told[1][1]
    assert audit == [("Lan", "ack", "sms:+84901234***")]


def test_forged_unknown_and_bad_replies_change_nothing_and_are_audited(tmp_path: Path, sim: SimulatedModem) -> None:
    store, config, ids = _setup(tmp_path, sim)
    sim.receive("+84987654321", f"OK {ids[0]}")       # not on the roster
    sim.receive(LAN, "OK 999")                         # no such incident
    sim.receive(LAN, "đã nhận, cảm ơn")               # not an acknowledgement
    assert _poll(store, config, []) == 3
    assert all(_row(store, i)[0] == "open" for i in ids)
    assert sim.sent == []                              # a forger learns nothing
    with store.lock:
        audit = store.conn.execute("SELECT who, action, what, source FROM audit ORDER BY id").fetchall()
    assert [(a[0], a[1]) for a in audit] == [("?", "sms_ignored"), ("Lan", "sms_ignored"), ("Lan", "sms_ignored")]
    assert audit[0][3] == "sms:+84987654***" and "no incident #999" in audit[1][2]


def test_second_reply_learns_who_already_has_it(tmp_path: Path, sim: SimulatedModem) -> None:
    store, config, ids = _setup(tmp_path, sim)
    with store.transaction() as c:
        incidents.ack(c, ids[2], "Minh", "", "board", time.time())
    sim.receive(LAN, f"ok {ids[2]}")
    _poll(store, config, [])
    assert _row(store, ids[2])[1] == "Minh"
    assert sim.sent[0].text == f"Su co #{ids[2]} da co nguoi xu ly: Minh."


def test_parse_reply() -> None:
    assert replies.parse_reply("Xác nhận 12 đã xong") == (12, "đã xong")
    assert replies.parse_reply("OK#7") == (7, "")
    for text in ("", "OK", "12", "hello 12", "OKAY 12"):
        assert replies.parse_reply(text) is None, text
