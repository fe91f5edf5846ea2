"""Every route of the aiohttp app, enumerated from the app itself: anonymous callers from beyond loopback get
nothing outside the explicit allow-list, every answer carries the security headers, unknown Hosts are
refused (issue 16.5) and cross-site writes are refused on every state-changing route (issue 16.1)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from netwatch.config import loads  # first: importing netwatch.alerting first is a circular import
from netwatch.app import Monitor
from netwatch.store import Store
from netwatch.web import server
from netwatch.web.guard import PUBLIC_ROUTES, ROUTE_HEADERS, SECURITY_HEADERS, allowed_host_names, host_allowed

VIEWER = "viewer-token-0123456789abcdef"
RELAY = "relay-token-7Hq2pX9vLm4wZt"
OPERATOR = "operator-token-0123456789abcdef"
SAMPLE = {"id": "1", "name": "wall.js"}
SAMPLE_PATHS = {"/board/static/font/{name}": "/board/static/font/DejaVuSans.ttf"}


def venue(listen: str, tmp: Path) -> str:
    return f"""
listen: "{listen}"
store: {tmp / 'nw.db'}
board: {{viewer_token: {VIEWER}, public_url: "https://noc.example.gov.vn/board", allowed_hosts: [wall.local]}}
paging: {{alertmanager: {{token: {RELAY}}}}}
targets:
  - {{id: portal, host: 127.0.0.1, checks: [{{kind: tcp, port: 9, interval: 1h}}]}}
operators:
  - {{name: an, token: {OPERATOR}}}
"""


@pytest.fixture
async def exposed(tmp_path: Path) -> AsyncIterator[TestClient]:
    config = loads(venue("0.0.0.0:9800", tmp_path), str(tmp_path / "venue.yaml"))
    monitor = Monitor(config, Store.open(config.store))
    client = TestClient(TestServer(server.build(monitor.services), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()
    monitor.store.close()


def routes(app: web.Application) -> list[tuple[str, str, str]]:
    """(method, canonical path, a concrete path) for every route the app serves."""
    out = []
    for route in app.router.routes():
        if route.method == "HEAD":
            continue   # aiohttp adds one per GET
        canonical = route.resource.canonical if route.resource is not None else ""
        concrete = SAMPLE_PATHS.get(canonical) or re.sub(r"\{(\w+)\}", lambda m: SAMPLE.get(m.group(1), "x"), canonical)
        out.append((route.method, canonical, concrete))
    return out


async def test_every_route_needs_credentials_unless_allow_listed(exposed: TestClient) -> None:
    found = routes(exposed.server.app)
    assert len(found) >= 9 and {c for _, c, _ in found} >= PUBLIC_ROUTES
    for method, canonical, path in found:
        resp = await exposed.request(method, path, json={} if method == "POST" else None, allow_redirects=False)
        if canonical in PUBLIC_ROUTES:
            # `/` only points at the board, which asks for credentials itself.
            assert resp.status == (302 if canonical == "/" else 200), (method, canonical, resp.status)
        else:
            assert resp.status in (401, 403), (method, canonical, resp.status, await resp.text())
        for name, value in {**SECURITY_HEADERS, **ROUTE_HEADERS.get(canonical, {})}.items():
            assert resp.headers.get(name) == value, (method, canonical, name)
    missing = await exposed.get("/no/such/route")
    assert missing.status == 404 and missing.headers.get("Content-Security-Policy") == SECURITY_HEADERS[
        "Content-Security-Policy"]


async def test_cross_site_writes_are_refused_on_every_post_route(exposed: TestClient) -> None:
    origin = str(exposed.make_url("")).rstrip("/")
    good = {"Authorization": f"Bearer {OPERATOR}"}
    posts = [path for method, _, path in routes(exposed.server.app) if method not in ("GET", "HEAD")]
    assert len(posts) == 4, posts
    for path in posts:
        for headers, kwargs, status in (
                ({"Origin": "http://127.0.0.2:8000"}, {"json": {}}, 403),
                ({"Origin": "null"}, {"json": {}}, 403),
                ({"Sec-Fetch-Site": "cross-site"}, {"json": {}}, 403),
                ({"Sec-Fetch-Site": "same-site", "Origin": origin}, {"json": {}}, 403),
                ({}, {"data": b"{}", "headers_ct": "text/plain"}, 415),
                ({}, {"data": {"a": "1"}}, 415)):
            ct = kwargs.pop("headers_ct", None)
            extra = {"Content-Type": ct} if ct else {}
            resp = await exposed.post(path, headers={**good, **headers, **extra}, **kwargs)
            assert resp.status == status, (path, headers, resp.status, await resp.text())


async def test_unknown_host_names_are_refused(exposed: TestClient) -> None:
    port = exposed.port
    for host, status in ((f"rebind.attacker.test:{port}", 421), (f"localhost:{port}", 200),
                         (f"127.0.0.1:{port}", 200), (f"[::1]:{port}", 200), ("noc.example.gov.vn", 200),
                         ("WALL.local.", 200), ("", 421)):
        resp = await exposed.get("/healthz", headers={"Host": host})
        assert resp.status == status, host


def test_host_allowed_table() -> None:
    names = allowed_host_names("https://noc.example.gov.vn:8443/board", ["Wall.Local"])
    assert names == {"localhost", "noc.example.gov.vn", "wall.local"}
    for header, ok in (("localhost", True), ("localhost:9800", True), ("10.1.2.3:80", True), ("[fe80::1]:9", True),
                       ("noc.example.gov.vn:8443", True), ("evil.example", False), ("localhost.evil", False),
                       ("127.0.0.1.nip.io", False), ("", False), ("[", False)):
        assert host_allowed(header, names) is ok, header


async def test_a_reverse_proxied_request_is_never_loopback_local(tmp_path: Path) -> None:
    """Behind an HTTPS proxy on the same host every request arrives from 127.0.0.1: the forwarding header
    marks it remote, and the sign-in limits count the address the proxy appended."""
    config = loads(venue("127.0.0.1:9800", tmp_path), str(tmp_path / "venue.yaml"))
    monitor = Monitor(config, Store.open(config.store))
    client = TestClient(TestServer(server.build(monitor.services), host="127.0.0.1"))
    await client.start_server()
    try:
        assert (await client.get("/api/v1/board")).status == 200     # loopback: no token needed
        proxied = {"X-Forwarded-For": "198.51.100.7"}
        assert (await client.get("/api/v1/board", headers=proxied)).status == 401
        assert (await client.get("/api/v1/board", headers={**proxied, "Authorization": f"Bearer {VIEWER}"})).status == 200
        await client.get("/api/v1/board", headers={**proxied, "Authorization": "Bearer wrong-guess-0000000000"})
        sources = [s for (s,) in monitor.store.conn.execute("SELECT source FROM audit")]
        assert sources == ["http:198.51.100.7"]
        relay = await client.post("/api/v1/alertmanager", json={"version": "4", "alerts": []},
                                  headers={"X-Forwarded-For": "198.51.100.7", "Authorization": f"Bearer {RELAY}"})
        assert relay.status == 200
    finally:
        await client.close()
        monitor.store.close()
