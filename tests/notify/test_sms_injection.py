"""Device text cannot end an SMS early and smuggle AT commands to the 4G modem (text mode ends at Ctrl-Z)."""

from __future__ import annotations

from typing import Iterator
from zoneinfo import ZoneInfo

import pytest

from netwatch.notify import modem, templates
from tests.peers.modem import SimulatedModem

SMUGGLED = 'hall\x1aAT+CMGS="+84999999999"\rpaid\x1a\x1b'


@pytest.fixture
def sim() -> Iterator[SimulatedModem]:
    m = SimulatedModem()
    yield m
    m.close()


def test_control_characters_never_reach_the_modem(sim: SimulatedModem) -> None:
    result = modem.send_blocking(sim.device, 115200, ("0901",), f"SU CO #3 {SMUGGLED} tail", 5)
    assert result.ok, result.error
    assert [s.number for s in sim.sent] == ["0901"]
    assert not any("+84999999999" in c for c in sim.commands), sim.commands
    assert "tail" in sim.sent[0].text


def test_sms_text_cleans_the_zone() -> None:
    facts = {"kind": "problem", "title": "LinkDown sw", "state": "down", "zone": SMUGGLED, "incident": 3}
    text = templates.sms_text([facts], "en", 2, True, ZoneInfo("Asia/Ho_Chi_Minh")).text
    assert not any(ord(ch) < 0x20 for ch in text), repr(text)
