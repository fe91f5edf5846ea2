"""Paging config refuses settings that would fail silently at run time."""

from __future__ import annotations

import pytest

from netwatch.config.paging import HeartbeatSpec
from netwatch.fields import FieldError, Secret


@pytest.mark.parametrize("url", ["json://127.0.0.1:9/ping", "127.0.0.1/ping", "https:///ping"])
def test_heartbeat_url_must_be_http(url: str) -> None:
    with pytest.raises(FieldError) as info:
        HeartbeatSpec(url=Secret(url))
    assert info.value.field == "url" and url not in str(info.value)


def test_heartbeat_http_urls_are_fine() -> None:
    assert HeartbeatSpec(url=Secret("https://127.0.0.1:8443/ping/abc")).url.reveal().endswith("/abc")
