"""The connection of net/http.py (a socket driven by selector callbacks, TLS on memory buffers, no asyncio
transport) against real loopback servers: every way a connection can end, connect failures over several
addresses, handshakes that stop or end early, TLS 1.2 and 1.3, a request larger than the socket buffer,
and no socket or selector registration left behind."""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
import struct
import time
from typing import Any, AsyncIterator

import pytest

from netwatch.model import Outcome, Target
from netwatch.net import http as httpclient
from netwatch.net.tcp import Failure
from netwatch.probes import http
from tests.peers import webservers
from tests.peers.certs import Pki, make_pki
from tests.peers.webservers import Peer

TARGET = Target(id="portal", host="127.0.0.1")


async def run(url: str, timeout_seconds: float = 5.0, **kwargs: Any) -> Outcome:
    return await http.probe(TARGET, http.Settings(url=url, **kwargs), timeout_seconds)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def site() -> AsyncIterator[Peer]:
    peer = await webservers.start_site()
    yield peer
    await peer.close()


def links_registered(loop: asyncio.AbstractEventLoop) -> list[object]:
    """_Link callbacks still registered with the loop's selector (asyncio internals, on purpose:
    a leaked registration is invisible from outside until its file descriptor number is reused)."""
    found = []
    for key in loop._selector.get_map().values():  # type: ignore[attr-defined]
        for handle in key.data:
            owner = getattr(getattr(handle, "_callback", None), "__self__", None)
            if isinstance(owner, httpclient._Link):
                found.append(owner)
    return found


async def exchange(url: str, addresses: list[tuple[int, str]] | None = None, method: str = "GET",
                   body: bytes = b"", ca_file: str | None = None) -> httpclient.Response:
    async with asyncio.timeout(10):   # a stuck exchange fails the test instead of hanging it
        return await httpclient.exchange(
            httpclient.parse_url(url), method, (), httpclient.Trace(),
            context=lambda: ssl.create_default_context(cafile=ca_file),
            verify=True, max_body_bytes=1 << 20, keep_body=True, read_body=lambda status, headers: True,
            body=body, addresses=addresses)


