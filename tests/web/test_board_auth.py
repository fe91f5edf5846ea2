"""Who may see the board and who may acknowledge from it: viewer token, operator auth, CSRF, audit."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from netwatch.config import loads  # first: importing netwatch.alerting first is a circular import
from netwatch.alerting import incidents
from netwatch.alerting.operators import hash_password
from netwatch.app import Monitor
from netwatch.store import Store
from netwatch.web import server

VIEWER = "viewer-token-0123456789abcdef"
OPERATOR = "operator-token-0123456789abcdef"


def venue(listen: str, tmp: Path) -> str:
    password = hash_password("mật khẩu trực ca", iterations=1000)
    return f"""
listen: "{listen}"
store: {tmp / 'nw.db'}
board: {{viewer_token: {VIEWER}}}
zones: [{{id: egov, name: Chính quyền điện tử}}]
targets:
  - id: portal
    zone: egov
    checks: [{{kind: tcp, port: 9, interval: 1h}}]
operators:
  - {{name: an, token: {OPERATOR}}}
  - {{name: binh, password_hash: "{password}"}}
  - {{name: xem, role: viewer, token: viewer-only-operator-token}}
"""


async def client_for(listen: str, tmp: Path) -> tuple[TestClient, Monitor]:
    config = loads(venue(listen, tmp), str(tmp / "venue.yaml"))
    monitor = Monitor(config, Store.open(config.store))
    client = TestClient(TestServer(server.build(monitor.services), host="127.0.0.1"))
    await client.start_server()
    return client, monitor


@pytest.fixture
async def exposed(tmp_path: Path) -> AsyncIterator[tuple[TestClient, Monitor]]:
    """netwatch configured to listen on every interface (the test still talks to it over loopback)."""
    client, monitor = await client_for("0.0.0.0:9800", tmp_path)
    yield client, monitor
    await client.close()
    monitor.store.close()


async def test_viewer_token_needed_beyond_loopback(exposed: tuple[TestClient, Monitor]) -> None:
    client, _ = exposed
    assert (await client.get("/board")).status == 401
    assert (await client.get("/api/v1/board")).status == 401
    assert (await client.get("/api/v1/board", headers={"Authorization": "Bearer wrong"})).status == 401
    assert (await client.get("/api/v1/board", headers={"Authorization": f"Bearer {VIEWER}"})).status == 200
    page = await client.get(f"/board?token={VIEWER}")
    assert page.status == 200
    cookie = page.cookies["netwatch_board"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    # the cookie the page set is enough for the page's own polling
    assert (await client.get("/api/v1/board")).status == 200


async def test_no_token_needed_on_loopback(tmp_path: Path) -> None:
    client, monitor = await client_for("127.0.0.1:9800", tmp_path)
    try:
        assert (await client.get("/api/v1/board")).status == 200
        assert (await client.get("/board")).status == 200
    finally:
        await client.close()
        monitor.store.close()


def open_one(monitor: Monitor) -> int:
    with monitor.store.transaction() as c:
        return incidents.open_incident(c, incidents.NewIncident(
            key_prefix="portal", source="check", severity="critical", category="availability",
            title="portal/tcp down", facts={"check": "portal/tcp"}, channels=(), check_id="portal/tcp",
            target_id="portal", zone="egov", since=1.0), 2.0)


ORIGIN_OK = {"Content-Type": "application/json"}


async def test_operator_acknowledges_and_it_is_audited(exposed: tuple[TestClient, Monitor]) -> None:
    client, monitor = exposed
    iid = open_one(monitor)
    url = f"/api/v1/board/incidents/{iid}/ack"
    origin = {"Origin": str(client.make_url("")).rstrip("/")}
    resp = await client.post(url, json={"note": "đang xử lý"},
                             headers={"Authorization": f"Bearer {OPERATOR}", **origin})
    assert resp.status == 200, await resp.text()
    assert (await resp.json()) == {"incident": iid, "acked_by": "an"}
    audit = monitor.store.conn.execute("SELECT who, action, what, source FROM audit").fetchall()
    assert audit[0][:3] == ("an", "ack", f"incident #{iid}: đang xử lý") and audit[0][3].startswith("board:")
    again = await client.post(url, json={}, headers={"Authorization": f"Bearer {OPERATOR}"})
    assert again.status == 409


async def test_password_operator(exposed: tuple[TestClient, Monitor]) -> None:
    client, monitor = exposed
    iid = open_one(monitor)
    basic = base64.b64encode("binh:mật khẩu trực ca".encode()).decode()
    resp = await client.post(f"/api/v1/board/incidents/{iid}/ack", json={}, headers={"Authorization": f"Basic {basic}"})
    assert resp.status == 200 and (await resp.json())["acked_by"] == "binh"
    wrong = base64.b64encode(b"binh:sai").decode()
    resp = await client.post(f"/api/v1/board/incidents/{iid}/ack", json={}, headers={"Authorization": f"Basic {wrong}"})
    assert resp.status == 401


@pytest.mark.parametrize("headers, body, status", [
    ({}, {"json": {}}, 401),                                                         # no credentials
    ({"Authorization": "Bearer viewer-only-operator-token"}, {"json": {}}, 401),     # a viewer may not ack
    ({"Authorization": f"Bearer {OPERATOR}", "Origin": "http://evil.example"}, {"json": {}}, 403),
    ({"Authorization": f"Bearer {OPERATOR}", "Sec-Fetch-Site": "cross-site"}, {"json": {}}, 403),
    ({"Authorization": f"Bearer {OPERATOR}"}, {"data": {"note": "x"}}, 403),          # a form post (CSRF shape)
])
async def test_ack_refusals(exposed: tuple[TestClient, Monitor], headers: dict[str, str], body: dict[str, object],
                            status: int) -> None:
    client, monitor = exposed
    iid = open_one(monitor)
    resp = await client.post(f"/api/v1/board/incidents/{iid}/ack", headers=headers, **body)
    assert resp.status == status
    assert monitor.store.conn.execute("SELECT count(*) FROM audit").fetchone()[0] == 0
    state = monitor.store.conn.execute("SELECT state FROM incidents WHERE id=?", (iid,)).fetchone()[0]
    assert state == "open"


@pytest.mark.parametrize("incident", ["99999999999999999999999", "abc", "0"])
async def test_bad_incident_ids_are_refused_not_crashes(exposed: tuple[TestClient, Monitor], incident: str) -> None:
    client, _ = exposed
    resp = await client.post(f"/api/v1/board/incidents/{incident}/ack", json={},
                             headers={"Authorization": f"Bearer {OPERATOR}"})
    assert resp.status == 400
