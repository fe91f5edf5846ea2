"""imap probe against a Dovecot of the test's own on loopback (implicit TLS and STARTTLS) and hostile servers."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from netwatch.fields import FieldError, Secret
from netwatch.model import Target
from netwatch.probes import imap
from tests.peers.mailservers import MailLab, SmtpScript, USERS, mail_lab
from tests.support import free_port

TARGET = Target(id="mail", host="127.0.0.1")
USER = "thu@tinh.test"


@pytest.fixture(scope="module")
def lab() -> Iterator[MailLab]:
    with mail_lab() as lab:
        yield lab


def settings(lab: MailLab, **kwargs: Any) -> imap.Settings:
    assert lab.dovecot is not None
    base: dict[str, Any] = dict(username=USER, password=Secret(USERS[USER]), port=lab.dovecot.imaps_port,
                                tls="implicit", ca_file=str(lab.pki.ca_file))
    return imap.Settings(**{**base, **kwargs})


@pytest.mark.root
async def test_implicit_tls_login_and_select(lab: MailLab) -> None:
    lab.boxes.deliver(USER, b"Subject: hello\r\n\r\nbody\r\n")
    outcome = await imap.probe(TARGET, settings(lab), 5)
    assert outcome.ok and outcome.degraded is None, outcome
    for name in ("connect_seconds", "tls_seconds", "greeting_seconds", "login_seconds", "select_seconds"):
        assert 0 < outcome.measurements[name] < 5, name
    assert outcome.measurements["messages"] >= 1
    assert outcome.measurements["tls_cert_expiry_timestamp_seconds"] > 0


@pytest.mark.root
async def test_starttls_login(lab: MailLab) -> None:
    assert lab.dovecot is not None
    outcome = await imap.probe(TARGET, settings(lab, port=lab.dovecot.imap_port, tls="starttls"), 5)
    assert outcome.ok, outcome
    assert imap.Settings(username="u", password=Secret("p"), port=143).mode == "starttls"


@pytest.mark.root
async def test_non_ascii_password_goes_as_a_literal(lab: MailLab) -> None:
    user = "vanthu@tinh.test"
    outcome = await imap.probe(TARGET, settings(lab, username=user, password=Secret(USERS[user])), 5)
    assert outcome.ok, outcome


@pytest.mark.root
async def test_wrong_password_is_auth_and_never_shown(lab: MailLab) -> None:
    outcome = await imap.probe(TARGET, settings(lab, password=Secret("Wrong-Pass-77")), 10)
    assert outcome.error == "auth", outcome
    assert "Wrong-Pass-77" not in outcome.detail


@pytest.mark.root
async def test_missing_mailbox(lab: MailLab) -> None:
    outcome = await imap.probe(TARGET, settings(lab, mailbox="Không có"), 5)
    assert outcome.error == "mailbox", outcome


@pytest.mark.root
async def test_certificate_name_and_trust(lab: MailLab) -> None:
    wrong_name = await imap.probe(TARGET, settings(lab, server_name="mail.other.test"), 5)
    assert wrong_name.error == "tls_hostname", wrong_name
    untrusted = await imap.probe(TARGET, settings(lab, ca_file=None), 5)
    assert untrusted.error == "tls_untrusted", untrusted
    warn = await imap.probe(TARGET, settings(lab, tls_warn_days=365, tls_critical_days=0), 5)
    assert warn.ok and warn.degraded == "tls_cert_expiry"


async def test_refused_port() -> None:
    s = imap.Settings(username="u", password=Secret("p"), port=free_port())
    assert (await imap.probe(TARGET, s, 2)).error == "refused"


@pytest.mark.parametrize("script,repeat,error,words", [
    (b"", False, "timeout", "greeting not done"),
    (b"* BYE too many connections\r\n", False, "refused", "refused the session"),
    (b"220 smtp.tinh.test ESMTP\r\n", False, "protocol", "not an IMAP greeting"),
    (b"* OK {99999999}\r\n", False, "protocol", "over the cap"),
    (b"* OK " + b"x" * 10000, True, "protocol", "longer than 8192 bytes"),
], ids=["silent", "bye", "smtp_banner", "huge_literal", "endless_line"])
async def test_hostile_servers_fail_safely(script: bytes, repeat: bool, error: str, words: str) -> None:
    server = SmtpScript(script, repeat)
    try:
        s = imap.Settings(username="u", password=Secret("p"), port=server.port, tls="starttls")
        outcome = await imap.probe(TARGET, s, 1)
    finally:
        server.close()
    assert outcome.error == error, outcome
    assert words in outcome.detail


@pytest.mark.parametrize("kwargs,field", [
    ({"tls": "none"}, "tls"),
    ({"mailbox": "a\r\nb"}, "mailbox"),
    ({"password": Secret("")}, "username"),
])
def test_bad_settings(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as info:
        imap.Settings(**{"username": "u", "password": Secret("p"), **kwargs})
    assert info.value.field == field


async def test_a_server_echoing_the_secret_is_scrubbed() -> None:
    import asyncio

    from netwatch.net import mail
    from netwatch.net.tcp import Failure

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK ready\r\n")
        while line := await reader.readline():
            tag = line.split()[0]
            writer.write(tag + b" NO you said " + line.strip() + b"\r\n")
            await writer.drain()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    try:
        with pytest.raises(Failure) as info:
            await mail.open_imap("127.0.0.1", server.sockets[0].getsockname()[1], "none", "127.0.0.1",
                                 lambda: None, False, "u", "Very-Secret-9", {})  # type: ignore[arg-type,return-value]
    finally:
        server.close()
    assert info.value.error == "auth"
    assert "Very-Secret-9" not in info.value.detail and "********" in info.value.detail
