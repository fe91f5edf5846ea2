"""http probe details never quote a URL's query string (API keys live there) and stay capped."""

from __future__ import annotations

from typing import AsyncIterator

import pytest

from netwatch.model import Target
from netwatch.probes import http
from tests.peers import webservers
from tests.peers.webservers import Peer

TARGET = Target(id="portal", host="127.0.0.1")
KEY = "apiKey7c6b5a4d3e2f"


@pytest.fixture
async def site() -> AsyncIterator[Peer]:
    peer = await webservers.start_site()
    yield peer
    await peer.close()


async def test_status_failure_detail_leaves_the_query_out(site: Peer) -> None:
    out = await http.probe(TARGET, http.Settings(url=site.url(f"/status/500?key={KEY}")), 5.0)
    assert (out.ok, out.error) == (False, "status")
    assert KEY not in out.detail and "/status/500?…" in out.detail, out.detail


async def test_timeout_detail_leaves_the_query_out(site: Peer) -> None:
    out = await http.probe(TARGET, http.Settings(url=site.url(f"/trickle?key={KEY}")), 0.3)
    assert out.error == "timeout"
    assert KEY not in out.detail and "/trickle?…" in out.detail, out.detail


async def test_redirect_detail_leaves_the_query_out_and_is_capped(site: Peer) -> None:
    long_target = "/status/503?" + KEY + "x" * 5000
    out = await http.probe(TARGET, http.Settings(url=site.url(f"/away?to={long_target}")), 5.0)
    assert out.error == "status"
    assert KEY not in out.detail and len(out.detail) <= 300, out.detail
    out = await http.probe(TARGET, http.Settings(url=site.url(f"/loop?key={KEY}")), 5.0)
    assert out.error == "redirects" and KEY not in out.detail, out.detail
