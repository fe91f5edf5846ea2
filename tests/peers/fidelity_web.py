"""A loopback web server with the real-world oddities netwatch must read like browsers, curl and Go do."""

from __future__ import annotations

import asyncio
import functools
import gzip
import zlib

import brotli

from tests.peers import webservers
from tests.peers.webservers import Handler, Peer

DEFACED = ("<html><body><h1>Hacked by Anonymous</h1><p>Cổng thông tin điện tử</p>"
           + "<p>Tin tức, sự kiện của tỉnh.</p>" * 40 + "</body></html>").encode()
# "Hà Nội" as Windows-1258 spells it: à is precomposed, ộ is ô (0xF4) plus a combining dot below (0xF2).
HANOI_CP1258 = b"H\xe0 N\xf4\xf2i"
BOMB_DECODED_BYTES = 64 << 20
BIG_PAGE_BYTES = 2 << 20


@functools.cache
def bomb() -> bytes:
    """64 MiB of zeros, gzip-compressed to ~64 KiB."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = bytes(1 << 20)
    return b"".join([z.compress(chunk) for _ in range(BOMB_DECODED_BYTES >> 20)] + [z.flush()])


@functools.cache
def br_bomb() -> bytes:
    """64 MiB of zeros, brotli-compressed to a few hundred bytes."""
    return brotli.compress(bytes(BOMB_DECODED_BYTES), quality=5)


def _reply(body: bytes, *headers: str, status: str = "200 OK", eol: bytes = b"\r\n") -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return eol.join(h.encode("latin-1") for h in head) + eol + eol + body


def app(requests: list[bytes], https_port: list[int]) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        requests.append(head)
        target = head.split(b"\r\n", 1)[0].decode().split(" ")[1]
        path, _, _ = target.partition("?")
        lower = head.lower()
        html = "Content-Type: text/html; charset=utf-8"
        if path == "/gzip":            # compressed whether asked or not (a misconfigured cache does that)
            writer.write(_reply(gzip.compress(DEFACED), html, "Content-Encoding: gzip"))
        elif path == "/negotiated":    # compressed only when asked, like most servers
            if b"accept-encoding:" in lower and b"gzip" in lower.split(b"accept-encoding:", 1)[1].split(b"\r\n")[0]:
                writer.write(_reply(gzip.compress(DEFACED), html, "Content-Encoding: gzip", "Vary: Accept-Encoding"))
            else:
                writer.write(_reply(DEFACED, html))
        elif path == "/br":
            writer.write(_reply(brotli.compress(DEFACED), html, "Content-Encoding: br"))
        elif path == "/deflate":
            writer.write(_reply(zlib.compress(DEFACED), html, "Content-Encoding: deflate"))
        elif path == "/deflate-raw":   # old IIS: "deflate" without the zlib wrapper
            raw = zlib.compressobj(6, zlib.DEFLATED, -15)
            writer.write(_reply(raw.compress(DEFACED) + raw.flush(), html, "Content-Encoding: deflate"))
        elif path == "/gzip-chunked":
            data = gzip.compress(DEFACED * 50)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(data), 100):
                part = data[i:i + 100]
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            writer.write(b"0\r\n\r\n")
        elif path == "/bomb":
            writer.write(_reply(bomb(), html, "Content-Encoding: gzip"))
        elif path == "/br-bomb":
            writer.write(_reply(br_bomb(), html, "Content-Encoding: br"))
        elif path == "/corrupt-gzip":
            writer.write(_reply(b"\x1f\x8b\x08\x00garbage-not-deflate" * 4, html, "Content-Encoding: gzip"))
        elif path == "/cp1258":
            writer.write(_reply(b"<p>" + HANOI_CP1258 + b"</p>", "Content-Type: text/html; charset=windows-1258"))
        elif path == "/meta-charset":
            body = (b'<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1258">'
                    b"</head><body>" + HANOI_CP1258 + b"</body></html>")
            writer.write(_reply(body, "Content-Type: text/html"))
        elif path == "/consent":        # sets a cookie and sends the visitor back to the same URL
            if b"cookie: consent=yes" in lower:
                writer.write(_reply(b"welcome back", "Content-Type: text/plain"))
            else:
                writer.write(_reply(b"", "Location: /consent", "Set-Cookie: consent=yes; Path=/",
                                    status="302 Found"))
        elif path == "/to-https":
            writer.write(_reply(b"", f"Location: https://localhost:{https_port[0]}/", status="301 Moved"))
        elif path == "/bare-lf":        # UPS cards and cameras: LF-only line ends
            writer.write(_reply(b"ups ok", "Content-Type: text/plain", "Server: embedded", eol=b"\n"))
        elif path == "/folded":         # obsolete line folding (RFC 9112 5.2)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain;\r\n charset=utf-8\r\n"
                         b"X-Long: first\r\n\tsecond\r\nContent-Length: 9\r\n\r\nfolded ok")
        elif path == "/space-colon":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type : text/plain\r\nContent-Length : 8\r\n\r\nspace ok")
        elif path == "/many-headers":
            writer.write(_reply(b"many ok", *(f"X-H{i}: {i}" for i in range(150))))
        elif path == "/big-head":       # 100 KiB of head: a fat CSP and cookies behind several proxies
            writer.write(_reply(b"big head ok", *(f"X-Policy-{i}: {'p' * 1000}" for i in range(100))))
        elif path == "/big-page":       # a 2 MiB portal page, all of it sent
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG_PAGE_BYTES)
            for _ in range(BIG_PAGE_BYTES >> 16):
                writer.write(b"p" * 65536)
                await writer.drain()
        else:
            writer.write(_reply(b"not found", status="404 Not Found"))
        await writer.drain()

    return handle


async def start(https_port: int = 0) -> Peer:
    """The odd site on plain HTTP; `https_port` is where /to-https sends visitors."""
    requests: list[bytes] = []
    peer = await webservers.start(app(requests, [https_port]))
    peer.requests = requests
    return peer