def closing(reply: bytes, reset: bool = False) -> webservers.Handler:
    """Reads the request, sends `reply`, then closes (with a RST when `reset`)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        if reset:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

    return handle


@pytest.mark.parametrize("reply, reset, fragment", [
    (b"HTTP/1.1 200 OK\r\nContent-Ty", False, "connection closed inside the response head"),
    (b"HTTP/1.1 200 OK\r\nContent-Ty", True, "connection reset inside the response head"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", False, "4 body bytes, 6 short of Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf", True, "connection reset after 4 body bytes"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", False, "closed inside a chunked body"),
    (b"", True, "server reset the connection without answering"),
])
async def test_connection_ends_early(reply: bytes, reset: bool, fragment: str) -> None:
    peer = await webservers.start(closing(reply, reset))
    try:
        out = await run(peer.url("/"), must_contain=("x",))
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, "protocol"), out
    assert fragment in out.detail


async def test_close_delimited_body_arriving_in_pieces_is_whole() -> None:
    async def pieces(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for part in (b"HTTP/1.1 200 OK\r\nCont", b"ent-Type: text/plain\r\n\r\nfirst ", b"second ", b"third"):
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.02)

    peer = await webservers.start(pieces)
    try:
        out = await run(peer.url("/"), must_contain=("first second third",))
    finally:
        await peer.close()
    assert out.ok, out
    assert out.measurements["body_bytes"] == len(b"first second third")
    assert out.measurements["first_byte_seconds"] < 0.5


async def test_a_refused_address_falls_through_to_the_next(site: Peer) -> None:
    # The site listens on 127.0.0.1 only: 127.0.0.2 on the same port refuses.
    response = await exchange(site.url("/"), [(socket.AF_INET, "127.0.0.2"), (socket.AF_INET, "127.0.0.1")])
    assert response.status == 200
    assert response.trace.peer_address == "127.0.0.1"
    with pytest.raises(Failure) as failure:
        await exchange(site.url("/"), [(socket.AF_INET, "127.0.0.2"), (socket.AF_INET, "127.0.0.3")])
    assert failure.value.error == "refused"


async def test_connect_that_never_completes_times_out_in_the_connect_phase() -> None:
    # A listener whose accept queue is full drops further SYNs: the handshake never ends.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        out = await run(f"http://127.0.0.1:{port}/", timeout_seconds=0.3)
        assert time.perf_counter() - started < 1.5
    finally:
        for s in fillers:
            s.close()
        listener.close()
    assert (out.ok, out.error) == (False, "timeout"), out
    assert out.detail.startswith("connect not done within 0.3s"), out.detail
    assert links_registered(asyncio.get_running_loop()) == []


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_request_larger_than_the_socket_buffer_goes_out_whole(scheme: str, pki: Pki) -> None:
    body = bytes(range(256)) * (40 * 1024)   # 10 MiB: many sends, the writer callback's path

    async def count(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))
        got = 0
        while got < length:
            chunk = await reader.read(65536)
            if not chunk:
                break
            got += len(chunk)
            await asyncio.sleep(0)   # read slowly enough that the client's buffer fills
        writer.write(webservers.response(200, str(got).encode()))
        await writer.drain()

    peer = await webservers.start(count, webservers.server_context(pki.valid) if scheme == "https" else None)
    try:
        response = await exchange(peer.url("/form"), method="POST", body=body, ca_file=str(pki.ca_file))
    finally:
        await peer.close()
    assert (response.status, response.body) == (200, str(len(body)).encode())


async def test_nothing_stays_registered_after_failures_timeouts_and_cancels(site: Peer) -> None:
    loop = asyncio.get_running_loop()
    silent = await webservers.start(webservers.silent)
    refused = await webservers.free_port()
    try:
        outs = await asyncio.gather(
            run(site.url("/")), run(site.url("/redirect/2")), run(site.url("/short")),
            run(site.url("/trickle"), timeout_seconds=0.2), run(silent.url("/"), timeout_seconds=0.2),
            run(f"http://127.0.0.1:{refused}/"), run(site.url("/endless"), max_body_bytes=10_000, must_contain=("z",)))
        assert [o.error for o in outs] == [None, None, "protocol", "timeout", "timeout", "refused", "body_too_large"]
        task = asyncio.ensure_future(run(silent.url("/")))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert links_registered(loop) == []
    finally:
        await silent.close()


async def test_the_probe_deadline_leaves_the_task_uncancelled(site: Peer) -> None:
    """The deadline cancels the task and takes the cancellation back: a later asyncio.timeout or
    TaskGroup in the same task must not see a stale cancel request."""
    task = asyncio.current_task()
    assert task is not None
    out = await run(site.url("/trickle"), timeout_seconds=0.1)
    assert (out.ok, out.error) == (False, "timeout")
    assert "body not done within 0.1s" in out.detail
    assert task.cancelling() == 0
    await asyncio.sleep(0.01)   # a stale cancel would land here


async def test_a_cancel_from_outside_is_not_turned_into_a_timeout() -> None:
    silent = await webservers.start(webservers.silent)
    try:
        task = asyncio.ensure_future(run(silent.url("/"), timeout_seconds=5.0))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await silent.close()


# ---------------------------------------------------------------- TLS on the same connection


def tls_server(pki: Pki, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = webservers.server_context(pki.valid)
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


@pytest.mark.parametrize("maximum", [None, ssl.TLSVersion.TLSv1_2])
async def test_https_over_tls_1_3_and_1_2(pki: Pki, maximum: ssl.TLSVersion | None) -> None:
    requests: list[bytes] = []
    peer = await webservers.start(webservers.app(requests), tls_server(pki, maximum))
    try:
        out = await run(peer.url("/chunked"), ca_file=str(pki.ca_file), must_contain=("hello chunked world",))
    finally:
        await peer.close()
    assert out.ok, out
    assert requests[-1].startswith(b"GET /chunked HTTP/1.1\r\n")
    m = out.measurements
    assert 0 < m["tls_seconds"] < 1 and 0 < m["connect_seconds"] < 1 and 0 < m["first_byte_seconds"] < 1
    assert m["tls_cert_expiry_timestamp_seconds"] == pki.valid.not_after.timestamp()


@pytest.mark.parametrize("close_notify", [True, False])
async def test_https_close_delimited_body_with_and_without_close_notify(pki: Pki, close_notify: bool) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"close-delimited " * 5000)
        await writer.drain()
        if not close_notify:
            writer.transport.abort()   # TCP FIN with no TLS close_notify: what many servers do

    peer = await webservers.start(handle, tls_server(pki))
    try:
        out = await run(peer.url("/"), ca_file=str(pki.ca_file), must_contain=("close-delimited close",))
    finally:
        await peer.close()
    assert out.ok, out
    assert out.measurements["body_bytes"] == len(b"close-delimited ") * 5000


@pytest.mark.parametrize("reset", [False, True])
async def test_server_gone_during_the_handshake_is_a_tls_failure(reset: bool) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(10)   # part of the ClientHello
        if reset:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    peer = await webservers.start(hang_up)
    try:
        out = await run(peer.url("/").replace("http://", "https://"))
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, "tls"), out
    assert out.detail == "connection closed during the TLS handshake"
    assert links_registered(asyncio.get_running_loop()) == []


async def test_silent_tls_server_times_out_in_the_handshake() -> None:
    peer = await webservers.start(webservers.silent)
    try:
        out = await run(peer.url("/").replace("http://", "https://"), timeout_seconds=0.3)
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, "timeout"), out
    assert out.detail.startswith("TLS handshake not done within 0.3s")
    assert "tls_seconds" not in out.measurements
    assert links_registered(asyncio.get_running_loop()) == []


async def test_https_status_only_check_stops_at_the_cap_and_cleans_up(pki: Pki) -> None:
    async def big(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(webservers.response(200, b"p" * (3 << 20)))
        await writer.drain()

    peer = await webservers.start(big, tls_server(pki))
    try:
        out = await run(peer.url("/"), ca_file=str(pki.ca_file))
        checked = await run(peer.url("/"), ca_file=str(pki.ca_file), must_contain=("p",))
    finally:
        await peer.close()
    assert out.ok, out
    assert out.measurements["body_bytes"] == 1 << 20
    assert (checked.ok, checked.error) == (False, "body_too_large")
    assert links_registered(asyncio.get_running_loop()) == []


async def test_a_bug_in_the_parser_reaches_the_caller_at_once(site: Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not the loop's exception handler and a probe hanging until its deadline: run_check turns the
    exception into an `internal` outcome and logs it."""
    def broken(self: object) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(httpclient._ResponseReader, "_parse_head", broken)
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        started = time.perf_counter()
        with pytest.raises(RuntimeError, match="parser bug"):
            await run(site.url("/"), timeout_seconds=5.0)
        assert time.perf_counter() - started < 1
        await asyncio.sleep(0.05)
    finally:
        loop.set_exception_handler(None)
    assert errors == []
    assert links_registered(loop) == []


