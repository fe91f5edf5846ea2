"""The aiohttp application serving /metrics and the JSON status API."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from netwatch.app import Monitor

MONITOR_KEY: web.AppKey["Monitor"] = web.AppKey("monitor")
METRICS_CACHE_KEY: web.AppKey[dict[str, Any]] = web.AppKey("metrics_cache")


def build(monitor: "Monitor") -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[MONITOR_KEY] = monitor
    app[METRICS_CACHE_KEY] = {}
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/checks", checks)
    from netwatch.web.paging import add_routes as add_paging_routes  # imports this module: import late

    add_paging_routes(app)
    from netwatch.web import board

    board.add_routes(app)
    from netwatch.web import ack

    ack.add_routes(app)
    return app


# Scrapes closer together than this share one rendering: a flood of /metrics requests (or several
# Prometheus servers) must not take the CPU the probes need.
METRICS_REUSE_SECONDS = 1.0


async def metrics(request: web.Request) -> web.Response:
    monitor = request.app[MONITOR_KEY]
    cache = request.app[METRICS_CACHE_KEY]
    now = time.monotonic()
    pending = cache.get("task")
    if pending is None or (pending.done() and now - cache["at"] > METRICS_REUSE_SECONDS):
        # Rendering 10,000 checks takes a large fraction of a second: do it in a thread so the event
        # loop (and the probes' timing) keeps running between the GIL's switches.
        pending = asyncio.ensure_future(asyncio.to_thread(monitor.collector.render_checks))
        cache.update(task=pending, at=now)
    checks_text = await asyncio.shield(pending)
    body = checks_text.encode() + generate_latest(monitor.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def checks(request: web.Request) -> web.Response:
    from netwatch.web.paging import may_read, refuse_read  # imports this module: import late

    if not may_read(request):
        return refuse_read()
    monitor = request.app[MONITOR_KEY]
    now = time.time()
    out: list[dict[str, Any]] = []
    for view in list(monitor.live.views.values()):
        r = view.result
        out.append({
            "check": view.check.id, "target": view.check.target.id, "kind": view.check.kind,
            "zone": view.check.target.zone, "state": monitor.live.display_state(view, now).value,
            "since": view.state.since or None,
            "ok": r.outcome.ok if r else None, "error": r.outcome.error if r else None,
            "detail": monitor.config.redact(r.outcome.detail) if r else None,
            "last_result": r.started_at if r else None,
        })
    return web.json_response({"site": monitor.config.site.name, "checks": out})
