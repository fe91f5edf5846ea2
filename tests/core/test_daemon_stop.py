"""The daemon's stop is bounded: a step that never finishes is named in the log and the stop goes on; the web
side stops first, so scrapes cannot take the loop from the other steps."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Awaitable

import aiohttp
import pytest

from netwatch import daemon
from netwatch.app import Monitor
from netwatch.config import Config, loads
from netwatch.store import Store
from netwatch.web import server
from tests.support import free_port


async def test_a_step_that_never_ends_is_named_and_left(caplog: pytest.LogCaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon, "STOP_STEP_SECONDS", 0.2)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="netwatch.daemon"):
        await daemon.bounded(asyncio.Event().wait(), "the web listener")
    assert time.monotonic() - started < 5
    assert "the web listener did not finish within 0.2s" in caplog.text


@pytest.mark.timeout(30)
async def test_a_step_that_swallows_its_cancellation_is_left_too(caplog: pytest.LogCaptureFixture,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # asyncio.wait_for waits for the step it cancelled to end: a step that lost the cancellation held the stop
    # for ever, without the overrun ever being logged (netwatch killed 15 s after SIGTERM in the secrets test).
    monkeypatch.setattr(daemon, "STOP_STEP_SECONDS", 0.2)
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                pass   # what a lost cancellation looks like from outside

    helper = asyncio.create_task(asyncio.sleep(60), name="some-helper")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="netwatch.daemon"):
        await daemon.bounded(stubborn(), "the writer and paging tasks")
    assert time.monotonic() - started < 5
    assert "the writer and paging tasks did not finish within 0.2s; going on (still running: " in caplog.text
    assert "some-helper at " in caplog.text   # what else still runs is named, with where it waits
    release.set()
    helper.cancel()


async def test_a_step_that_ends_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    done: list[int] = []

    async def step() -> None:
        done.append(1)

    with caplog.at_level(logging.WARNING, logger="netwatch.daemon"):
        await daemon.bounded(step(), "the scheduler")
    assert done == [1] and caplog.text == ""


def _venue(tmp_path: Path, port: int) -> Config:
    return loads(f'listen: "127.0.0.1:{port}"\nstore: "{tmp_path / "nw.db"}"\ntargets: [{{id: a, host: 127.0.0.1, '
                 f"checks: [{{kind: tcp, port: 9, interval: 1h}}]}}]\n", str(tmp_path / "venue.yaml"), {})


async def _answers(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def test_the_web_side_stops_before_every_other_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Scrapes served while stopping took the loop from the stop's steps (a 10,000-check daemon scraped in a loop
    # overran them one after another): by the first other step, nothing may be listening any more.
    port = free_port()
    config = _venue(tmp_path, port)
    store = Store.open(config.store)
    listening_during: dict[str, bool] = {}
    real = daemon.bounded

    async def watched(step: Awaitable[object], what: str, seconds: float | None = None) -> None:
        if what != "the web listener":
            listening_during[what] = await _answers(port)
        await real(step, what, seconds)

    monkeypatch.setattr(daemon, "bounded", watched)
    stop = asyncio.Event()
    running = asyncio.create_task(daemon.run(config, store, stop))
    try:
        for _ in range(200):
            if await _answers(port):
                break
            await asyncio.sleep(0.05)
        assert await _answers(port)
        stop.set()
        await asyncio.wait_for(running, 30)
    finally:
        stop.set()
        store.close()
    assert listening_during == {"the scheduler": False, "the writer and paging tasks": False,
                                "writing what is pending": False}


async def test_closing_the_web_side_cancels_a_metrics_render_in_progress(tmp_path: Path) -> None:
    # A render runs as a task of its own, shared by the scrapes waiting on it: aiohttp waited for the scrape
    # (60 s by default) and the render went on taking the loop after the scrape was gone.
    port = free_port()
    config = _venue(tmp_path, port)
    store = Store.open(config.store)
    monitor = Monitor(config, store)
    rendering, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_render() -> list[bytes]:
        rendering.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return []

    monitor.services.collector.render_checks_async = slow_render  # type: ignore[method-assign]
    listener = await server.start(monitor.services)
    try:
        async with aiohttp.ClientSession() as session:
            scrape = asyncio.create_task(session.get(f"http://127.0.0.1:{port}/metrics"))
            await asyncio.wait_for(rendering.wait(), 10)
            started = time.monotonic()
            await asyncio.wait_for(listener.close(), 10)
            assert time.monotonic() - started < 5
            assert cancelled.is_set()
            await asyncio.gather(scrape, return_exceptions=True)
    finally:
        store.close()