@pytest.mark.parametrize("path", ["/", "/redirect/1", "/short"])
async def test_a_probe_leaves_no_cycle_for_the_garbage_collector(site: Peer, path: str) -> None:
    """The reader and its link point at each other while the exchange runs; left so, every probe would
    hand its reader, futures, head and trace to the cyclic collector instead of freeing them at once."""
    await run(site.url(path))
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(5):
            await run(site.url(path))
        gc.collect()
        ours = [o for o in gc.garbage if isinstance(o, (httpclient._ResponseReader, httpclient._Link, httpclient.Trace))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert ours == []


# 10.1.2.3 and 2001:db8::1: examples, parsed only, never contacted
@pytest.mark.parametrize("host", ["127.0.0.1", "10.1.2.3", "::1", "2001:db8::1", "::ffff:127.0.0.1"])  # example
async def test_address_literals_are_recognised_as_resolve_does(host: str) -> None:
    from netwatch.net.tcp import resolve

    assert await resolve(host, 80) == [(httpclient.literal_family(host), host)]


@pytest.mark.parametrize("host", ["localhost", "portal.gov.vn", "01.2.3.4", "1.2.3", "xn--cng-thng-tin-iz1a.vn"])
def test_names_are_not_literals(host: str) -> None:
    assert httpclient.literal_family(host) == 0


async def test_ipv6_loopback() -> None:
    try:
        peer = await webservers.start(webservers.raw(webservers.response(200, b"over v6")), host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        out = await run(f"http://[::1]:{peer.port}/", must_contain=("over v6",))
    finally:
        await peer.close()
    assert out.ok, out
    assert out.measurements["dns_seconds"] == 0.0
