"""Who may read and who may act: the viewer token, operators (token or password), shared by every route."""

from __future__ import annotations

import asyncio
import base64
import hmac

from aiohttp import web

from netwatch.alerting.operators import authenticate
from netwatch.config.paging import Operator
from netwatch.web.services import Services

SERVICES_KEY: web.AppKey[Services] = web.AppKey("services")

# Password checks cost ~50 ms of PBKDF2 each: off the event loop (probes keep their timing), a few at a
# time, and beyond a short queue refused, so a flood of guesses cannot stall monitoring.
VERIFY_KEY: web.AppKey[tuple[asyncio.Semaphore, asyncio.Semaphore]] = web.AppKey("password_verifications")
VERIFY_PARALLEL = 2
VERIFY_QUEUE = 8


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _basic(request: web.Request) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return None, None
    try:
        name, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None, None
    return name, password


def source_of(request: web.Request) -> str:
    return f"http:{request.remote or '?'}"


def may_read(request: web.Request) -> bool:
    """Beyond loopback, with `board.viewer_token` set, the JSON API wants that token (Bearer or the board's
    cookie) or an operator's, like the board itself: incident titles and ack notes are not for the hall's Wi-Fi."""
    config = request.app[SERVICES_KEY].config()
    secret = config.board.viewer_token
    if secret is None or config.listen.loopback:
        return True
    offered = bearer(request) or request.cookies.get("netwatch_board", "")
    if offered and hmac.compare_digest(offered.encode(), secret.reveal().encode()):
        return True
    return authenticate(config.paging, token=bearer(request)) is not None


def refuse_read() -> web.Response:
    return web.json_response({"error": "a viewer token is needed (Authorization: Bearer TOKEN)"}, status=401,
                             headers={"WWW-Authenticate": 'Bearer realm="netwatch"'})


class Busy(Exception):
    """Too many password checks queued: answer 429."""


async def operator_of(request: web.Request, token: str | None, name: str | None,
                      password: str | None) -> Operator | None:
    """`authenticate` for a request handler: a password is checked in a thread under the app's limits."""
    paging = request.app[SERVICES_KEY].config().paging
    if token or not (name and password):
        return authenticate(paging, token=token)
    admitted, running = request.app[VERIFY_KEY]
    if admitted.locked():
        raise Busy()
    async with admitted, running:
        return await asyncio.to_thread(authenticate, paging, None, name, password)


async def request_operator(request: web.Request) -> Operator | None:
    """The operator behind the Authorization header (Bearer token, or Basic name:password); may raise Busy."""
    name, password = _basic(request)
    return await operator_of(request, bearer(request), name, password)


def incident_id_of(request: web.Request) -> int | None:
    """The `{id}` of the path (`12` or `#12`), or None when it is not a storable incident number."""
    try:
        incident_id = int(request.match_info["id"].lstrip("#"))
    except ValueError:
        return None
    return incident_id if 0 < incident_id < 2**63 else None  # SQLite's integers: more overflows
