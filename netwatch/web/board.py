"""The status board for the NOC wall: a read-only page and its JSON (/board, /api/v1/board)."""

from __future__ import annotations

import hmac
import ipaddress
import time
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import web

from netwatch.i18n import STATE_NAMES
from netwatch.model import State

if TYPE_CHECKING:
    from netwatch.app import Monitor

# Worst first: a tile (and a zone) shows the worst state among its checks.
SEVERITY: tuple[State, ...] = (State.DOWN, State.UNREACHABLE, State.DEGRADED, State.UNKNOWN, State.MAINTENANCE,
                               State.UP)
PROBLEM_STATES = frozenset({State.DOWN, State.UNREACHABLE, State.DEGRADED})
TEXT_CAP = 200
REFRESH_SECONDS = 2
TOKEN_COOKIE = "netwatch_board"
STATIC = {"board.css": "text/css", "board.js": "text/javascript"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/board", page)
    app.router.add_get("/board/static/{name}", static)
    app.router.add_get("/api/v1/board", board_json)


def _monitor(request: web.Request) -> "Monitor":
    from netwatch.web.server import MONITOR_KEY

    return request.app[MONITOR_KEY]


def viewer_token(monitor: "Monitor") -> str | None:
    """The configured viewer token (`board: {viewer_token: ...}`), when netwatch listens beyond loopback."""
    board = getattr(monitor.config, "board", None)
    secret = getattr(board, "viewer_token", None)
    if secret is None or _loopback(monitor.config.listen.host):
        return None
    return secret.reveal() if hasattr(secret, "reveal") else str(secret)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _authorised(request: web.Request, token: str | None) -> bool:
    if token is None:
        return True
    offered = [request.cookies.get(TOKEN_COOKIE, ""), request.query.get("token", "")]
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        offered.append(auth[7:])
    return any(o and hmac.compare_digest(o.encode(), token.encode()) for o in offered)


def _denied() -> web.Response:
    return web.Response(status=401, text="a viewer token is needed: open /board?token=...\n",
                        headers=SECURITY_HEADERS)


async def page(request: web.Request) -> web.Response:
    token = viewer_token(_monitor(request))
    if not _authorised(request, token):
        return _denied()
    body = resources.files("netwatch.web").joinpath("static", "board.html").read_bytes()
    response = web.Response(body=body, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS)
    if token is not None and request.query.get("token"):
        response.set_cookie(TOKEN_COOKIE, request.query["token"], httponly=True, samesite="Strict",
                            secure=request.secure, path="/")
    return response


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    body = resources.files("netwatch.web").joinpath("static", name).read_bytes()
    return web.Response(body=body, headers={**SECURITY_HEADERS, "Content-Type": f"{STATIC[name]}; charset=utf-8"})


async def board_json(request: web.Request) -> web.Response:
    monitor = _monitor(request)
    if not _authorised(request, viewer_token(monitor)):
        return _denied()
    return web.json_response(snapshot(monitor, time.time()), headers=SECURITY_HEADERS)


def _cap(text: str | None, monitor: "Monitor") -> str:
    return monitor.config.redact(text or "")[:TEXT_CAP]


def worst(states: list[State]) -> State:
    for s in SEVERITY:
        if s in states:
            return s
    return State.UNKNOWN


def snapshot(monitor: "Monitor", now: float) -> dict[str, Any]:
    """Everything the board shows, as plain JSON-able data; device-supplied text is capped and redacted
    here and escaped by the page (which builds its DOM with textContent only)."""
    config = monitor.config
    live = monitor.live
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
            "detail": _cap(result.outcome.detail if result else "", monitor),
            "descr": _cap(descr, monitor),
            "last_result": result.started_at if result else None,
        }
        tiles_by_zone.setdefault(target.zone, []).append(tile)
        for v, s in views:
            if s in PROBLEM_STATES:
                r = v.result
                incidents.append({
                    "check": v.check.id, "target": target.id, "name": target.name or target.id,
                    "zone": target.zone, "state": s.value, "since": v.state.since or None,
                    "age_seconds": round(now - v.state.since, 1) if v.state.since else None,
                    "error": r.outcome.error if r and not r.outcome.ok else None,
                    "detail": _cap(r.outcome.detail if r else "", monitor),
                    "acknowledged_by": None,
                })
    zones = []
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
        "on_duty": _on_duty(monitor, now),
        "generated_at": now,
        "refresh_seconds": REFRESH_SECONDS,
        "zones": zones,
        "incidents": incidents,
        "counts": {s.value: sum(1 for z in zones for t in z["tiles"] if t["state"] == s.value) for s in SEVERITY},
        "state_names": STATE_NAMES,
    }


def _on_duty(monitor: "Monitor", now: float) -> list[dict[str, str]]:
    paging = getattr(monitor.config, "paging", None)
    if paging is None or not hasattr(paging, "on_duty"):
        return []
    out = []
    for shift in getattr(paging, "shifts", ()):
        if shift.window.active(now) and shift.contact in paging.contacts:
            contact = paging.contacts[shift.contact]
            out.append({"name": contact.name or contact.id, "role": shift.role, "phone": contact.phone})
    return out
