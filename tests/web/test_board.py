"""The status board served by a real `netwatch run` watching lab endpoints."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any, Callable, Iterator

import pytest

from netwatch.lab.venue import dump
from netwatch.probes import PROBES
from netwatch.web.board import CSP
from tests.lab.background import BackgroundLab
from tests.support import NetwatchProcess, http_get, wait_for


@pytest.fixture
def lab() -> Iterator[BackgroundLab]:
    bg = BackgroundLab()
    yield bg
    bg.close()


def venue_text(lab: BackgroundLab) -> str:
    config = lab.lab.config("{listen}", "{store}", 0.5, set(PROBES))
    config["operators"] = [{"name": "truc-ca", "token": "operator-token-0123456789"}]
    return dump(config)


def board(proc: NetwatchProcess) -> dict[str, Any]:
    return json.loads(http_get(proc.base_url + "/api/v1/board")[1])


def tile(data: dict[str, Any], target: str) -> dict[str, Any]:
    return next(t for z in data["zones"] for t in z["tiles"] if t["id"] == target)


def test_board_json_follows_the_lab(lab: BackgroundLab, netwatch_process: Callable[..., NetwatchProcess]) -> None:
    proc = netwatch_process(venue_text(lab))
    wait_for(lambda: tile(board(proc), "portal")["state"] == "up", 20, what="portal up")
    data = board(proc)
    assert [z["id"] for z in data["zones"]] == ["core", "hall", "rooms", "press", "hotel", "egov"]
    assert data["state_names"]["vi"]["down"] == "Mất kết nối"
    assert data["incidents"] == []
    lab.run(lab.lab.website, "portal", "error", 500)
    wait_for(lambda: tile(board(proc), "portal")["state"] == "down", 20, what="portal down")
    data = board(proc)
    portal = tile(data, "portal")
    assert portal["error"] == "status" and "500" in portal["detail"]
    egov = next(z for z in data["zones"] if z["id"] == "egov")
    assert egov["state"] == "down"
    incident = wait_for(lambda: [i for i in board(proc)["incidents"] if i["check"] == "portal/http"], 20,
                        what="the portal/http incident")[0]
    assert incident["state"] == "down" and incident["age_seconds"] >= 0
    wait_for(lambda: next(i for i in board(proc)["incidents"] if i["check"] == "portal/http")["id"], 20,
             what="the paging incident number on the board")
    lab.run(lab.lab.website, "portal", "ok")
    wait_for(lambda: tile(board(proc), "portal")["state"] == "up", 20, what="portal back up")


def test_dependants_show_unreachable(lab: BackgroundLab, netwatch_process: Callable[..., NetwatchProcess]) -> None:
    proc = netwatch_process(venue_text(lab))
    wait_for(lambda: tile(board(proc), "press-ap1")["state"] == "up", 20, what="press AP up")
    lab.call(lab.lab.isolate("press-sw"))
    wait_for(lambda: tile(board(proc), "press-sw")["state"] == "down", 20, what="press switch down")
    wait_for(lambda: tile(board(proc), "press-ap1")["state"] == "unreachable", 20, what="AP unreachable")


def test_maintenance_and_phase_and_duty(lab: BackgroundLab,
                                        netwatch_process: Callable[..., NetwatchProcess]) -> None:
    import datetime as dt

    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).replace(tzinfo=None, microsecond=0)
    start, end = (now - dt.timedelta(hours=1)).isoformat(), (now + dt.timedelta(hours=1)).isoformat()
    config = lab.lab.config("{listen}", "{store}", 0.5, set(PROBES))
    config["maintenance"] = [{"start": start, "end": end, "targets": ["qlvb"], "reason": "nâng cấp"}]
    config["event"] = {"name": "Đại hội", "phases": [{"id": "trong", "name": "Trong Đại hội", "start": start,
                                                      "end": end}]}
    config["channels"] = {"chat": {"urls": ["json://127.0.0.1:9/chat"]}}
    config["oncall"] = {"contacts": [{"id": "an", "name": "Nguyễn Văn An", "phone": "+84912000001"}],
                        "shifts": [{"contact": "an", "start": start, "end": end}]}
    proc = netwatch_process(dump(config))
    wait_for(lambda: tile(board(proc), "qlvb")["state"] == "maintenance", 20, what="qlvb in maintenance")
    data = board(proc)
    assert data["phase"]["id"] == "trong" and data["event"] == "Đại hội"
    assert data["on_duty"] == [{"name": "Nguyễn Văn An", "role": "primary", "phone": "+84912000001"}]


def test_page_and_assets_are_self_contained_with_strict_headers(
        lab: BackgroundLab, netwatch_process: Callable[..., NetwatchProcess]) -> None:
    proc = netwatch_process(venue_text(lab))
    with urllib.request.urlopen(proc.base_url + "/board", timeout=5) as resp:  # noqa: S310 - loopback
        page = resp.read().decode()
        assert resp.headers["Content-Security-Policy"] == CSP
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in CSP and "'unsafe-inline'" not in CSP
    # every script is a same-origin file; there is no inline script or handler
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts and all('src="/board/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"\son[a-z]+=", page)
    for name in ("wall.js", "wall.css"):
        status, text = http_get(proc.base_url + f"/board/static/{name}")
        assert status == 200
        assert not re.search(r"https?://", text), f"{name} refers to an external asset"
    assert "innerHTML" not in http_get(proc.base_url + "/board/static/wall.js")[1].replace(
        "(never innerHTML)", "")
    # the wall's fonts come from netwatch itself (an offline NOC has no CDN)
    assert "font-src 'self'" in CSP
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        with urllib.request.urlopen(proc.base_url + f"/board/static/font/{name}", timeout=5) as resp:  # noqa: S310
            assert resp.headers["Content-Type"] == "font/ttf" and resp.read(4) == b"\x00\x01\x00\x00"
    with pytest.raises(urllib.error.HTTPError) as err:
        http_get(proc.base_url + "/board/static/font/passwd")
    assert err.value.code == 404
    # `/` leads to the board
    with urllib.request.urlopen(proc.base_url + "/", timeout=5) as resp:  # noqa: S310 - loopback
        assert resp.url.endswith("/board") and "wall.js" in resp.read().decode()
    assert f"http://{proc.listen}/board" in proc.log()
    with pytest.raises(urllib.error.HTTPError) as err:
        http_get(proc.base_url + "/board/static/..%2Fboard.py")
    assert err.value.code == 404
