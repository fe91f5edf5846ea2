"""smtp probe against aiosmtpd on loopback (STARTTLS, implicit TLS, AUTH) and hostile scripted servers."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from netwatch.fields import FieldError, Secret
from netwatch.model import Target
from netwatch.probes import smtp
from tests.peers.mailservers import MailLab, Mailboxes, SmtpScript, USERS, mail_lab, start_smtp
from tests.support import free_port

TARGET = Target(id="mail", host="127.0.0.1")
USER = "thu@tinh.test"


@pytest.fixture(scope="module")
def lab() -> Iterator[MailLab]:
    with mail_lab(with_dovecot=False) as lab:
        yield lab


def settings(lab: MailLab, **kwargs: Any) -> smtp.Settings:
    base: dict[str, Any] = dict(port=lab.submission.port, ca_file=str(lab.pki.ca_file))
    return smtp.Settings(**{**base, **kwargs})


async def test_starttls_and_auth_with_phase_timings(lab: MailLab) -> None:
    outcome = await smtp.probe(TARGET, settings(lab, username=USER, password=Secret(USERS[USER])), 5)
    assert outcome.ok and outcome.degraded is None, outcome
    for name in ("connect_seconds", "banner_seconds", "ehlo_seconds", "tls_seconds", "auth_seconds", "total_seconds"):
        assert 0 < outcome.measurements[name] < 5, name
    assert outcome.measurements["tls_cert_expiry_timestamp_seconds"] > 0
    assert outcome.detail.startswith("banner + EHLO + TLS + AUTH in")


async def test_implicit_tls_on_the_submissions_port(lab: MailLab) -> None:
    s = settings(lab, port=lab.smtps.port, tls="implicit", username=USER, password=Secret(USERS[USER]))
    outcome = await smtp.probe(TARGET, s, 5)
    assert outcome.ok, outcome
    assert smtp.Settings(port=465).mode == "implicit" and smtp.Settings(port=587).mode == "starttls"


async def test_wrong_password_is_auth_and_never_shown(lab: MailLab) -> None:
    outcome = await smtp.probe(TARGET, settings(lab, username=USER, password=Secret("wrong-Secret-42")), 5)
    assert outcome.error == "auth", outcome
    assert "wrong-Secret-42" not in outcome.detail and "535" in outcome.detail


async def test_untrusted_without_the_private_ca(lab: MailLab) -> None:
    outcome = await smtp.probe(TARGET, settings(lab, ca_file=None), 5)
    assert outcome.error == "tls_untrusted", outcome


@pytest.mark.parametrize("leaf,error", [("expired", "tls_expired"), ("wrong_host", "tls_hostname"),
                                        ("self_signed", "tls_untrusted"), ("weak_key", "tls_weak_key")])
async def test_certificate_problems_after_starttls(lab: MailLab, leaf: str, error: str) -> None:
    controller = start_smtp(lab.boxes, getattr(lab.pki, leaf))
    try:
        outcome = await smtp.probe(TARGET, settings(lab, port=controller.port), 5)
    finally:
        controller.stop()
    assert outcome.error == error, outcome


async def test_starttls_missing_is_a_tls_failure(lab: MailLab) -> None:
    controller = start_smtp(Mailboxes(lab.directory / "plain", {}), None, require_auth=False)
    try:
        missing = await smtp.probe(TARGET, settings(lab, port=controller.port), 5)
        plain = await smtp.probe(TARGET, settings(lab, port=controller.port, tls="none", ca_file=None), 5)
    finally:
        controller.stop()
    assert missing.error == "tls" and "does not offer STARTTLS" in missing.detail
    assert plain.ok and plain.detail.startswith("banner + EHLO in")


async def test_expiry_warning_and_critical_days(lab: MailLab) -> None:
    warn = await smtp.probe(TARGET, settings(lab, tls_warn_days=120, tls_critical_days=10), 5)
    assert warn.ok and warn.degraded == "tls_cert_expiry", warn
    critical = await smtp.probe(TARGET, settings(lab, tls_warn_days=120, tls_critical_days=100), 5)
    assert critical.error == "tls_expiring"


async def test_refused_port() -> None:
    outcome = await smtp.probe(TARGET, smtp.Settings(port=free_port(), tls="none"), 2)
    assert outcome.error == "refused"


@pytest.mark.parametrize("script,repeat,error,words", [
    (b"", False, "timeout", "banner not done"),
    (b"554 5.3.2 go away\r\n", False, "protocol", "server refused the session: 554"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", False, "protocol", "not an SMTP reply"),
    (b"220-" + b"x" * 5000, True, "protocol", "longer than 8192 bytes"),
    (b"220-hello\r\n", True, "protocol", "longer than 200 lines"),
], ids=["silent", "rejecting", "not_smtp", "endless_line", "endless_reply"])
async def test_hostile_servers_fail_safely(script: bytes, repeat: bool, error: str, words: str) -> None:
    server = SmtpScript(script, repeat)
    try:
        outcome = await smtp.probe(TARGET, smtp.Settings(port=server.port, tls="none"), 1)
    finally:
        server.close()
    assert outcome.error == error, outcome
    assert words in outcome.detail and len(outcome.detail) <= 300


@pytest.mark.parametrize("kwargs,field", [
    ({"port": 0}, "port"),
    ({"username": "a@b"}, "password"),
    ({"password": Secret("x")}, "username"),
    ({"username": "a@b", "password": Secret("x"), "tls": "none"}, "tls"),
    ({"helo": "bad name"}, "helo"),
    ({"tls_warn_days": 3, "tls_critical_days": 5}, "tls_critical_days"),
])
def test_bad_settings(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as info:
        smtp.Settings(**kwargs)
    assert info.value.field == field


async def test_a_server_echoing_the_secret_is_scrubbed() -> None:
    import asyncio
    import base64

    from netwatch.net import mail
    from netwatch.net.tcp import Failure

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 hi\r\n")
        while line := await reader.readline():
            if line.startswith(b"EHLO"):
                writer.write(b"250-hi\r\n250 AUTH PLAIN\r\n")
            else:
                writer.write(b"535 you sent " + line.strip() + b" and " + base64.b64decode(line.split()[-1]) + b"\r\n")
            await writer.drain()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        session = await mail.open_smtp("127.0.0.1", server.sockets[0].getsockname()[1], "none", "127.0.0.1",
                                       lambda: None, False, "x.test", {})  # type: ignore[arg-type,return-value]
        with pytest.raises(Failure) as info:
            await session.login("u@tinh.test", "Very-Secret-9")
        session.conn.close()
    finally:
        server.close()
    assert info.value.error == "auth"
    assert "Very-Secret-9" not in info.value.detail
    assert base64.b64encode(b"\0u@tinh.test\0Very-Secret-9").decode() not in info.value.detail
