"""Notification sinks on loopback: an HTTP gateway (apprise json://) that can misbehave, an SMTP server,
and a TCP target the test can switch off and on."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support import free_port, wait_for


@dataclass
class Received:
    at: float
    path: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def text(self) -> str:
        return f"{self.body.get('title', '')}\n{self.body.get('message', '')}"


@dataclass
class HttpSink:
    """An HTTP gateway in its own thread. Behaviour can change while it runs:

    fail_first (answer `fail_status` to the first N requests), status (answer this to every request),
    retry_after (header sent with 429/503), hang (never answer), or stop()/start() (absent).
    """

    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"   # the cluster lab binds it inside a namespace of its own
    fail_first: int = 0
    fail_status: int = 503
    status: int = 200
    retry_after: str | None = None
    hang: bool = False
    received: list[Received] = field(default_factory=list)
    attempts: list[float] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    def url(self, path: str = "/send", scheme: str = "json") -> str:
        return f"{scheme}://{self.host}:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.attempts.append(time.time())
        raw = await request.read()
        if self.hang:
            await asyncio.sleep(3600)
        if self.fail_first > 0:
            self.fail_first -= 1
            headers = {"Retry-After": self.retry_after} if self.retry_after else {}
            return web.Response(status=self.fail_status, text="busy", headers=headers)
        if self.status != 200:
            return web.Response(status=self.status, text="no")
        try:
            body = json.loads(raw) if raw.startswith(b"{") else dict(
                (k, v) for k, v in (await request.post()).items())
        except ValueError:
            body = {"raw": raw.decode("utf-8", "replace")}
        self.received.append(Received(time.time(), request.path, body, dict(request.headers)))
        return web.Response(text="ok")

    def start(self) -> "HttpSink":
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
            loop.run_until_complete(site.start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def messages(self, kind: str | None = None) -> list[Received]:
        return [r for r in self.received if kind is None or r.body.get("type") == kind]

    def wait_count(self, n: int, timeout_seconds: float = 15.0) -> list[Received]:
        wait_for(lambda: len(self.received) >= n, timeout_seconds, 0.05, f"{n} messages at the sink "
                 f"(got {len(self.received)}: {[r.body.get('title') for r in self.received]})")
        return self.received


class SmtpSink:
    """aiosmtpd on a loopback port; `messages` holds (envelope recipients, message text)."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[list[str], str]] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                sink.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> "SmtpSink":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


class TcpTarget:
    """A TCP listener on loopback: up() accepts, down() closes the socket (connection refused)."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.port = port or free_port()
        self.host = host
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def up(self) -> "TcpTarget":
        if self._sock is not None:
            return self
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(64)
        self._sock = s

        def accept(sock: socket.socket) -> None:
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                conn.close()

        self._thread = threading.Thread(target=accept, args=(s,), daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
            self._sock = None
