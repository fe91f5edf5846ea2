"""HTTP endpoints for paging: incident list and ack, and the Alertmanager webhook relay."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import urllib.parse

from aiohttp import web

from netwatch.alerting import incidents
from netwatch.alerting.operators import allowed
from netwatch.store.db import StoreError, Tx
from netwatch.web.access import (LIMITER_KEY, SERVICES_KEY, VERIFY_KEY, VERIFY_PARALLEL, VERIFY_QUEUE, Busy,
                                 bearer, incident_id_of, limiter_of, read_refusal, record_failure,
                                 request_operator, source_of, throttled)
from netwatch.web.guard import client_address, trusted_local
from netwatch.web.logins import LoginCollector, LoginLimiter

__all__ = ["Busy", "add_routes", "incident_id_of", "read_refusal", "request_operator"]

MAX_ALERTS = 1000
PAGE_DEFAULT = 100     # incidents per page of /api/v1/incidents (`limit`); `next` gives the following page
PAGE_MAX = 1000
MAX_LABEL_CHARS = 200
MAX_ANNOTATION_CHARS = 1000
AM_SEVERITY = {"critical": "critical", "page": "critical", "error": "critical", "high": "critical",
               "warning": "warning", "warn": "warning", "info": "warning", "low": "warning"}


def add_routes(app: web.Application) -> None:
    app[VERIFY_KEY] = (asyncio.Semaphore(VERIFY_PARALLEL + VERIFY_QUEUE), asyncio.Semaphore(VERIFY_PARALLEL))
    app[LIMITER_KEY] = limiter = LoginLimiter()
    app[SERVICES_KEY].registry.register(LoginCollector(limiter))  # type: ignore[arg-type]
    app.router.add_get("/api/v1/incidents", list_incidents)
    app.router.add_post("/api/v1/incidents/{id}/ack", ack)
    app.router.add_post("/api/v1/alertmanager", alertmanager)


async def list_incidents(request: web.Request) -> web.Response:
    refusal = await read_refusal(request)
    if refusal is not None:
        return refusal
    services = request.app[SERVICES_KEY]
    states = tuple(request.query.get("state", "open,acked").split(","))
    try:
        limit = int(request.query.get("limit", str(PAGE_DEFAULT)))
        before = int(request.query["before"]) if "before" in request.query else None
    except ValueError:
        return web.json_response({"error": "limit and before must be whole numbers"}, status=400)
    if not 1 <= limit <= PAGE_MAX:
        return web.json_response({"error": f"limit must be between 1 and {PAGE_MAX}"}, status=400)
    rows = await asyncio.to_thread(services.incidents.list, states, limit, before)
    # A full page may have more behind it: `next` is the query for the following page (never a silent cap).
    nxt = ("?" + urllib.parse.urlencode({"state": ",".join(states), "limit": limit, "before": rows[-1]["id"]})
           if len(rows) == limit else None)
    return web.json_response({"incidents": rows, "next": nxt})


async def ack(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
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

    error = await asyncio.to_thread(services.incidents.ack, incident_id, op.name, note, source_of(request),
                                    time.time())
    if error is not None:
        return web.json_response({"error": error}, status=404 if error.startswith("no incident") else 409)
    services.wake_delivery()
    return web.json_response({"incident": incident_id, "acked_by": op.name})


async def alertmanager(request: web.Request) -> web.Response:
    """Alertmanager's webhook (payload version 4): each alert becomes or resolves an incident."""
    services = request.app[SERVICES_KEY]
    config = services.config()
    spec = config.paging.spec.alertmanager
    if spec.token is not None:
        token = bearer(request) or ""
        wait = limiter_of(request).retry_after_seconds(client_address(request), None)
        if wait > 0:
            return throttled(wait)
        if not hmac.compare_digest(token.encode(), spec.token.reveal().encode()):
            if token:
                await record_failure(request, None, "token")
            return web.json_response({"error": "bad or missing bearer token"}, status=401)
    elif not trusted_local(request, config.listen):
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
    now = time.time()

    def write(c: Tx) -> tuple[int, int]:
        opened = resolved = 0
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
                if current is not None and incidents.resolve(c, current[0], now):
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
                     "zone": zone, "zone_name": config.zone_name(zone) if zone else "",
                     "state": "down" if severity == "critical" else "degraded", "since": since,
                     "error": labels.get("alertname"),
                     "detail": config.redact(ann.get("summary") or ann.get("description") or "")}
            channels = (spec.notify if spec.notify is not None
                        else services.incidents.channels_for(severity, 0, now))
            levels = config.paging.escalation.get(severity, ())
            incidents.open_incident(c, incidents.NewIncident(
                key_prefix="am", source="alertmanager", severity=severity,
                category=labels.get("category", "availability") if labels.get("category") in
                ("availability", "performance", "security") else "availability",
                title=str(facts["title"]), facts=facts, channels=channels, zone=zone, since=since,
                target_id=where or None, key=key,
                next_escalation_at=now + levels[1].after - levels[0].after if len(levels) > 1 else None), now)
            opened += 1
        return opened, resolved

    try:
        opened, resolved = await asyncio.to_thread(services.incidents.write, write)
    except StoreError:
        # In a cluster both Alertmanagers post to every node: another node may have opened the same alert's
        # incident in the same instant, and the unique index refused ours. Once more, it finds it open.
        opened, resolved = await asyncio.to_thread(services.incidents.write, write)
    services.wake_delivery()
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
