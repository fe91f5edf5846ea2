"""The daemon's stop is bounded: a step that never finishes is named in the log and the stop goes on."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from netwatch import daemon


async def test_a_step_that_never_ends_is_named_and_left(caplog: pytest.LogCaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon, "STOP_STEP_SECONDS", 0.2)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="netwatch.daemon"):
        await daemon.bounded(asyncio.Event().wait(), "the web listener")
    assert time.monotonic() - started < 5
    assert "the web listener did not finish within 0.2s" in caplog.text


async def test_a_step_that_ends_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    done: list[int] = []

    async def step() -> None:
        done.append(1)

    with caplog.at_level(logging.WARNING, logger="netwatch.daemon"):
        await daemon.bounded(step(), "the scheduler")
    assert done == [1] and caplog.text == ""
