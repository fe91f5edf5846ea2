"""The status board for the NOC wall: a read-only page and its JSON (/board, /api/v1/board)."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import web

from netwatch.clock import RUN_CLOCK
from netwatch.alerting.operators import allowed
from netwatch.config import Listen
from netwatch.i18n import STATE_NAMES
from netwatch.model import State
from netwatch.web.access import (SERVICES_KEY, Busy, incident_id_of, limiter_of, record_failure, request_operator,
                                 throttled)
from netwatch.web.guard import CSP, SECURITY_HEADERS, bound_listen, client_address, trusted_local  # noqa: F401 (CSP: re-exported)
from netwatch.web.services import Services
from netwatch.web import cluster, wall

if TYPE_CHECKING:
    from netwatch.config import Config

log = logging.getLogger(__name__)

# Worst first: a tile (and a zone) shows the worst state among its checks.
SEVERITY: tuple[State, ...] = (State.DOWN, State.UNREACHABLE, State.DEGRADED, State.UNKNOWN, State.MAINTENANCE,
                               State.UP)
PROBLEM_STATES = frozenset({State.DOWN, State.UNREACHABLE, State.DEGRADED})
TEXT_CAP = 200
REFRESH_SECONDS = 2
TOKEN_COOKIE = "netwatch_board"
STATIC = {"wall.css": "text/css", "wall.js": "text/javascript", "ack.css": "text/css"}
CLUSTER_READS_KEY: web.AppKey[dict[str, Any]] = web.AppKey("cluster_reads")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", home)
    app.router.add_get("/board", page)
    app.router.add_get("/board/static/font/{name}", wall.font)
    app.router.add_get("/board/static/{name}", static)
    app.router.add_get("/api/v1/board", board_json)
    app.router.add_get("/api/v1/cluster", cluster_json)
    app[CLUSTER_READS_KEY] = {}
    app.router.add_post("/api/v1/board/incidents/{id}/ack", ack)


async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound("/board")


def _services(request: web.Request) -> Services:
    return request.app[SERVICES_KEY]


def viewer_token(request: web.Request) -> str | None:
    """The configured viewer token (`board: {viewer_token: ...}`), unless the request is loopback-local."""
    config = _services(request).config()
    secret = config.board.viewer_token
    if secret is None or trusted_local(request, config.listen):
        return None
    return secret.reveal()


def _matches(offered: str, token: str) -> bool:
    return bool(offered) and hmac.compare_digest(offered.encode(), token.encode())


async def _refusal(request: web.Request, token: str | None) -> web.Response | None:
    """None when the board may be shown; else 401 (or 429 for a source that guessed too often)."""
    if token is None:
        return None
    wait = limiter_of(request).retry_after_seconds(client_address(request), None)
    if wait > 0:
        return throttled(wait)
    offered = [request.cookies.get(TOKEN_COOKIE, ""), request.query.get("token", "")]
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        offered.append(auth[7:])
    if any(_matches(o, token) for o in offered):
        return None
    if any(offered):
        await record_failure(request, None, "token")
    return web.Response(status=401, text="a viewer token is needed: open /board?token=...\n")


async def page(request: web.Request) -> web.Response:
    token = viewer_token(request)
    refusal = await _refusal(request, token)
    if refusal is not None:
        return refusal
    body = resources.files("netwatch.web").joinpath("static", "board.html").read_bytes()
    offered = request.query.get("token", "")
    if token is not None and _matches(offered, token):
        # The token moves into a cookie and out of the address bar (history, screenshots, Referer). Only
        # a token that is right replaces the cookie: a crafted `/board?token=junk` link must not log a
        # wall screen out.
        moved = web.HTTPSeeOther("/board")
        moved.set_cookie(TOKEN_COOKIE, offered, httponly=True, samesite="Strict", secure=request.secure, path="/")
        raise moved
    return web.Response(body=body, content_type="text/html", charset="utf-8")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    body = resources.files("netwatch.web").joinpath("static", name).read_bytes()
    return web.Response(body=body, headers={"Content-Type": f"{STATIC[name]}; charset=utf-8"})


async def board_json(request: web.Request) -> web.Response:
    services = _services(request)
    refusal = await _refusal(request, viewer_token(request))
    if refusal is not None:
        return refusal
    now = RUN_CLOCK()   # the clock results are dated by (netwatch.clock)
    stored = await asyncio.to_thread(open_incidents, services)
    resolved = await asyncio.to_thread(wall.resolved_incidents, services, now)
    data = wall.enrich(services, snapshot(services, now, stored), now, stored, resolved)
    data["warnings"] = exposure_warnings(bound_listen(request.app, services.config().listen))
    data["cluster"] = services.cluster_status is not None   # the page then polls /api/v1/cluster
    return web.json_response(data)


async def cluster_json(request: web.Request) -> web.Response:
    """Nodes, sites, slots and the coordinator, read-only from the cluster database; 404 on a single node,
    503 with the words the board shows when the read fails or takes too long."""
    services = _services(request)
    refusal = await _refusal(request, viewer_token(request))   # first: a stranger learns nothing, not even the mode
    if refusal is not None:
        return refusal
    if services.cluster_status is None:
        raise web.HTTPNotFound()
    state = request.app[CLUSTER_READS_KEY]
    reads = state.setdefault("reads", cluster.StatusReads(services.cluster_status))
    try:
        status = await reads.get()
    except Exception as exc:   # a timeout or any failure of the read greys the panel, never the page
        if not state.get("failing"):
            log.warning("board: cluster status not read: %s", exc if str(exc) else type(exc).__name__)
        state["failing"] = True
        return web.json_response({"error": "unreadable", "words": cluster.UNREADABLE, "generated_at": time.time()},
                                 status=503)
    if state.pop("failing", False):
        log.info("board: cluster status read again")
    return web.json_response(cluster.view(status, time.time(), services.config().redact))


def exposure_warnings(listen: Listen) -> list[str]:
    """Shown in red on the board: the wall screen is where the duty team will notice."""
    if listen.loopback or listen.tls is not None:
        return []
    return ["insecure_listen"]


def open_incidents(services: Services) -> list[dict[str, Any]]:
    """The paging incidents still open or acknowledged (id, check, acked_by...), read from the store."""
    return services.incidents.list()


async def ack(request: web.Request) -> web.Response:
    """Acknowledge from the board. Credentials travel in the Authorization header of each request, never
    in a cookie, so another site cannot make a browser send them; web/guard.py's Origin check and JSON-only
    body (a cross-site form cannot send one without a CORS preflight) close the rest."""
    services = _services(request)
    headers = SECURITY_HEADERS
    try:
        op = await request_operator(request)  # a password is checked in a thread, under a limit
    except Busy as exc:
        return throttled(exc.retry_after_seconds)
    if op is None or not allowed(op, "operator"):
        return web.json_response({"error": "an operator's token, or name and password, is required"},
                                 status=401, headers=headers)
    incident_id = incident_id_of(request)
    try:
        body = await request.json()
    except (ValueError, json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if incident_id is None or body is None:
        return web.json_response({"error": "bad incident id or body"}, status=400, headers=headers)
    note = str(body.get("note", ""))[:500] if isinstance(body, dict) else ""
    error = await asyncio.to_thread(services.incidents.ack, incident_id, op.name, note,
                                    f"board:{client_address(request)}", time.time())
    if error is not None:
        return web.json_response({"error": error}, status=404 if error.startswith("no incident") else 409,
                                 headers=headers)
    services.wake_delivery()   # the ack notice goes out now
    log.info("incident #%d acknowledged by %s from the board", incident_id, op.name)
    return web.json_response({"incident": incident_id, "acked_by": op.name}, headers=headers)


def _cap(text: str | None, config: "Config") -> str:
    return config.redact(text or "")[:TEXT_CAP]


def worst(states: list[State]) -> State:
    for s in SEVERITY:
        if s in states:
            return s
    return State.UNKNOWN


def snapshot(services: Services, now: float, stored: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Everything the board shows, as plain JSON-able data; device-supplied text is capped and redacted
    here and escaped by the page (which builds its DOM with textContent only). `stored` are the paging
    incidents (from `open_incidents`), which give the incident number and who acknowledged it."""
    config = services.config()
    # One incident per target fault: each failing check folded into it shows its number and who took it.
    by_check = {cid: i for i in reversed(stored or [])
                for cid in dict.fromkeys([i.get("check"), *(m["check"] for m in i.get("checks") or ()
                                                             if m.get("recovered_at") is None)]) if cid}
    live = services.live
    by_target: dict[str, list[tuple[Any, State]]] = {}
    for view in list(live.views.values()):
        by_target.setdefault(view.check.target.id, []).append((view, live.display_state(view, now)))
    tiles_by_zone: dict[str, list[dict[str, Any]]] = {}
    incidents: list[dict[str, Any]] = []
    for target in config.targets:
        views = by_target.get(target.id, [])
        state = worst([s for _, s in views]) if views else State.UNKNOWN
        lead = next((v for v, s in views if s is state), None)
        result = lead.result if lead is not None else None
        descr = ""
        for v, _ in views:
            for series in (v.result.outcome.series if v.result else ()):
                if series.name == "snmp_device_info":
                    descr = dict(series.labels).get("sys_descr", "")
        tile = {
            "id": target.id, "name": target.name or target.id, "state": state.value,
            "kinds": sorted({v.check.kind for v, _ in views}),
            "since": lead.state.since or None if lead is not None else None,
            "error": (result.outcome.error if result and not result.outcome.ok else None),
            "detail": _cap(result.outcome.detail if result else "", config),
            "descr": _cap(descr, config),
            "last_result": result.started_at if result else None,
            # runs skipped since the last result: an `unknown` tile that could not run says so
            "skipped": sum(v.skipped_since_result for v, _ in views),
        }
        tiles_by_zone.setdefault(target.zone, []).append(tile)
        for v, s in views:
            if s in PROBLEM_STATES:
                r = v.result
                inc = by_check.pop(v.check.id, None) or {}
                incidents.append({
                    "id": inc.get("id"), "severity": inc.get("severity"),
                    "check": v.check.id, "target": target.id, "name": target.name or target.id,
                    "zone": target.zone, "state": s.value, "since": v.state.since or None,
                    "age_seconds": round(now - v.state.since, 1) if v.state.since else None,
                    "error": r.outcome.error if r and not r.outcome.ok else None,
                    "detail": _cap(r.outcome.detail if r else "", config),
                    "acknowledged_by": inc.get("acked_by"),
                })
    for inc in by_check.values():
        if inc.get("source") == "check":
            continue   # its check is healthy again; paging resolves the incident with that transition
        incidents.append({
            "id": inc["id"], "severity": inc.get("severity"), "check": inc["check"], "target": inc.get("target"),
            "name": inc.get("title") or inc["check"], "zone": inc.get("zone") or "",
            "state": (State.DOWN if inc.get("severity") == "critical" else State.DEGRADED).value,
            "since": inc.get("since"), "age_seconds": round(now - inc["since"], 1) if inc.get("since") else None,
            "error": inc.get("error"), "detail": _cap(inc.get("title"), config),
            "acknowledged_by": inc.get("acked_by")})
    zones: list[dict[str, Any]] = []
    known = [(z.id, z.name or z.id) for z in config.zones]
    if "" in tiles_by_zone:
        known.append(("", ""))
    for zone_id, name in known:
        tiles = tiles_by_zone.get(zone_id, [])
        zones.append({"id": zone_id, "name": name, "tiles": tiles,
                      "state": worst([State(t["state"]) for t in tiles]).value if tiles else State.UNKNOWN.value})
    incidents.sort(key=lambda i: (SEVERITY.index(State(i["state"])), -(i["age_seconds"] or 0)))
    phase = config.event.phase_at(now)
    return {
        "site": config.site.name,
        "event": config.event.name,
        "phase": {"id": phase.id, "name": phase.name, "start": phase.start, "end": phase.end} if phase else None,
        "on_duty": _on_duty(config, now),
        "generated_at": now,
        "refresh_seconds": REFRESH_SECONDS,
        "zones": zones,
        "incidents": incidents,
        "counts": {s.value: sum(1 for z in zones for t in z["tiles"] if t["state"] == s.value) for s in SEVERITY},
        "state_names": STATE_NAMES,
    }


def _on_duty(config: "Config", now: float) -> list[dict[str, str]]:
    paging = config.paging
    out = []
    for shift in getattr(paging, "shifts", ()):
        if shift.window.active(now) and shift.contact in paging.contacts:
            contact = paging.contacts[shift.contact]
            out.append({"name": contact.name or contact.id, "role": shift.role, "phone": contact.phone})
    return out
