"""HTTP endpoints for paging: incident list and ack, and the Alertmanager webhook relay."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import math
import time
from typing import Any

from aiohttp import web

from netwatch.alerting import incidents
from netwatch.config.paging import Operator
from netwatch.alerting.operators import allowed, audit, authenticate
from netwatch.web.guard import client_address, trusted_local
from netwatch.web.logins import LoginCollector, LoginLimiter
from netwatch.web.server import MONITOR_KEY

log = logging.getLogger(__name__)

MAX_ALERTS = 1000
MAX_LABEL_CHARS = 200
MAX_ANNOTATION_CHARS = 1000
AM_SEVERITY = {"critical": "critical", "page": "critical", "error": "critical", "high": "critical",
               "warning": "warning", "warn": "warning", "info": "warning", "low": "warning"}


# Password checks cost ~50 ms of PBKDF2 each: off the event loop (probes keep their timing), a few at a
# time, and beyond a short queue refused, so a flood of guesses cannot stall monitoring.
VERIFY_KEY: web.AppKey[tuple[asyncio.Semaphore, asyncio.Semaphore]] = web.AppKey("password_verifications")
VERIFY_PARALLEL = 2
VERIFY_QUEUE = 8
LIMITER_KEY: web.AppKey[LoginLimiter] = web.AppKey("login_limiter")


def add_routes(app: web.Application) -> None:
    app[VERIFY_KEY] = (asyncio.Semaphore(VERIFY_PARALLEL + VERIFY_QUEUE), asyncio.Semaphore(VERIFY_PARALLEL))
    app[LIMITER_KEY] = limiter = LoginLimiter()
    app[MONITOR_KEY].registry.register(LoginCollector(limiter))  # type: ignore[arg-type]
    app.router.add_get("/api/v1/incidents", list_incidents)
    app.router.add_post("/api/v1/incidents/{id}/ack", ack)
    app.router.add_post("/api/v1/alertmanager", alertmanager)


def _bearer(request: web.Request) -> str | None:
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


def _source(request: web.Request) -> str:
    return f"http:{client_address(request)}"


def limiter_of(request: web.Request) -> LoginLimiter:
    return request.app[LIMITER_KEY]


async def record_failure(request: web.Request, account: str | None, credential: str) -> None:
    """One failed sign-in: counted for the limiter and the metric, logged, and written to the audit log."""
    monitor = request.app[MONITOR_KEY]
    source = client_address(request)
    limiter_of(request).failed(source, account, credential)
    # The name is the caller's text: shown with repr, capped, never trusted as an account.
    shown = repr(account[:64]) if account else "-"
    log.warning("failed sign-in on the web side from %s (account %s, %s, %s %s)", source, shown, credential,
                request.method, request.path[:100])

    def write() -> None:
        with monitor.store.transaction() as c:
            audit(c, (account or "?")[:64], "login_failed", f"{credential} for {request.method} {request.path[:100]}",
                  _source(request), time.time())

    await asyncio.to_thread(write)


async def read_refusal(request: web.Request) -> web.Response | None:
    """None when the caller may read the JSON API; else the 401/429 to answer. Beyond loopback, with
    `board.viewer_token` set, it wants that token (Bearer or the board's cookie) or an operator's, like the
    board itself: incident titles and ack notes are not for the hall's Wi-Fi."""
    monitor = request.app[MONITOR_KEY]
    secret = monitor.config.board.viewer_token
    if secret is None or trusted_local(request, monitor.config.listen):
        return None
    offered = _bearer(request) or request.cookies.get("netwatch_board", "")
    wait = limiter_of(request).retry_after_seconds(client_address(request), None)
    if wait > 0:
        return throttled(wait)
    if offered and hmac.compare_digest(offered.encode(), secret.reveal().encode()):
        return None
    if offered and authenticate(monitor.config.paging, token=offered) is not None:
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
    paging = request.app[MONITOR_KEY].config.paging
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
    return await operator_of(request, _bearer(request), name, password)


def incident_id_of(request: web.Request) -> int | None:
    """The `{id}` of the path (`12` or `#12`), or None when it is not a storable incident number."""
    try:
        incident_id = int(request.match_info["id"].lstrip("#"))
    except ValueError:
        return None
    return incident_id if 0 < incident_id < 2**63 else None  # SQLite's integers: more overflows


async def list_incidents(request: web.Request) -> web.Response:
    refusal = await read_refusal(request)
    if refusal is not None:
        return refusal
    monitor = request.app[MONITOR_KEY]
    states = tuple(request.query.get("state", "open,acked").split(","))

    def read() -> list[dict[str, Any]]:
        with monitor.store.lock:
            return incidents.list_incidents(monitor.store.conn, states)

    return web.json_response({"incidents": await asyncio.to_thread(read)})


async def ack(request: web.Request) -> web.Response:
    monitor = request.app[MONITOR_KEY]
    try:
        op = await request_operator(request)
    except Busy as exc:
        return throttled(exc.retry_after_seconds)
    if op is None:
        return web.json_response({"error": "an operator is required (Authorization: Bearer TOKEN, or Basic "
                                           "with an operator's name and password)"}, status=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="netwatch"'})
    if not allowed(op, "operator"):
        return web.json_response({"error": f"operator {op.name} is a {op.role}"}, status=403)
    incident_id = incident_id_of(request)
    if incident_id is None:
        return web.json_response({"error": "bad incident id"}, status=400)
    note = ""
    if request.can_read_body:
        try:
            body = await request.json()
            note = str(body.get("note", ""))[:500] if isinstance(body, dict) else ""
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "body must be JSON"}, status=400)

    def write() -> str | None:
        with monitor.store.transaction() as c:
            return incidents.ack(c, incident_id, op.name, note, _source(request), time.time())

    error = await asyncio.to_thread(write)
    if error is not None:
        return web.json_response({"error": error}, status=404 if error.startswith("no incident") else 409)
    monitor.paging.delivery.wake.set()
    return web.json_response({"incident": incident_id, "acked_by": op.name})


