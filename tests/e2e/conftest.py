"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from typing import Iterator

import pytest

from tests.peers.sinks import HttpSink


@pytest.fixture
def sinks() -> Iterator[dict[str, HttpSink]]:
    """The paging sinks: a chat gateway and an SMS gateway, real HTTP servers on loopback."""
    made = {"chat": HttpSink().start(), "sms": HttpSink().start()}
    yield made
    for s in made.values():
        s.stop()
