"""The demo's phone: an HTTP sink for apprise `json://` posts that keeps each message exactly as sent."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

from aiohttp import web

MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Message:
    at: float
    channel: str
    title: str
    body: str
    kind: str
    sms: bool = True

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.body}" if self.title and self.body else (self.title or self.body)

    def sms_segments(self) -> tuple[str, int]:
        """(encoding, segments) of the text as an SMS (GSM-7 160/153 or UCS-2 70/67 per segment)."""
        try:
            from netwatch.notify import sms
        except ImportError:   # the paging package is optional while it is being built
            return _segments(self.text)
        encoding, _ = sms.units(self.text)
        return encoding, sms.segments(self.text)


def _segments(text: str) -> tuple[str, int]:
    gsm = all(ord(ch) < 128 for ch in text)
    n = len(text) if gsm else len(text.encode("utf-16-le")) // 2
    single, multi = (160, 153) if gsm else (70, 67)
    return ("gsm7" if gsm else "ucs2"), (1 if n <= single else -(-n // multi))


@dataclass
class Phone:
    """Receives POST /<channel> with apprise's JSON body ({title, message, type})."""

    on_message: Callable[[Message], None] | None = None
    sms_channels: frozenset[str] = frozenset({"sms"})   # the others are chat: no segments to count
    messages: list[Message] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    async def start(self, host: str = "127.0.0.1") -> "Phone":
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_post("/{channel}", self.receive)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, host, 0).start()
        self.port = int(self.runner.addresses[0][1])
        return self

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    def url(self, channel: str) -> str:
        return f"json://127.0.0.1:{self.port}/{channel}"

    async def receive(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return web.Response(status=400, text="not JSON\n")
        if not isinstance(data, dict):
            return web.Response(status=400, text="not a JSON object\n")
        channel = request.match_info["channel"]
        message = Message(time.time(), channel, str(data.get("title") or ""), str(data.get("message") or ""),
                          str(data.get("type") or ""), sms=channel in self.sms_channels)
        self.messages.append(message)
        if self.on_message is not None:
            self.on_message(message)
        return web.json_response({"ok": True})
