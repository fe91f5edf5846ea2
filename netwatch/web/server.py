"""The aiohttp application serving /metrics and the JSON status API."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from netwatch.clock import RUN_CLOCK
from netwatch.web import ack, board, guard, paging
from netwatch.web.access import SERVICES_KEY, read_refusal
from netwatch.web.listener import Listener
from netwatch.web.services import Services

METRICS_CACHE_KEY: web.AppKey[dict[str, Any]] = web.AppKey("metrics_cache")
log = logging.getLogger(__name__)


async def start(services: Services) -> Listener:
    """Serve on the configured address (rebound on reload by `Listener.apply`) until the listener is closed."""
    config = services.config()
    listener = Listener(build(services))
    await listener.start(config.listen)
    if not config.listen.loopback and config.board.viewer_token is None:
        log.warning("listening on %s without board.viewer_token: anyone who can reach it can read the "
                    "status board (the JSON API and acknowledgements still need operators)", config.listen)
    return listener


def build(services: Services) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[SERVICES_KEY] = services
    guard.install(app, lambda: guard.allowed_host_names(services.config().board.public_url,
                                                        services.config().board.allowed_hosts))
    app[METRICS_CACHE_KEY] = {}
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/checks", checks)
    paging.add_routes(app)
    board.add_routes(app)
    ack.add_routes(app)
    return app


# Scrapes closer together than this share one rendering: a flood of /metrics requests (or several
# Prometheus servers) must not take the CPU the probes need.
METRICS_REUSE_SECONDS = 1.0


async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES_KEY]
    cache = request.app[METRICS_CACHE_KEY]
    now = time.monotonic()
    pending = cache.get("task")
    if pending is None or (pending.done() and now - cache["at"] > METRICS_REUSE_SECONDS):
        # Rendering 10,000 checks takes a large fraction of a second: do it in a thread so the event
        # loop (and the probes' timing) keeps running between the GIL's switches.
        pending = asyncio.ensure_future(asyncio.to_thread(services.collector.render_checks))
        cache.update(task=pending, at=now)
    checks_text = await asyncio.shield(pending)
    body = checks_text.encode() + generate_latest(services.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def checks(request: web.Request) -> web.Response:
    refusal = await read_refusal(request)
    if refusal is not None:
        return refusal
    services = request.app[SERVICES_KEY]
    config, live = services.config(), services.live
    now = RUN_CLOCK()   # the clock results are dated by (netwatch.clock)
    out: list[dict[str, Any]] = []
    for view in list(live.views.values()):
        r = view.result
        out.append({
            "check": view.check.id, "target": view.check.target.id, "kind": view.check.kind,
            "zone": view.check.target.zone, "state": live.display_state(view, now).value,
            "since": view.state.since or None,
            "ok": r.outcome.ok if r else None, "error": r.outcome.error if r else None,
            "detail": config.redact(r.outcome.detail) if r else None,
            "last_result": r.started_at if r else None,
            "skipped_runs": view.skipped_runs, "skipped_since_result": view.skipped_since_result,
        })
    return web.json_response({"site": config.site.name, "checks": out})
