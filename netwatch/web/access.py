"""Who may read and who may act: the viewer token, operators (token or password), failed-login limits."""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import math
import time

from aiohttp import web

from netwatch.alerting.operators import audit, authenticate
from netwatch.config.paging import Operator
from netwatch.web.guard import client_address, trusted_local
from netwatch.web.logins import LoginLimiter
from netwatch.web.services import Services

log = logging.getLogger(__name__)

SERVICES_KEY: web.AppKey[Services] = web.AppKey("services")
LIMITER_KEY: web.AppKey[LoginLimiter] = web.AppKey("login_limiter")

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
    return f"http:{client_address(request)}"


def limiter_of(request: web.Request) -> LoginLimiter:
    return request.app[LIMITER_KEY]


async def record_failure(request: web.Request, account: str | None, credential: str) -> None:
    """One failed sign-in: counted for the limiter and the metric, logged, and written to the audit log."""
    services = request.app[SERVICES_KEY]
    source = client_address(request)
    limiter_of(request).failed(source, account, credential)
    # The name is the caller's text: shown with repr, capped, never trusted as an account.
    shown = repr(account[:64]) if account else "-"
    log.warning("failed sign-in on the web side from %s (account %s, %s, %s %s)", source, shown, credential,
                request.method, request.path[:100])
    what = f"{credential} for {request.method} {request.path[:100]}"
    who, where, now = (account or "?")[:64], source_of(request), time.time()
    await asyncio.to_thread(services.incidents.write, lambda tx: audit(tx, who, "login_failed", what, where, now))


async def read_refusal(request: web.Request) -> web.Response | None:
    """None when the caller may read the JSON API; else the 401/429 to answer. Beyond loopback, with
    `board.viewer_token` set, it wants that token (Bearer or the board's cookie) or an operator's, like the
    board itself: incident titles and ack notes are not for the hall's Wi-Fi."""
    config = request.app[SERVICES_KEY].config()
    secret = config.board.viewer_token
    if secret is None or trusted_local(request, config.listen):
        return None
    offered = bearer(request) or request.cookies.get("netwatch_board", "")
    wait = limiter_of(request).retry_after_seconds(client_address(request), None)
    if wait > 0:
        return throttled(wait)
    if offered and hmac.compare_digest(offered.encode(), secret.reveal().encode()):
        return None
    if offered and authenticate(config.paging, token=offered) is not None:
        return None
    if offered:
        await record_failure(request, None, "token")
    return web.json_response({"error": "a viewer token is needed (Authorization: Bearer TOKEN)"}, status=401,
                             headers={"WWW-Authenticate": 'Bearer realm="netwatch"'})


class Busy(Exception):
    """Too many password checks queued, or this source/account failed too often: answer 429."""

    def __init__(self, retry_after_seconds: float = 1.0) -> None:
        super().__init__(retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds


def throttled(retry_after_seconds: float) -> web.Response:
    return web.json_response({"error": "too many sign-in attempts; try again later"}, status=429,
                             headers={"Retry-After": str(max(1, math.ceil(retry_after_seconds)))})


async def operator_of(request: web.Request, token: str | None, name: str | None,
                      password: str | None) -> Operator | None:
    """`authenticate` for a request handler, under the failed-login limits; a password is checked in a
    thread (so is an unknown name, against a dummy hash of the same cost). Raises Busy for a 429."""
    paging = request.app[SERVICES_KEY].config().paging
    if not token and not (name and password):
        return None   # no credentials offered: not a failed sign-in
    source = client_address(request)
    account = None if token else name
    wait = limiter_of(request).retry_after_seconds(source, account)
    if wait > 0:
        raise Busy(wait)
    if token:
        op = authenticate(paging, token=token)
    else:
        admitted, running = request.app[VERIFY_KEY]
        if admitted.locked():
            raise Busy()
        async with admitted, running:
            op = await asyncio.to_thread(authenticate, paging, None, name, password)
    if op is None:
        await record_failure(request, account, "token" if token else "password")
    else:
        limiter_of(request).succeeded(source, op.name)
    return op


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
