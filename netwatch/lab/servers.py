"""Lab endpoints on loopback whose behaviour a scenario changes: websites, mail servers, banner ports."""

from __future__ import annotations

import asyncio
import html
import ssl
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web

MAX_LINE_BYTES = 1024
_KNOWN = frozenset(s.value for s in HTTPStatus)
PORTAL_MARKER = "Cổng thông tin điện tử"
DEFACED_MARKER = "Hacked by"


@dataclass
class WebSite:
    """One e-government website. `mode`: ok, error (status `error_status`), defaced; `delay_seconds` slows it."""

    id: str
    title: str
    marker: str = PORTAL_MARKER
    mode: str = "ok"
    error_status: int = 500
    error_reason: str = ""          # empty: the standard phrase of the status
    delay_seconds: float = 0.0
    requests: int = 0
    runner: web.AppRunner | None = None
    port: int = 0
    tls: ssl.SSLContext | None = None

    async def start(self, host: str = "127.0.0.1") -> "WebSite":
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, 0, ssl_context=self.tls)
        await site.start()
        self.port = int(self.runner.addresses[0][1])
        return self

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/"

    def restore(self) -> None:
        self.mode, self.delay_seconds = "ok", 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.mode == "error":
            standard = HTTPStatus(self.error_status).phrase if self.error_status in _KNOWN else "Error"
            reason = self.error_reason or standard
            return web.Response(status=self.error_status, reason=reason, text="error\n")
        if self.mode == "defaced":
            body = (f"<!doctype html><html><head><meta charset=utf-8><title>{DEFACED_MARKER} h4x0r</title></head>"
                    f"<body><h1>{DEFACED_MARKER} h4x0r team</h1></body></html>")
        else:
            title = html.escape(self.title)
            body = (f"<!doctype html><html lang=vi><head><meta charset=utf-8><title>{title}</title></head>"
                    f"<body><h1>{title}</h1><p>{html.escape(self.marker)}</p>"
                    "<p>Chào mừng Đại hội đại biểu Đảng bộ tỉnh.</p></body></html>")
        return web.Response(text=body, content_type="text/html", charset="utf-8")


@dataclass
class BannerServer:
    """A TCP service that greets with a banner line (SMTP 220, IMAP * OK, SSH-2.0) and answers a few verbs.

    `up = False` closes the listening socket (connections are refused); `blackhole` accepts connections
    and never answers (what a client sees of a host behind a dead link: a timeout); `delay_seconds`
    holds the banner back, as an overloaded mail server does.
    """

    id: str
    protocol: str = "smtp"          # smtp, imap or ssh
    delay_seconds: float = 0.0
    host: str = "127.0.0.1"
    port: int = 0
    blackhole: bool = False
    server: asyncio.base_events.Server | None = None
    connections: int = 0

    @property
    def up(self) -> bool:
        return self.server is not None

    async def start(self) -> "BannerServer":
        self.server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        self.port = int(self.server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def set_up(self, up: bool) -> None:
        if up and not self.up:
            await self.start()
        elif not up and self.up:
            await self.stop()

    def banner(self) -> bytes:
        if self.protocol == "smtp":
            return f"220 {self.id}.lab.invalid ESMTP netwatch-lab\r\n".encode()
        if self.protocol == "imap":
            return b"* OK [CAPABILITY IMAP4rev1] netwatch-lab ready\r\n"
        return b"SSH-2.0-netwatch_lab\r\n"

    def reply(self, line: bytes) -> tuple[bytes, bool]:
        """The answer to one command line and whether to close the connection after it."""
        text = line.decode("ascii", "replace").strip()
        if self.protocol == "smtp":
            verb = text[:4].upper()
            if verb == "QUIT":
                return b"221 2.0.0 bye\r\n", True
            if verb in ("EHLO", "HELO"):
                return f"250 {self.id}.lab.invalid\r\n".encode(), False
            return b"250 2.0.0 OK\r\n", False
        if self.protocol == "imap":
            tag, _, rest = text.partition(" ")
            verb = rest.split(" ", 1)[0].upper()
            if verb == "LOGOUT":
                return f"* BYE\r\n{tag} OK LOGOUT completed\r\n".encode(), True
            if verb == "CAPABILITY":
                return f"* CAPABILITY IMAP4rev1\r\n{tag} OK CAPABILITY completed\r\n".encode(), False
            if verb == "LOGIN":
                return f"{tag} OK LOGIN completed\r\n".encode(), False
            if verb in ("SELECT", "EXAMINE"):
                return (f"* 3 EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen)\r\n"
                        f"{tag} OK [READ-WRITE] {verb} completed\r\n").encode(), False
            if verb == "NOOP":
                return f"{tag} OK NOOP completed\r\n".encode(), False
            return f"{tag} NO not in the lab\r\n".encode(), False
        return b"", True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            if self.blackhole:
                await asyncio.wait_for(reader.read(MAX_LINE_BYTES), 30)
                return
            if self.delay_seconds:
                await asyncio.sleep(self.delay_seconds)
            writer.write(self.banner())
            await writer.drain()
            for _ in range(20):
                line = await asyncio.wait_for(reader.readline(), 30)
                if not line or len(line) > MAX_LINE_BYTES:
                    break
                answer, close = self.reply(line)
                writer.write(answer)
                await writer.drain()
                if close:
                    break
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, asyncio.CancelledError):
                pass


async def close_all(items: list[Any]) -> None:
    for item in items:
        if isinstance(item, WebSite):
            await item.close()
        elif isinstance(item, BannerServer):
            await item.stop()
