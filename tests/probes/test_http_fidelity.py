"""The own HTTP client reads real-world pages like browsers, curl and Go: compressed bodies, Vietnamese
code pages, consent cookies, private CAs behind an http:// URL, lenient heads, status-only checks and a
cancelled caller (issue 17, points 1-6), each against a real loopback server."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import pytest

from netwatch.egov import baselines
from netwatch.probes.contract import ProbeContext
from netwatch.model import Outcome, Target
from netwatch.net import http as httpclient
from netwatch.probes import http, web_integrity
from netwatch.store import Store
from tests.peers import fidelity_web, webservers
from tests.peers.certs import Pki, make_pki
from tests.peers.webservers import Peer

TARGET = Target(id="portal", host="127.0.0.1")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def tls_site(pki: Pki) -> AsyncIterator[Peer]:
    peer = await webservers.start_site(webservers.server_context(pki.valid))
    yield peer
    await peer.close()


@pytest.fixture
async def odd(tls_site: Peer) -> AsyncIterator[Peer]:
    peer = await fidelity_web.start(tls_site.port)
    yield peer
    await peer.close()


async def run(url: str, timeout_seconds: float = 5.0, **kwargs: Any) -> Outcome:
    return await http.probe(TARGET, http.Settings(url=url, **kwargs), timeout_seconds)


# ---------------------------------------------------------------- 1. content codings and charsets

@pytest.mark.parametrize("path", ["/gzip", "/br", "/deflate", "/deflate-raw", "/gzip-chunked", "/negotiated"])
async def test_compressed_pages_are_decoded_before_matching(odd: Peer, path: str) -> None:
    out = await run(odd.url(path), must_not_contain=("Hacked by",))
    assert (out.ok, out.error) == (False, "content"), out
    out = await run(odd.url(path), must_contain=("Cổng thông tin điện tử",))
    assert out.ok, out
    # body_bytes stays what crossed the wire: the compressed size
    assert 0 < out.measurements["body_bytes"] < len(fidelity_web.DEFACED) * (50 if "chunked" in path else 1)


async def test_accept_encoding_is_offered_only_when_the_body_is_read(odd: Peer) -> None:
    await run(odd.url("/negotiated"), must_contain=("Hacked",))
    assert b"Accept-Encoding: gzip, deflate, br\r\n" in odd.requests[-1]
    await run(odd.url("/negotiated"))
    assert b"accept-encoding" not in odd.requests[-1].lower()


@pytest.mark.parametrize("path", ["/bomb", "/br-bomb"])
async def test_decompression_bomb_fails_with_its_own_class(odd: Peer, path: str) -> None:
    out = await run(odd.url(path), must_contain=("x",))
    assert (out.ok, out.error) == (False, "decompression_bomb"), out
    assert out.measurements["body_bytes"] < 1 << 20   # stopped long before the 64 MiB


async def test_corrupt_gzip_is_a_protocol_error(odd: Peer) -> None:
    out = await run(odd.url("/corrupt-gzip"), must_contain=("x",))
    assert (out.ok, out.error) == (False, "protocol"), out
    assert "gzip" in out.detail


@pytest.mark.parametrize("path", ["/cp1258", "/meta-charset"])
async def test_windows_1258_and_meta_charset_pages_match_vietnamese_text(odd: Peer, path: str) -> None:
    out = await run(odd.url(path), must_contain=("Hà Nội",))
    assert out.ok, out
    out = await run(odd.url(path), must_not_contain=("Hà Nội",))
    assert (out.ok, out.error) == (False, "content"), out


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(str(tmp_path / "netwatch.db"))
    yield s
    s.close()


@pytest.mark.parametrize("path", ["/gzip", "/br"])
async def test_web_integrity_sees_a_defacement_in_a_compressed_page(odd: Peer, store: Store, path: str) -> None:
    context = ProbeContext(TARGET.id, baselines=baselines.Baselines.of_store(store))
    out = await web_integrity.probe(TARGET, web_integrity.Settings(url=odd.url(path)), 5.0, context)
    assert (out.ok, out.error) == (False, "forbidden_content"), out


# ---------------------------------------------------------------- 2. Set-Cookie and back to the same URL

async def test_consent_cookie_redirect_to_the_same_url_is_followed(odd: Peer) -> None:
    out = await run(odd.url("/consent"), must_contain=("welcome back",))
    assert out.ok, out
    assert out.measurements["redirects"] == 1
    assert b"Cookie: consent=yes\r\n" in odd.requests[-1]


async def test_a_real_loop_is_still_a_loop() -> None:
    site = await webservers.start_site()
    try:
        out = await run(site.url("/loop"))
    finally:
        await site.close()
    assert (out.ok, out.error) == (False, "redirects") and "loop" in out.detail


# ---------------------------------------------------------------- 3. http:// onto a private CA

async def test_http_url_redirecting_to_https_on_a_private_ca(odd: Peer, pki: Pki) -> None:
    out = await run(odd.url("/to-https"), ca_file=str(pki.ca_file), must_contain=("netwatch",))
    assert out.ok, out
    assert out.measurements["redirects"] == 1
    assert "tls_cert_expiry_timestamp_seconds" in out.measurements
    out = await run(odd.url("/to-https"))        # the system store does not know the private CA
    assert (out.ok, out.error) == (False, "tls_untrusted"), out


# ---------------------------------------------------------------- 4. lenient heads within the caps

@pytest.mark.parametrize("path, body", [
    ("/bare-lf", "ups ok"), ("/folded", "folded ok"), ("/space-colon", "space ok"),
    ("/many-headers", "many ok"), ("/big-head", "big head ok"),
])
async def test_heads_that_curl_and_browsers_accept(odd: Peer, path: str, body: str) -> None:
    out = await run(odd.url(path), must_contain=(body,))
    assert out.ok, out


async def test_folded_headers_are_unfolded() -> None:
    headers = httpclient.parse_fields([b"Content-Type: text/plain;", b" charset=utf-8", b"X-A : b"])
    assert headers == [("content-type", "text/plain; charset=utf-8"), ("x-a", "b")]


async def test_heads_past_the_size_cap_still_fail() -> None:
    peer = await webservers.start(webservers.endless_headers)
    try:
        out = await run(peer.url("/"))
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, "protocol")
    assert str(httpclient.MAX_HEAD_BYTES) in out.detail


# ---------------------------------------------------------------- 5. status-only checks

async def test_status_only_check_of_a_2_mib_page_reads_up_to_the_cap(odd: Peer) -> None:
    out = await run(odd.url("/big-page"))
    assert out.ok, out
    assert out.measurements["body_bytes"] == 1 << 20
    out = await run(odd.url("/big-page"), must_contain=("p",))   # a body check still needs all of it
    assert (out.ok, out.error) == (False, "body_too_large")
    out = await run(odd.url("/big-page"), must_contain=("p",), max_body_bytes=4 << 20)
    assert out.ok, out


# ---------------------------------------------------------------- 6. cancelled caller vs arriving head

async def test_head_arriving_after_the_caller_gave_up_is_ignored() -> None:
    """The caller's timeout cancels the head future; then the head arrives. Before the fix the protocol
    callback raised InvalidStateError inside the loop's transport ("Fatal error on ... protocol")."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    release = asyncio.Event()

    async def late(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await release.wait()
        writer.write(webservers.response(200, b"too late"))
        await writer.drain()

    peer = await webservers.start(late)
    try:
        url = httpclient.parse_url(peer.url("/"))
        protocol = httpclient._ResponseReader(False, 1 << 20, True)
        transport, _ = await loop.create_connection(lambda: protocol, "127.0.0.1", peer.port)
        transport.write(httpclient.build_request("GET", url, ()))
        protocol.head.cancel()           # the deadline fired first
        release.set()                    # ... and now the answer comes
        for _ in range(100):
            if protocol.state == httpclient._DONE:
                break
            await asyncio.sleep(0.01)
        transport.close()
        assert protocol.state == httpclient._DONE
        assert errors == []
    finally:
        loop.set_exception_handler(None)
        await peer.close()


async def test_settle_tolerates_cancelled_and_done_futures() -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[int] = loop.create_future()
    fut.cancel()
    assert httpclient.settle(fut, 1) is False
    fut = loop.create_future()
    assert httpclient.settle(fut, 1) is True and httpclient.settle(fut, 2) is False and fut.result() == 1


async def test_tls_head_after_cancel_raises_nothing_in_the_loop(pki: Pki, tls_site: Peer) -> None:
    """The same race over TLS, through the public fetch with a deadline that cancels mid-head."""
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        for delay in (0.0, 0.001, 0.002, 0.005):
            try:
                async with asyncio.timeout(delay):
                    await httpclient.fetch(httpclient.parse_url(tls_site.url("/slow?s=0.01")),
                                           context=lambda: ssl.create_default_context(cafile=str(pki.ca_file)))
            except TimeoutError:
                pass
        await asyncio.sleep(0.1)
        assert errors == []
    finally:
        loop.set_exception_handler(None)
