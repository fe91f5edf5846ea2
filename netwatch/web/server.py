"""The aiohttp application serving /metrics and the JSON status API."""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
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
    app.on_startup.append(_keep_current)
    app.on_shutdown.append(_drop_renders)
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
# gzip level for scrapes that ask for it: level 1 shrinks the exposition ~10x at a fraction of
# level 6's CPU, and it runs in a thread without the GIL.
METRICS_GZIP_LEVEL = 1


async def _keep_current(app: web.Application) -> None:
    """The per-check lines are written ahead of the scrapes (NetwatchCollector.keep_current): the first scrape
    after start costs what a later one does, and a scrape writes only the last few seconds' results."""
    task = app[METRICS_CACHE_KEY]["ahead"] = asyncio.ensure_future(app[SERVICES_KEY].collector.keep_current())
    task.add_done_callback(_log_failure)


def _log_failure(task: "asyncio.Future[None]") -> None:
    """The passes ahead only save the scrapes work: one failing is logged, and the scrapes go on as they were."""
    if not task.cancelled() and task.exception() is not None:
        log.error("writing /metrics lines ahead of the scrapes failed", exc_info=task.exception())


async def _drop_renders(app: web.Application) -> None:
    """At close: a /metrics rendering in progress is not finished for nobody. It runs as a task of its own (shared
    by the scrapes that wait on it), so closing the connections alone leaves it taking the loop from the stop.
    The same for the passes ahead of the scrapes."""
    for key in ("task", "gzip", "ahead"):
        pending = app[METRICS_CACHE_KEY].get(key)
        if pending is not None:
            pending.cancel()


def _compress(parts: list[bytes]) -> tuple[list[bytes], "zlib._Compress"]:
    """The shared part of a gzip body, and the compressor to finish it with each scrape's own tail.
    zlib releases the GIL while it compresses: in a thread the loop keeps running at full speed."""
    gz = zlib.compressobj(METRICS_GZIP_LEVEL, zlib.DEFLATED, 31)
    return [gz.compress(part) for part in parts], gz


async def _gzipped(checks: "asyncio.Future[list[bytes]]") -> tuple[list[bytes], "zlib._Compress"]:
    return await asyncio.to_thread(_compress, await checks)


async def metrics(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES_KEY]
    cache = request.app[METRICS_CACHE_KEY]
    now = time.monotonic()
    pending = cache.get("task")
    if pending is None or (pending.done() and now - cache["at"] > METRICS_REUSE_SECONDS):
        # The per-check families are written on the loop in slices of a few ms (not in a thread: it
        # would hold the GIL the loop needs to return from every system call).
        pending = asyncio.ensure_future(services.collector.render_checks_async())
        cache.update(task=pending, at=now, gzip=None)
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_LATEST, "Vary": "Accept-Encoding"})
    if _accepts_gzip(request.headers.get("Accept-Encoding", "")):
        if cache["gzip"] is None:
            cache["gzip"] = asyncio.ensure_future(_gzipped(pending))
        head, gz = await asyncio.shield(cache["gzip"])
        # Process-wide families are read afresh by every scrape (they are small); the copied
        # compressor continues the shared stream, so the body is one gzip member.
        tail = gz.copy()
        parts = head + [tail.compress(generate_latest(services.registry)), tail.flush()]
        response.headers["Content-Encoding"] = "gzip"
    else:
        parts = await asyncio.shield(pending) + [generate_latest(services.registry)]
    # Written part by part (a few thousand lines each): no copy of the whole exposition into one buffer.
    response.content_length = sum(len(part) for part in parts)
    try:
        await response.prepare(request)
        if request.method != "HEAD":   # a streamed body is not dropped for HEAD by aiohttp: skip it here
            for part in parts:
                await response.write(part)
        await response.write_eof()
    except ConnectionResetError:
        pass   # the scraper hung up (timed out, or read only the status): nothing to answer
    return response


def _accepts_gzip(accept_encoding: str) -> bool:
    """True if Accept-Encoding names gzip without refusing it (q=0)."""
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        if name.strip().lower() in ("gzip", "x-gzip"):
            q = params.strip().lower()
            if not q.startswith("q="):
                return True
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
    return False


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
