"""Acknowledge from the phone: the page a signed link in a notice opens, and its confirm button."""

from __future__ import annotations

import asyncio
import html
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from netwatch.notify import acklink, audience, message
from netwatch.web.access import SERVICES_KEY
from netwatch.web.guard import ROUTE_HEADERS

if TYPE_CHECKING:
    from netwatch.web.services import Services
    from netwatch.config import Config

log = logging.getLogger(__name__)

# Every other security header is the guard's (web/guard.py), the same as on every route.
PAGE_HEADERS = ROUTE_HEADERS["/ack/{token}"]

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Nhận xử lý sự cố", "confirm": "Tôi nhận xử lý", "note": "Ghi chú (không bắt buộc)",
        "as": "Bạn nhận xử lý với tư cách: {who}", "bad": "Liên kết không hợp lệ.",
        "bad_more": "Liên kết bị sai hoặc bị cắt. Hãy mở lại từ tin nhắn, hoặc nhận xử lý trên bảng trạng thái.",
        "expired": "Liên kết đã hết hạn.", "expired_more": "Liên kết chỉ dùng được trong {hours} giờ.",
        "acked": "Sự cố #{id} đã có người nhận xử lý: {who}, lúc {at}.",
        "resolved": "Sự cố #{id} đã khôi phục lúc {at}: không cần nhận xử lý.",
        "missing": "Không có sự cố #{id}.", "done": "Đã ghi nhận: bạn nhận xử lý sự cố #{id}.",
        "done_more": "Những người đã được báo sẽ nhận tin này cùng ghi chú của bạn.",
        "refused": "Yêu cầu bị từ chối: chỉ nút xác nhận trên trang này được dùng.",
        "state_open": "Đang mở, chưa ai nhận xử lý",
    },
    "en": {
        "title": "Take an incident", "confirm": "I'm on it", "note": "Note (optional)",
        "as": "You take it as: {who}", "bad": "This link is not valid.",
        "bad_more": "The link is wrong or cut off. Open it again from the message, or use the status board.",
        "expired": "This link has expired.", "expired_more": "Links work for {hours} hours.",
        "acked": "Incident #{id} is already being handled by {who}, since {at}.",
        "resolved": "Incident #{id} recovered at {at}: nothing to take.",
        "missing": "There is no incident #{id}.", "done": "Done: you are handling incident #{id}.",
        "done_more": "Everyone told about it gets this, with your note.",
        "refused": "Refused: only the confirm button on this page acknowledges.",
        "state_open": "Open, nobody has taken it yet",
    },
}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/ack/{token}", page)
    app.router.add_post("/ack/{token}", confirm)


def key_of(config: "Config") -> bytes:
    return acklink.key_of(config.store, config.path)


def _lang(services: "Services", channel: str) -> str:
    ch = services.config().paging.channels.get(channel)
    return ch.lang if ch is not None else "vi"


def _html(lang: str, heading: str, parts: list[str], status: int = 200) -> web.Response:
    body = "".join(parts)
    text = (f"<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{html.escape(heading)}</title><link rel=\"stylesheet\" href=\"/board/static/ack.css\"></head>"
            f"<body><h1 id=\"heading\">{html.escape(heading)}</h1>{body}</body></html>")
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


