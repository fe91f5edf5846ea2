"""Channels against real peers: the GSM modem on a pseudo-terminal, SMTP through apprise, notify-test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from netwatch.notify import modem
from tests.peers.modem import SimulatedModem
from tests.peers.sinks import HttpSink, SmtpSink
from tests.support import REPO, wait_for


@pytest.fixture
def sim() -> Iterator[SimulatedModem]:
    m = SimulatedModem()
    yield m
    m.close()


def test_modem_sends_gsm7_text(sim: SimulatedModem) -> None:
    result = modem.send_blocking(sim.device, 115200, ("+84901234567",), "SU CO #3 core-router Mat ket noi", 5)
    assert result.ok, result.error
    assert [(s.number, s.text, s.dcs) for s in sim.sent] == [("+84901234567", "SU CO #3 core-router Mat ket noi", 0)]
    assert sim.commands[:3] == ["AT", "ATE0", "AT+CMGF=1"]


def test_modem_sends_vietnamese_as_ucs2_to_each_number(sim: SimulatedModem) -> None:
    text = "SỰ CỐ #4 Mất kết nối Hội trường"
    result = modem.send_blocking(sim.device, 115200, ("0901", "0902"), text, 5)
    assert result.ok, result.error
    assert [(s.number, s.text, s.charset, s.dcs) for s in sim.sent] == [
        ("0901", text, "UCS2", 8), ("0902", text, "UCS2", 8)]


def test_modem_error_and_silence_are_failures(sim: SimulatedModem) -> None:
    sim.fail_sends = 1
    result = modem.send_blocking(sim.device, 115200, ("0901",), "hello", 5)
    assert not result.ok and "+CMS ERROR: 500" in result.error
    master, slave = os.openpty()              # a port with nothing answering
    try:
        result = modem.send_blocking(os.ttyname(slave), 115200, ("0901",), "hello", 0.5)
        assert not result.ok and "timeout" in result.error
    finally:
        os.close(master)
        os.close(slave)
    assert not modem.send_blocking("/nonexistent/ttyUSB9", 115200, ("0901",), "x", 1).ok


def test_long_text_goes_as_single_sms_parts() -> None:
    assert [len(p) for p in modem.split_parts("a" * 400)] == [160, 160, 80]
    assert [len(p) for p in modem.split_parts("ấ" * 100)] == [70, 30]


def notify_test(config: Path, channel: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netwatch", "--lang", "en", "notify-test", "-c", str(config), channel],
                          cwd=REPO, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "GW_PASSWORD": "sms-secret-pw", **(env or {})})


def test_notify_test_reaches_smtp_modem_and_gateway(tmp_path: Path, sim: SimulatedModem) -> None:
    smtp = SmtpSink().start()
    gateway = HttpSink().start()
    try:
        config = tmp_path / "venue.yaml"
        config.write_text(f"""
store: {tmp_path / 'nw.db'}
channels:
  mail: {{urls: ["mailto://127.0.0.1:{smtp.port}?from=netwatch@venue.test&to=duty@venue.test&mode=insecure"],
          lang: en}}
  gsm: {{modem: {{device: {sim.device}, to: ["+84901234567"]}}, sms: {{strip_diacritics: true}}}}
  gw: {{urls: ["json://u:${{GW_PASSWORD}}@127.0.0.1:{gateway.port}/send?:to=0901234567&+X-Brand=NOC"],
        sms: {{strip_diacritics: true}}}}
targets: []
""")
        done = notify_test(config, "mail")
        assert done.returncode == 0, done.stdout + done.stderr
        wait_for(lambda: smtp.messages, 10, what="the e-mail")
        assert smtp.messages[0][0] == ["duty@venue.test"] and "TEST" in smtp.messages[0][1]
        done = notify_test(config, "gsm")
        assert done.returncode == 0, done.stdout + done.stderr
        assert sim.sent and sim.sent[0].text.startswith("THU NGHIEM") and sim.sent[0].dcs == 0
        done = notify_test(config, "gw", {"GW_PASSWORD": "sms-secret-pw"})
        assert done.returncode == 0, done.stdout + done.stderr
        got = gateway.received[0]
        assert got.body["to"] == "0901234567" and got.headers["X-Brand"] == "NOC"
        assert got.headers["Authorization"].startswith("Basic ")
        assert "sms-secret-pw" not in done.stdout + done.stderr
        gateway.status = 400
        done = notify_test(config, "gw", {"GW_PASSWORD": "sms-secret-pw"})
        assert done.returncode == 1 and "http 400" in done.stdout and "sms-secret-pw" not in done.stdout
        assert notify_test(config, "nope").returncode == 2
    finally:
        smtp.stop()
        gateway.stop()
