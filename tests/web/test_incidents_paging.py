"""/api/v1/incidents pages through every incident (limit + `next`) instead of silently stopping at 100."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from netwatch.config import loads  # first: importing netwatch.alerting first is a circular import
from netwatch.app import Monitor
from netwatch.store import Store
from netwatch.store.incidents import NewIncident, open_incident
from netwatch.web import server


async def test_more_than_a_page_of_incidents_is_listed_whole(tmp_path: Path) -> None:
    config = loads(f"""
listen: "127.0.0.1:9800"
store: {tmp_path / 'nw.db'}
targets:
  - {{id: portal, host: 127.0.0.1, checks: [{{kind: tcp, port: 9, interval: 1h}}]}}
""", str(tmp_path / "v.yaml"))
    store = Store.open(config.store)
    monitor = Monitor(config, store)
    with store.transaction() as c:
        for i in range(250):
            open_incident(c, NewIncident("nw", "check", "critical", "availability", f"t{i}", {"since": 1.0}, (),
                                         check_id=f"t{i}/tcp", target_id=f"t{i}", since=1.0), 1.0)
    client = TestClient(TestServer(server.build(monitor.services), host="127.0.0.1"))
    await client.start_server()
    try:
        seen: list[int] = []
        url: str | None = "/api/v1/incidents?limit=100"
        pages = 0
        while url is not None:
            resp = await client.get(url)
            assert resp.status == 200
            body: dict[str, Any] = await resp.json()
            seen += [i["id"] for i in body["incidents"]]
            url = "/api/v1/incidents" + body["next"] if body["next"] else None
            pages += 1
        assert sorted(seen) == list(range(1, 251)) and len(seen) == len(set(seen))
        assert pages == 3
        first = await (await client.get("/api/v1/incidents")).json()
        assert len(first["incidents"]) == 100 and first["next"]     # the default page says there is more
        assert (await client.get("/api/v1/incidents?limit=0")).status == 400
        assert (await client.get("/api/v1/incidents?before=x")).status == 400
    finally:
        await client.close()
        store.close()
