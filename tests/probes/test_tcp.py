"""The tcp probe against real loopback services: plain, TLS and line-oriented banners."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from netwatch.fields import FieldError
from netwatch.model import Outcome, Target
from netwatch.probes import tcp
from tests.peers import webservers
from tests.peers.certs import Pki, make_pki

LOCAL = Target(id="mail", host="127.0.0.1")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


async def run(port: int, target: Target = LOCAL, timeout_seconds: float = 5.0, **kwargs: Any) -> Outcome:
    return await tcp.probe(target, tcp.Settings(port=port, **kwargs), timeout_seconds)


async def test_connect_only() -> None:
    peer = await webservers.start(webservers.silent)
    try:
        out = await run(peer.port)
    finally:
        await peer.close()
    assert out.ok, out
    assert 0 < out.measurements["connect_seconds"] < 1
    assert out.measurements["dns_seconds"] == 0.0


async def test_refused_and_dns_failure() -> None:
    out = await run(await webservers.free_port())
    assert (out.ok, out.error) == (False, "refused")
    out = await run(25, Target(id="x", host="mail.invalid"))
    assert (out.ok, out.error) == (False, "dns")


async def test_banner_match_after_send() -> None:
    peer = await webservers.start(webservers.banner(b"220 mail ESMTP ready\r\n", {b"EHLO nw\r\n": b"250 hello\r\n"}))
    try:
        greeting = await run(peer.port, expect=r"^220 ")
        reply = await run(peer.port, send="EHLO nw\r\n", expect="250 hello")
        wrong = await run(peer.port, expect="^554", timeout_seconds=0.5)
    finally:
        await peer.close()
    assert greeting.ok, greeting
    assert 0 <= greeting.measurements["banner_seconds"] < 1
    assert reply.ok, reply
    # The server greets and then waits: what arrived is judged at the deadline.
    assert (wrong.ok, wrong.error) == (False, "content")
    assert "220 mail" in wrong.detail


async def test_send_without_expect_is_delivered() -> None:
    lines: list[bytes] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines.append(await reader.readline())

    peer = await webservers.start(record)
    try:
        out = await run(peer.port, send="QUIT\r\n")
        for _ in range(200):
            if lines:
                break
            await asyncio.sleep(0.01)
    finally:
        await peer.close()
    assert out.ok, out
    assert lines == [b"QUIT\r\n"]


async def test_banner_read_is_capped() -> None:
    peer = await webservers.start(webservers.banner(b"x" * 100_000))
    try:
        out = await run(peer.port, expect="never", max_read_bytes=1000)
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, "content")
    assert len(out.detail) < 400


async def test_silent_server_times_out_waiting_for_banner() -> None:
    peer = await webservers.start(webservers.silent)
    started = time.perf_counter()
    try:
        out = await run(peer.port, expect="^220", timeout_seconds=0.3)
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, "timeout")
    assert 0.25 < time.perf_counter() - started < 1.5


async def test_tls_handshake_and_expiry(pki: Pki) -> None:
    peer = await webservers.start(webservers.banner(b"* OK IMAP ready\r\n"), webservers.server_context(pki.valid))
    try:
        out = await run(peer.port, tls=True, ca_file=str(pki.ca_file), server_name="localhost", expect=r"^\* OK")
    finally:
        await peer.close()
    assert out.ok, out
    assert 0 < out.measurements["tls_seconds"] < 1
    assert out.measurements["tls_cert_expiry_timestamp_seconds"] == pki.valid.not_after.timestamp()


@pytest.mark.parametrize("leaf_name, error", [
    ("expired", "tls_expired"),
    ("not_yet_valid", "tls_not_yet_valid"),
    ("wrong_host", "tls_hostname"),
    ("self_signed", "tls_untrusted"),
    ("weak_key", "tls_weak_key"),
])
async def test_tls_failures(pki: Pki, leaf_name: str, error: str) -> None:
    peer = await webservers.start(webservers.silent, webservers.server_context(getattr(pki, leaf_name)))
    try:
        out = await run(peer.port, tls=True, ca_file=str(pki.ca_file))
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, error), out


async def test_tls_to_a_plain_service() -> None:
    peer = await webservers.start(webservers.banner(b"220 plain text here\r\n"))
    try:
        out = await run(peer.port, tls=True, verify_tls=False)
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, "tls")


@pytest.mark.parametrize("kwargs, field", [
    ({"port": 0}, "port"),
    ({"port": 70000}, "port"),
    ({"port": 25, "server_name": "x"}, "server_name"),
    ({"port": 25, "tls": True, "ca_file": "/nonexistent"}, "ca_file"),
    ({"port": 25, "expect": "("}, "expect"),
    ({"port": 25, "max_read_bytes": 0}, "max_read_bytes"),
])
def test_settings_validation(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as info:
        tcp.Settings(**kwargs)
    assert info.value.field == field


async def test_certificate_close_to_expiry_degrades_or_fails(pki: Pki) -> None:
    peer = await webservers.start(webservers.banner(b"* OK IMAP ready\r\n"), webservers.server_context(pki.valid))
    try:
        common = dict(tls=True, ca_file=str(pki.ca_file), server_name="localhost", expect=r"^\* OK")
        warning = await run(peer.port, tls_warn_days=100, tls_critical_days=7, **common)
        critical = await run(peer.port, tls_warn_days=100, tls_critical_days=95, **common)
    finally:
        await peer.close()
    assert warning.ok and warning.degraded == "tls_cert_expiry" and "banner_seconds" in warning.measurements
    assert not critical.ok and critical.error == "tls_expiring"
