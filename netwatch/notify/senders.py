"""Sending one message over one channel URL: HTTP SMS/webhook gateways natively, the rest via apprise.

apprise's notify() only answers True/False, so for `json://`, `jsons://`, `form://` and `forms://`
(the generic gateways Vietnamese brandname SMS providers are reached through) netwatch builds
apprise's own payload and posts it with aiohttp, to see the status code and `Retry-After`: 429 and
5xx are retried, other 4xx mean the channel is broken. Every other scheme goes through apprise in a
worker thread under a deadline; a False from apprise is retried like a 5xx. Error texts never hold
the URL (it carries tokens): only an error class and a status.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import socket
import struct
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiohttp

from netwatch.config.paging import NATIVE
from netwatch.notify.templates import Markup, escape

APPRISE_TYPES = {"problem": "failure", "escalation": "failure", "reminder": "warning", "flapping": "warning",
                 "resolved": "success", "settled": "info", "channel_broken": "warning", "degraded": "warning",
                 "test": "info", "ack": "info"}
MAX_RETRY_AFTER_SECONDS = 3600.0


@dataclass(frozen=True)
class SendResult:
    ok: bool
    retry: bool = True                 # False: the gateway refused for good (4xx other than 429)
    retry_after_seconds: float | None = None
    error: str = ""




async def send(url: str, title: str, body: str, markup: Markup, kind: str, dedup_key: str,
               timeout_seconds: float, session: aiohttp.ClientSession | None = None) -> SendResult:
    scheme = url.split("://", 1)[0].lower()
    if scheme in NATIVE:
        return await _send_native(url, title, body, kind, dedup_key, timeout_seconds, session)
    return await _send_apprise(url, title, body, markup, kind, timeout_seconds)


def _native_request(url: str, title: str, body: str, kind: str, dedup_key: str
                    ) -> tuple[str, str, dict[str, str], dict[str, Any], str]:
    scheme = url.split("://", 1)[0].lower()
    http_scheme, encoding = NATIVE[scheme]
    parts = urllib.parse.urlsplit(url)
    headers = {"User-Agent": "netwatch"}
    payload: dict[str, Any] = {"version": "1.0", "title": title, "message": body,
                               "type": APPRISE_TYPES.get(kind, "info"), "dedup_key": dedup_key}
    query: list[tuple[str, str]] = []
    method = "POST"
    # Not parse_qsl: apprise's `+Header=` and `:field=` prefixes are literal, not encoded spaces.
    pairs = [item.partition("=") for item in parts.query.split("&") if item]
    for key, value in ((urllib.parse.unquote(k), urllib.parse.unquote(v)) for k, _, v in pairs):
        if key.startswith("+"):
            headers[key[1:]] = value
        elif key.startswith(":"):
            payload[key[1:]] = value
        elif key.startswith("-"):
            payload.pop(key[1:], None)
        elif key == "method":
            method = value.upper() or "POST"
        else:
            query.append((key, value))
    if parts.username:
        cred = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    target = urllib.parse.urlunsplit((http_scheme, netloc, parts.path or "/", urllib.parse.urlencode(query), ""))
    return method, target, headers, payload, encoding


def _reset_on_close(addr_info: Any) -> socket.socket:
    """A socket whose close resets the connection and drops whatever the kernel still holds to send.

    A send given up at its timeout must be over: with a graceful close, a request stuck behind a cut path
    stays in the kernel, is retransmitted, and reaches the gateway when the path heals, after a retry or
    another coordinator has already delivered it (a repeated page, seen in the cluster lab)."""
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return sock


def gateway_session() -> aiohttp.ClientSession:
    """The HTTP session for gateway sends (see _reset_on_close)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(socket_factory=_reset_on_close))