async def alertmanager(request: web.Request) -> web.Response:
    """Alertmanager's webhook (payload version 4): each alert becomes or resolves an incident."""
    monitor = request.app[MONITOR_KEY]
    spec = monitor.config.paging.spec.alertmanager
    if spec.token is not None:
        token = _bearer(request) or ""
        wait = limiter_of(request).retry_after_seconds(client_address(request), None)
        if wait > 0:
            return throttled(wait)
        if not hmac.compare_digest(token.encode(), spec.token.reveal().encode()):
            if token:
                await record_failure(request, None, "token")
            return web.json_response({"error": "bad or missing bearer token"}, status=401)
    elif not trusted_local(request, monitor.config.listen):
        # Anyone who can reach the port could open incidents and page the duty engineer.
        return web.json_response({"error": "netwatch listens beyond loopback: set paging.alertmanager.token "
                                           "to accept Alertmanager's webhook"}, status=403)
    try:
        payload = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return web.json_response({"error": "body must be JSON"}, status=400)
    if not isinstance(payload, dict) or str(payload.get("version")) != "4" or not isinstance(payload.get("alerts"), list):
        return web.json_response({"error": "expected an Alertmanager webhook payload, version 4"}, status=400)
    alerts = [a for a in payload["alerts"][:MAX_ALERTS] if isinstance(a, dict)
              and isinstance(a.get("labels") or {}, dict) and isinstance(a.get("annotations") or {}, dict)]
    engine = monitor.paging
    now = time.time()

    def write() -> tuple[int, int]:
        opened = resolved = 0
        with monitor.store.transaction() as c:
            for alert in alerts:
                # Capped: these become incident titles, chat messages and SMS.
                labels = {str(k)[:MAX_LABEL_CHARS]: str(v)[:MAX_LABEL_CHARS]
                          for k, v in (alert.get("labels") or {}).items()}
                ann = {str(k)[:MAX_LABEL_CHARS]: str(v)[:MAX_ANNOTATION_CHARS]
                       for k, v in (alert.get("annotations") or {}).items()}
                fingerprint = str(alert.get("fingerprint") or "") or hashlib.sha256(
                    json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
                key = f"am-{fingerprint[:64]}"
                current = incidents.find_open(c, key=key)
                if alert.get("status") == "resolved":
                    if current is not None:
                        incidents.resolve(c, current[0], now)
                        resolved += 1
                    continue
                if current is not None:
                    continue  # a repeat, or the same alert from the other HA Alertmanager
                severity = AM_SEVERITY.get(labels.get("severity", "").lower(), "critical")
                title = labels.get("alertname", "alert")
                where = labels.get("instance") or labels.get("target") or labels.get("job") or ""
                since = _parse_time(str(alert.get("startsAt") or "")) or now
                zone = labels.get("zone", "")
                facts = {"title": f"{title} {where}".strip(), "target": where, "target_name": where,
                         "zone": zone, "zone_name": monitor.config.zone_name(zone) if zone else "",
                         "state": "down" if severity == "critical" else "degraded", "since": since,
                         "error": labels.get("alertname"),
                         "detail": monitor.config.redact(ann.get("summary") or ann.get("description") or "")}
                channels = (spec.notify if spec.notify is not None
                            else engine.channels_for(None, severity, 0, now))
                levels = monitor.config.paging.escalation.get(severity, ())
                incidents.open_incident(c, incidents.NewIncident(
                    key_prefix="am", source="alertmanager", severity=severity,
                    category=labels.get("category", "availability") if labels.get("category") in
                    ("availability", "performance", "security") else "availability",
                    title=str(facts["title"]), facts=facts, channels=channels, zone=zone, since=since,
                    target_id=where or None, key=key,
                    next_escalation_at=now + levels[1].after - levels[0].after if len(levels) > 1 else None), now)
                opened += 1
        return opened, resolved

    opened, resolved = await asyncio.to_thread(write)
    engine.delivery.wake.set()
    return web.json_response({"opened": opened, "resolved": resolved})


def _parse_time(text: str) -> float | None:
    import datetime as dt

    if not text or text.startswith("0001-"):
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        # Alertmanager writes nanoseconds; Python takes at most microseconds.
        try:
            head, _, tail = text.partition(".")
            frac = "".join(ch for ch in tail if ch.isdigit())[:6]
            zone = tail[len("".join(ch for ch in tail if ch.isdigit())):]
            return dt.datetime.fromisoformat(f"{head}.{frac}{zone}".replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
