"""mail_roundtrip through aiosmtpd submission into Maildirs that a real Dovecot serves over IMAP."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from netwatch.config import loads
from netwatch.fields import FieldError, Secret
from netwatch.model import Target
from netwatch.probes import mail_roundtrip
from tests.peers.mailservers import MailLab, USERS, mail_lab

pytestmark = pytest.mark.root  # Dovecot runs as root and reads the Maildirs as nobody

TARGET = Target(id="thu-cong-vu", host="127.0.0.1")
USER = "thu@tinh.test"


@pytest.fixture
def lab() -> Iterator[MailLab]:
    with mail_lab() as lab:
        yield lab


def settings(lab: MailLab, smtp: dict[str, Any] | None = None, **kwargs: Any) -> mail_roundtrip.Settings:
    assert lab.dovecot is not None
    base: dict[str, Any] = dict(
        smtp=mail_roundtrip.SmtpEndpoint(**{"username": USER, "password": Secret(USERS[USER]),
                                            "port": lab.submission.port, **(smtp or {})}),
        imap=mail_roundtrip.ImapEndpoint(username=USER, password=Secret(USERS[USER]), port=lab.dovecot.imaps_port,
                                         tls="implicit"),
        mail_from=USER, rcpt_to=USER, ca_file=str(lab.pki.ca_file), poll_interval=0.1)
    return mail_roundtrip.Settings(**{**base, **kwargs})


def subjects(lab: MailLab) -> list[str]:
    out = []
    for path in lab.boxes.messages(USER):
        for line in path.read_bytes().split(b"\r\n"):
            if line.lower().startswith(b"subject:"):
                out.append(line[8:].strip().decode())
    return out


async def test_delivers_measures_and_leaves_nothing_behind(lab: MailLab) -> None:
    outcome = await mail_roundtrip.probe(TARGET, settings(lab), 10)
    assert outcome.ok and outcome.degraded is None, outcome
    assert 0 < outcome.measurements["delivery_seconds"] < 5
    assert outcome.measurements["stale_messages"] == 0
    assert outcome.measurements["tls_cert_expiry_timestamp_seconds"] > 0
    assert len(lab.boxes.received) == 1 and b"Auto-Submitted: auto-generated" in lab.boxes.received[0]
    assert subjects(lab) == []


async def test_stale_test_mail_is_cleaned_and_other_mail_kept(lab: MailLab) -> None:
    s = settings(lab)
    prefix = mail_roundtrip.marker(TARGET, s)
    lab.boxes.deliver(USER, f"Subject: {prefix} 0123456789abcdef\r\n\r\nleft by a run that timed out\r\n".encode())
    lab.boxes.deliver(USER, "Subject: Công văn số 12/STTTT\r\n\r\nreal mail\r\n".encode())
    other = mail_roundtrip.marker(Target(id="other", host="x"), s)
    lab.boxes.deliver(USER, f"Subject: {other} feedbeef\r\n\r\nanother check's\r\n".encode())
    outcome = await mail_roundtrip.probe(TARGET, s, 10)
    assert outcome.ok and outcome.measurements["stale_messages"] == 1, outcome
    assert sorted(subjects(lab)) == sorted(["Công văn số 12/STTTT", f"{other} feedbeef"])


async def test_slow_delivery_is_degraded(lab: MailLab) -> None:
    lab.boxes.delay_seconds = 1.0
    outcome = await mail_roundtrip.probe(TARGET, settings(lab, max_delivery_seconds=0.3), 10)
    assert outcome.ok and outcome.degraded == "mail_slow", outcome
    assert outcome.measurements["delivery_seconds"] >= 0.9
    assert subjects(lab) == []


async def test_lost_mail_is_mail_timeout_and_next_run_cleans_up(lab: MailLab) -> None:
    lab.boxes.drop = True
    outcome = await mail_roundtrip.probe(TARGET, settings(lab), 3)
    assert outcome.error == "mail_timeout", outcome
    assert "not delivered within" in outcome.detail
    lab.boxes.drop = False
    lab.boxes.deliver(USER, lab.boxes.received[-1])   # the lost message turns up late
    again = await mail_roundtrip.probe(TARGET, settings(lab), 10)
    assert again.ok and again.measurements["stale_messages"] == 1
    assert subjects(lab) == []


async def test_implicit_tls_submission(lab: MailLab) -> None:
    s = settings(lab, smtp={"port": lab.smtps.port, "tls": "implicit"})
    assert (await mail_roundtrip.probe(TARGET, s, 10)).ok


async def test_smtp_auth_failure_names_the_side(lab: MailLab) -> None:
    outcome = await mail_roundtrip.probe(TARGET, settings(lab, smtp={"password": Secret("nope-nope")}), 10)
    assert outcome.error == "auth" and outcome.detail.startswith("SMTP:"), outcome
    assert "nope-nope" not in outcome.detail


async def test_rejected_recipient(lab: MailLab) -> None:
    outcome = await mail_roundtrip.probe(TARGET, settings(lab, rcpt_to="khong-co@tinh.test"), 10)
    assert outcome.error == "mail_rejected" and "550" in outcome.detail, outcome


def test_config_with_secrets_from_env() -> None:
    config = loads("""
targets:
  - id: thu-cong-vu
    host: mail.tinh.test
    checks:
      - kind: mail_roundtrip
        interval: 5m
        timeout: 2m
        mail_from: giamsat@tinh.test
        rcpt_to: giamsat@tinh.test
        max_delivery_seconds: 30s
        smtp: {username: giamsat@tinh.test, password: "${SMTP_PW}"}
        imap: {username: giamsat@tinh.test, password: "${SMTP_PW}", port: 143}
""", env={"SMTP_PW": "bi-mat"})
    [check] = config.checks
    s = check.settings
    assert s.smtp.mode == "starttls" and s.imap.mode == "starttls" and s.smtp.password.reveal() == "bi-mat"
    assert "bi-mat" in config.secrets


def test_bad_settings() -> None:
    with pytest.raises(FieldError) as info:
        mail_roundtrip.Settings(smtp=mail_roundtrip.SmtpEndpoint("u", Secret("p")),
                                imap=mail_roundtrip.ImapEndpoint("u", Secret("p")), mail_from="nobody",
                                rcpt_to="a@b")
    assert info.value.field == "mail_from"