async def _judge(request: web.Request) -> tuple[acklink.Claim | None, dict[str, Any] | None, web.Response | None]:
    """The claim and the incident, or the refusal page."""
    services: "Services" = request.app[SERVICES_KEY]
    now = time.time()
    try:
        key = key_of(services.config())
    except OSError:
        return None, None, _html("vi", TEXTS["vi"]["bad"], [], 503)
    claim = acklink.verify(key, request.match_info.get("token", ""), now)
    if isinstance(claim, str) or claim.recipient not in services.config().paging.channels:
        reason = claim if isinstance(claim, str) else "bad"
        T = TEXTS["vi"]
        hours = f"{services.config().board.ack_link_lifetime / 3600:g}"
        more = T["expired_more"].format(hours=hours) if reason == "expired" else T["bad_more"]
        # who opened what stays in the log: a burst of bad tokens is someone guessing
        log.warning("acknowledgement link refused (%s) from %s", reason, request.remote or "?")
        return None, None, _html("vi", T[reason], [f"<p class=\"why\">{html.escape(more)}</p>"],
                                 410 if reason == "expired" else 403)
    inc = await asyncio.to_thread(services.incidents.get, claim.incident)
    lang = _lang(services, claim.recipient)
    T = TEXTS[lang]
    tz = services.config().site.tz
    if inc is None:
        return None, None, _html(lang, T["missing"].format(id=claim.incident), [], 404)
    if inc["state"] == "acked":
        who = message.clean(inc.get("acked_by") or "?", 80)
        return None, inc, _html(lang, T["acked"].format(id=claim.incident, who=who,
                                                        at=message.when(inc.get("acked_at"), tz, lang)),
                                _facts(inc, lang, tz), 409)
    if inc["state"] != "open":
        return None, inc, _html(lang, T["resolved"].format(id=claim.incident,
                                                           at=message.when(inc.get("resolved_at"), tz, lang)),
                                _facts(inc, lang, tz), 409)
    return claim, inc, None


def _facts(inc: dict[str, Any], lang: str, tz: Any) -> list[str]:
    n = message.from_facts({**inc.get("facts", {}), "kind": "problem", "incident": inc["id"]})
    lines = [message.headline(n, lang)] + [ln for ln in message.body_lines(n, lang, tz)  # type: ignore[arg-type]
                                           if not ln.startswith(message.WORDS[lang]["ack_board"].split(":")[0])
                                           and ln != message.ack_hint(n, lang)]  # type: ignore[arg-type]
    return [f"<p id=\"incident\"><b>{html.escape(lines[0])}</b></p>"] + \
           [f"<p>{html.escape(line)}</p>" for line in lines[1:]]


async def page(request: web.Request) -> web.Response:
    """GET shows the incident and a confirm button; it never acknowledges (link previews open GETs)."""
    claim, inc, refused = await _judge(request)
    if refused is not None or claim is None or inc is None:
        assert refused is not None
        return refused
    services: "Services" = request.app[SERVICES_KEY]
    lang = _lang(services, claim.recipient)
    T = TEXTS[lang]
    who = audience.channel_words(claim.recipient, services.config().paging, lang)
    form = (f"<form method=\"post\"><p>{html.escape(T['as'].format(who=who))}</p>"
            f"<label>{html.escape(T['note'])}<br><textarea name=\"note\" maxlength=\"500\" rows=\"3\"></textarea>"
            f"</label><p><button id=\"confirm\" type=\"submit\">{html.escape(T['confirm'])}</button></p></form>")
    return _html(lang, T["title"] + f" #{claim.incident}", _facts(inc, lang, services.config().site.tz) + [form])


def _same_origin(request: web.Request) -> bool:
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


async def confirm(request: web.Request) -> web.Response:
    """POST from the page's own button: acknowledges once, as the link's recipient, with the note."""
    services: "Services" = request.app[SERVICES_KEY]
    if not _same_origin(request) or request.content_type != "application/x-www-form-urlencoded":
        return _html("vi", TEXTS["vi"]["refused"], [], 403)
    claim, inc, refused = await _judge(request)
    if refused is not None or claim is None:
        assert refused is not None
        return refused
    form = await request.post()
    note = message.clean(str(form.get("note", "")), 500)
    lang = _lang(services, claim.recipient)
    who = audience.channel_words(claim.recipient, services.config().paging, lang)
    error = await asyncio.to_thread(services.incidents.ack, claim.incident, who, note,
                                    f"link:{claim.recipient}:{claim.nonce}", time.time())
    if error is not None:          # someone else was quicker: show who
        _, _, refused = await _judge(request)
        return refused or _html(lang, error, [], 409)
    services.wake_delivery()
    log.info("incident #%d acknowledged by %s through a link", claim.incident, who)
    T = TEXTS[lang]
    return _html(lang, T["done"].format(id=claim.incident), [f"<p>{html.escape(T['done_more'])}</p>"])
