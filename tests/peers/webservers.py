"""Loopback HTTP(S) and TCP peers for probe tests, well-behaved and hostile, on asyncio streams."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from tests.peers.certs import Leaf

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Peer:
    server: asyncio.Server
    host: str
    port: int
    scheme: str = "http"
    requests: list[bytes] = field(default_factory=list)

    def url(self, path: str = "/", host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    async def close(self) -> None:
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)


def server_context(leaf: Leaf) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # lets the server load and offer the weak-key certificate
    ctx.load_cert_chain(leaf.cert_file, leaf.key_file)
    return ctx


async def start(handler: Handler, context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> Peer:
    """Serve `handler` on a free loopback port (port 0: the OS picks)."""

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, host, 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    return Peer(server, host, port, "https" if context else "http")


async def free_port() -> int:
    """A port nobody listens on: bind, read the number, close."""
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    return port


def response(status: int, body: bytes = b"", headers: tuple[tuple[str, str], ...] = (),
             reason: str = "Whatever") -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Content-Type: text/plain; charset=utf-8"]
    head += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


HOME_BODY = "Cổng thông tin điện tử — netwatch test page\n".encode()


def app(requests: list[bytes]) -> Handler:
    """The well-behaved site plus the hostile paths the tests name."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        requests.append(head)
        method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
        path, _, query = target.partition("?")
        if path == "/":
            writer.write(response(200, b"" if method == "HEAD" else HOME_BODY))
        elif path == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for part in (b"hello ", b"chunked ", b"world"):
                writer.write(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
                await writer.drain()
            writer.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        elif path == "/close":
            writer.write(b"HTTP/1.0 200 OK\r\n\r\nclose-delimited body")
        elif path.startswith("/redirect/"):
            left = int(path.rsplit("/", 1)[1])
            if left == 0:
                writer.write(response(200, b"arrived"))
            else:
                writer.write(response(302, b"moved", (("Location", f"/redirect/{left - 1}"),)))
        elif path == "/loop":
            writer.write(response(301, headers=(("Location", "/loop"),)))
        elif path == "/away":
            writer.write(response(307, headers=(("Location", query.removeprefix("to=")),)))
        elif path == "/echo":
            writer.write(response(200, head))
        elif path.startswith("/status/"):
            writer.write(response(int(path.rsplit("/", 1)[1]), b"status page"))
        elif path == "/big":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2097152\r\n\r\n")
            writer.write(b"x" * 65536)
        elif path == "/big-close":
            writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
            for _ in range(64):
                writer.write(b"y" * 65536)
                await writer.drain()
        elif path == "/endless":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"z" * 16384
            while True:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
        elif path == "/trickle":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
            while True:
                writer.write(b".")
                await writer.drain()
                await asyncio.sleep(0.05)
        elif path == "/slow":
            await asyncio.sleep(float(query.removeprefix("s=")))
            writer.write(response(200, b"slow but fine"))
        elif path == "/short":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        elif path == "/latin1":
            writer.write(response(200, "Hà Nội".encode("latin-1", "replace"),
                                  (("Content-Type", "text/plain; charset=rot13"),)))
        else:
            writer.write(response(404, b"not found"))
        await writer.drain()

    return handle


async def start_site(context: ssl.SSLContext | None = None) -> Peer:
    requests: list[bytes] = []
    peer = await start(app(requests), context)
    peer.requests = requests
    return peer


def raw(reply: bytes, read_request: bool = True) -> Handler:
    """A server that answers anything with the same bytes, then closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if read_request:
            await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()

    return handle


async def endless_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\n")
    n = 0
    while True:
        writer.write(b"X-Filler-%d: %s\r\n" % (n, b"f" * 100))
        n += 1
        await writer.drain()


def banner(greeting: bytes, replies: dict[bytes, bytes] | None = None) -> Handler:
    """A line-oriented TCP service (SMTP-like): greets, then answers known lines."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if greeting:
            writer.write(greeting)
            await writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                return
            writer.write((replies or {}).get(line, b"500 what?\r\n"))
            await writer.drain()

    return handle


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts and never says a word."""
    await reader.read()
