"""/metrics over HTTP: concurrent scrapes share one rendering; a later scrape renders afresh."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from netwatch.config import loads  # first: importing netwatch.alerting first is a circular import
from netwatch.app import Monitor
from netwatch.store import Store
from netwatch.web import server
from tests.support import metric_value, parse_metrics


async def test_a_scrape_flood_renders_once(tmp_path: Path, monkeypatch) -> None:
    config = loads(f"store: {tmp_path / 'nw.db'}\ntargets: [{{id: a, host: 127.0.0.1, "
                   f"checks: [{{kind: tcp, port: 9, interval: 1h}}]}}]\n", str(tmp_path / "v.yaml"), {})
    monitor = Monitor(config, Store.open(config.store))
    renders = 0
    real = monitor.services.collector.render_checks_async

    async def counting() -> bytes:
        nonlocal renders
        renders += 1
        return await real()

    monitor.services.collector.render_checks_async = counting  # type: ignore[method-assign]
    client = TestClient(TestServer(server.build(monitor.services), host="127.0.0.1"))
    await client.start_server()
    try:
        responses = await asyncio.gather(*(client.get("/metrics") for _ in range(30)))
        bodies = {await r.text() for r in responses}
        assert all(r.status == 200 for r in responses) and renders == 1
        assert len(bodies) == 1 and "netwatch_check_state" in bodies.pop()
        monkeypatch.setattr(server, "METRICS_REUSE_SECONDS", 0.0)
        await asyncio.sleep(0.01)
        assert (await client.get("/metrics")).status == 200 and renders == 2
    finally:
        await client.close()
        monitor.store.close()


async def test_gzip_when_asked_and_the_same_text(tmp_path: Path) -> None:
    config = loads(f"store: {tmp_path / 'nw.db'}\ntargets: [{{id: a, host: 127.0.0.1, "
                   f"checks: [{{kind: tcp, port: 9, interval: 1h}}]}}]\n", str(tmp_path / "v.yaml"), {})
    monitor = Monitor(config, Store.open(config.store))
    client = TestClient(TestServer(server.build(monitor.services), host="127.0.0.1"), auto_decompress=False)
    await client.start_server()
    try:
        plain = await client.get("/metrics", headers={"Accept-Encoding": "identity"})
        assert plain.status == 200 and "Content-Encoding" not in plain.headers
        text = await plain.read()
        assert b"# TYPE netwatch_check_state gauge" in text and b"netwatch_target_info{" in text
        zipped = await client.get("/metrics", headers={"Accept-Encoding": "deflate, gzip;q=0.8"})
        assert zipped.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["Vary"]
        assert gzip.decompress(await zipped.read()) == text
        refused = await client.get("/metrics", headers={"Accept-Encoding": "gzip;q=0"})
        assert "Content-Encoding" not in refused.headers and await refused.read() == text
    finally:
        await client.close()
        monitor.store.close()



async def test_head_has_no_body_and_the_connection_stays_usable(tmp_path: Path) -> None:
    config = loads(f"store: {tmp_path / 'nw.db'}\ntargets: [{{id: a, host: 127.0.0.1, "
                   f"checks: [{{kind: tcp, port: 9, interval: 1h}}]}}]\n", str(tmp_path / "v.yaml"), {})
    monitor = Monitor(config, Store.open(config.store))
    client = TestClient(TestServer(server.build(monitor.services), host="127.0.0.1"))
    await client.start_server()
    try:
        for encoding in ("identity", "gzip"):
            head = await client.head("/metrics", headers={"Accept-Encoding": encoding})
            assert head.status == 200 and await head.read() == b""
            # The same kept-alive connection: a body sent after the HEAD answer would garble this one.
            get = await client.get("/metrics", headers={"Accept-Encoding": encoding})
            assert get.status == 200 and b"netwatch_check_state" in await get.read()
            if encoding == "identity":
                assert int(head.headers["Content-Length"]) == int(get.headers["Content-Length"])
    finally:
        await client.close()
        monitor.store.close()


async def test_a_scrape_shows_the_cost_of_the_render_it_was_served_from(tmp_path: Path) -> None:
    config = loads(f"store: {tmp_path / 'nw.db'}\ntargets: [{{id: a, host: 127.0.0.1, "
                   f"checks: [{{kind: tcp, port: 9, interval: 1h}}]}}]\n", str(tmp_path / "v.yaml"), {})
    monitor = Monitor(config, Store.open(config.store))
    client = TestClient(TestServer(server.build(monitor.services), host="127.0.0.1"))
    await client.start_server()
    try:
        for encoding in ("identity", "gzip"):
            m = parse_metrics(await (await client.get("/metrics", headers={"Accept-Encoding": encoding})).text())
            renders = monitor.services.collector.renders
            assert metric_value(m, "netwatch_metrics_renders_total") == renders.count == 1
            assert metric_value(m, "netwatch_metrics_render_seconds") == renders.last_seconds > 0
            assert metric_value(m, "netwatch_metrics_last_render_cpu_seconds") == renders.last_cpu_seconds > 0
            assert metric_value(m, "netwatch_metrics_render_cpu_seconds_total") == renders.cpu_seconds_total
    finally:
        await client.close()
        monitor.store.close()


async def test_the_web_side_writes_lines_ahead_of_the_scrapes_and_stops_at_close(tmp_path: Path,
                                                                                       monkeypatch) -> None:
    from netwatch.web import metrics as metrics_module
    monkeypatch.setattr(metrics_module, "WARM_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(metrics_module, "AHEAD_MIN_CHECKS", 0)
    config = loads(f"store: {tmp_path / 'nw.db'}\ntargets: [{{id: a, host: 127.0.0.1, "
                   f"checks: [{{kind: tcp, port: 9, interval: 1h}}]}}]\n", str(tmp_path / "v.yaml"), {})
    monitor = Monitor(config, Store.open(config.store))
    app = server.build(monitor.services)
    client = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        renders = monitor.services.collector.renders
        for _ in range(100):
            if renders.ahead_passes:
                break
            await asyncio.sleep(0.01)
        assert renders.ahead_passes == 1 and renders.count == 0
        assert monitor.live.on_result is not None
        warm = app[server.METRICS_CACHE_KEY]["ahead"]
        assert not warm.done()   # the next pass in AHEAD_EVERY_SECONDS
        assert (await client.get("/metrics")).status == 200
    finally:
        await client.close()
        monitor.store.close()
    assert warm.done() and monitor.live.on_result is None


async def test_a_failing_pass_ahead_is_logged_and_scrapes_go_on(tmp_path: Path, monkeypatch, caplog) -> None:
    from netwatch.web import metrics as metrics_module
    monkeypatch.setattr(metrics_module, "WARM_DELAY_SECONDS", 0.0)
    config = loads(f"store: {tmp_path / 'nw.db'}\ntargets: [{{id: a, host: 127.0.0.1, "
                   f"checks: [{{kind: tcp, port: 9, interval: 1h}}]}}]\n", str(tmp_path / "v.yaml"), {})
    monitor = Monitor(config, Store.open(config.store))

    async def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(monitor.services.collector, "keep_current", broken)
    client = TestClient(TestServer(server.build(monitor.services), host="127.0.0.1"))
    await client.start_server()
    try:
        await asyncio.sleep(0.01)
        assert "writing /metrics lines ahead of the scrapes failed" in caplog.text
        response = await client.get("/metrics")
        assert response.status == 200 and "netwatch_check_state" in await response.text()
    finally:
        await client.close()
        monitor.store.close()