async def _send_native(url: str, title: str, body: str, kind: str, dedup_key: str, timeout_seconds: float,
                       session: aiohttp.ClientSession | None) -> SendResult:
    method, target, headers, payload, encoding = _native_request(url, title, body, kind, dedup_key)
    own = session is None
    sess = session or gateway_session()
    try:
        kwargs: dict[str, Any] = {"json": payload} if encoding == "json" else {"data": {k: str(v) for k, v in payload.items()}}
        async with asyncio.timeout(timeout_seconds):
            async with sess.request(method, target, headers=headers, allow_redirects=False, **kwargs) as resp:
                await resp.content.read(4096)
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
    except TimeoutError:
        return SendResult(False, True, None, f"timeout after {timeout_seconds:g}s")
    except aiohttp.ClientConnectorError as exc:
        return SendResult(False, True, None, f"connect: {exc.os_error.strerror or type(exc.os_error).__name__}")
    except aiohttp.ClientError as exc:
        return SendResult(False, True, None, f"http: {type(exc).__name__}")
    except OSError as exc:
        return SendResult(False, True, None, f"os: {exc.strerror or type(exc).__name__}")
    finally:
        if own:
            await sess.close()
    if 200 <= status < 300:
        return SendResult(True)
    if status == 429 or status >= 500 or status == 408:
        return SendResult(False, True, retry_after, f"http {status}")
    return SendResult(False, False, None, f"http {status} (rejected, not retried)")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After is seconds or an HTTP date; capped at an hour."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return min(max(0.0, when.timestamp() - (now if now is not None else time.time())), MAX_RETRY_AFTER_SECONDS)


async def _send_apprise(url: str, title: str, body: str, markup: Markup, kind: str,
                        timeout_seconds: float) -> SendResult:
    import apprise

    fmt = {"html": apprise.NotifyFormat.HTML, "markdown": apprise.NotifyFormat.MARKDOWN}.get(
        markup, apprise.NotifyFormat.TEXT)
    notify_type = {"failure": apprise.NotifyType.FAILURE, "success": apprise.NotifyType.SUCCESS,
                   "warning": apprise.NotifyType.WARNING}.get(APPRISE_TYPES.get(kind, "info"),
                                                             apprise.NotifyType.INFO)

    def blocking() -> bool:
        a = apprise.Apprise()
        if not a.add(url):
            return False
        # The title arrives as plain text and is escaped here, once: a service with a title field renders
        # it too (Discord puts it into the message's content, where `@everyone` pings and Markdown renders).
        t, b = (escape(title, markup) if markup in ("markdown", "slack") else title), body
        if markup in ("html", "markdown") and all(getattr(plugin, "title_maxlen", 1) <= 0 for plugin in a):
            t, b = "", blend(title, body, markup)
        return bool(a.notify(body=b, title=t, body_format=fmt, notify_type=notify_type))

    try:
        ok = await asyncio.wait_for(asyncio.to_thread(blocking), timeout_seconds)
    except TimeoutError:
        return SendResult(False, True, None, f"timeout after {timeout_seconds:g}s")
    except Exception as exc:  # noqa: BLE001 - a plugin's failure is a failed delivery, never a crash
        return SendResult(False, True, None, f"apprise: {type(exc).__name__}")
    return SendResult(True) if ok else SendResult(False, True, None, "apprise reported failure")


def blend(title: str, body: str, markup: Markup) -> str:
    """The title as an escaped heading of the body. apprise pastes the title of a service without a title
    field (Telegram, Mattermost) into the body as raw markup: `<` in a device name would make Telegram
    refuse the whole message, and device text would be rendered as Markdown."""
    if markup == "html":
        return f"<b>{escape(title, 'html')}</b>\n{body}"
    return f"**{escape(title, 'markdown')}**\n{body}"


def privacy_url(url: str) -> str:
    """The URL with secrets masked, for logs (apprise's privacy form where it knows the scheme)."""
    scheme = url.split("://", 1)[0].lower()
    if scheme in NATIVE:
        parts = urllib.parse.urlsplit(url)
        return f"{scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}/…"
    import apprise

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    return plugin.url(privacy=True) if plugin is not None else f"{scheme}://…"


