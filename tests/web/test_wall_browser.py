"""The NOC wall in a real headless Chromium at 1920x1080 and on a 412-px phone, on generated venues of 200 and 500
switches watched by a real `netwatch run` (healthy ones answer on a loopback port, faulty ones are refused)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from netwatch.lab import bigvenue
from netwatch.lab.venue import dump
from tests.support import NetwatchProcess, free_port, http_get
from tests.web.test_board_browser import CHROMEDRIVER, CHROMIUM, pytestmark, wait  # noqa: F401 - same skips

MIN_PROBLEM_NAME_PX = 24


@pytest.fixture
def answering_port() -> Iterator[int]:
    """A loopback TCP port that accepts every connection: the healthy switches."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)

    def serve() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield int(sock.getsockname()[1])
    sock.close()


def chromium(tmp_path: Path, name: str, width: int, height: int, mobile: bool = False) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
                 f"--window-size={width},{height}", f"--user-data-dir={tmp_path / name}"):
        options.add_argument(flag)
    if mobile:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {"width": width, "height": height,
                                                                                "pixelRatio": 1.0}})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    if not mobile:   # the viewport, not the window, is 1920x1080
        driver.set_window_size(width, height)
        inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])
        assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == [width, height]
    return driver


# One script for the geometry: each fault's tile and name, where they sit and how large the name is.
GEOMETRY = """
const ids = arguments[0];
const zones = document.getElementById("zones").getBoundingClientRect();
return ids.map((id) => {
  const tile = document.querySelector(`.tile[data-target="${id}"]`);
  if (!tile) return {id, missing: true};
  const r = tile.getBoundingClientRect();
  const name = tile.querySelector(".name");
  return {id, top: r.top, bottom: r.bottom, left: r.left, right: r.right, zonesBottom: zones.bottom, zonesRight: zones.right,
          state: tile.dataset.state, px: parseFloat(getComputedStyle(name).fontSize),
          nameHeight: name.getBoundingClientRect().height, viewH: innerHeight, viewW: innerWidth};
});
"""


def faults_on_screen(driver: Any, ids: list[str]) -> list[dict[str, Any]]:
    return driver.execute_script(GEOMETRY, ids)  # type: ignore[no-any-return]


def assert_visible_and_large(geometry: list[dict[str, Any]]) -> None:
    for g in geometry:
        assert not g.get("missing"), g
        assert g["state"] == "down", g
        assert 0 <= g["top"] and g["bottom"] <= min(g["viewH"], g["zonesBottom"]) + 0.5, f"{g['id']} off screen: {g}"
        assert 0 <= g["left"] and g["right"] <= min(g["viewW"], g["zonesRight"]) + 0.5, g
        assert g["px"] >= MIN_PROBLEM_NAME_PX and g["nameHeight"] >= MIN_PROBLEM_NAME_PX, g


def test_200_targets_5_faults_on_one_wall_screen_phone_and_stale_banner(
        tmp_path: Path, answering_port: int, netwatch_process: Callable[..., NetwatchProcess],
        artifacts_dir: Path) -> None:
    faulty = bigvenue.faulty_ids(200, 10, 5)
    proc = netwatch_process(dump(bigvenue.config("{listen}", "{store}", answering_port, free_port(), 200, 10, 5)))
    wall = chromium(tmp_path, "wall", 1920, 1080)
    phone = None
    try:
        wall.get(proc.base_url + "/")          # `/` leads to the board
        assert wall.current_url.endswith("/board")
        wait(wall, lambda d: all(g.get("state") == "down" for g in faults_on_screen(d, faulty)), "5 faults down", 40)
        time.sleep(2.5)   # one more refresh: incident rows and their numbers
        assert_visible_and_large(faults_on_screen(wall, faulty))
        # the page itself never scrolls on the wall, and healthy tiles are still listed by name
        assert wall.execute_script("return document.documentElement.scrollHeight") <= 1080
        assert wall.execute_script("return document.documentElement.scrollWidth") <= 1920
        assert "compact" not in wall.find_element("id", "zones").get_attribute("class"), "200 names fit, no dots"
        # faults first: the zones with a fault lead, and within them the fault leads
        # (read in one script: the page rebuilds its DOM on every refresh)
        leading = wall.execute_script("return [...document.querySelectorAll('#zones .zone')].slice(0, 5)"
                                      ".map((z) => [z.dataset.state, z.querySelector('.tile').dataset.state])")
        assert leading == [["down", "down"]] * 5
        # the incident list: zone, device name >= 24 px, start time in site time, duration, who acknowledged
        assert wall.execute_script("return document.querySelectorAll('#incidents .inc').length") == 5
        data = json.loads(http_get(proc.base_url + "/api/v1/board")[1])
        first = data["incidents"][0]
        text = wall.execute_script("return document.querySelector(arguments[0]).innerText",
                                   f'#incidents .inc[data-check="{first["check"]}"]')
        assert first["zone_name"] in text and first["name"] in text
        assert f"bắt đầu {first['since_text'].split(' ')[0]}" in text and "kéo dài" in text
        assert "Chưa ai xác nhận" in text
        sizes = wall.execute_script("return [...document.querySelectorAll('#incidents .inc .name')]"
                                    ".map((n) => parseFloat(getComputedStyle(n).fontSize))")
        assert min(sizes) >= MIN_PROBLEM_NAME_PX
        # the wall's font is netwatch's own, not a CDN's
        assert wall.execute_script("return document.fonts.check('20px \"NW Sans\"')")
        wall.save_screenshot(str(artifacts_dir / "wall-200-1920x1080.png"))

        phone = chromium(tmp_path, "phone", 412, 915, mobile=True)
        phone.get(proc.base_url + "/board")
        wait(phone, lambda d: len(d.find_elements("css selector", "#incidents .inc")) == 5, "incidents on the phone")
        assert phone.execute_script("return window.innerWidth") == 412
        assert phone.execute_script("return document.documentElement.scrollWidth") <= 412, "no sideways scroll"
        panel_top = phone.execute_script("return document.getElementById('panel').getBoundingClientRect().top")
        zones_top = phone.execute_script("return document.getElementById('zones').getBoundingClientRect().top")
        assert panel_top < zones_top < 10_000, "incidents come first on a phone"
        assert panel_top < 915, "the incident list starts on the first screen"
        phone.save_screenshot(str(artifacts_dir / "wall-200-phone-412.png"))

        # netwatch stops: the whole wall greys out with one banner within 2 refresh intervals
        refresh = data["refresh_seconds"]
        assert not wall.find_element("id", "stale-banner").is_displayed()
        proc.stop()
        stopped = time.monotonic()
        wait(wall, lambda d: d.find_element("id", "stale-banner").is_displayed(), "the stale banner",
             2 * refresh + 2)
        assert time.monotonic() - stopped <= 2 * refresh + 0.3
        assert "NETWATCH" in wall.find_element("id", "stale-banner").text
        assert "stale" in wall.find_element("tag name", "body").get_attribute("class")
        wall.save_screenshot(str(artifacts_dir / "wall-200-stale.png"))
    finally:
        wall.quit()
        if phone is not None:
            phone.quit()


def test_500_targets_fit_one_screen_in_compact_mode(
        tmp_path: Path, answering_port: int, netwatch_process: Callable[..., NetwatchProcess],
        artifacts_dir: Path) -> None:
    faulty = bigvenue.faulty_ids(500, 20, 5)
    text = dump(bigvenue.config("{listen}", "{store}", answering_port, free_port(), 500, 20, 5, interval_seconds=5))
    proc = netwatch_process(text)
    wall = chromium(tmp_path, "wall500", 1920, 1080)
    try:
        wall.get(proc.base_url + "/board")
        wait(wall, lambda d: all(g.get("state") == "down" for g in faults_on_screen(d, faulty)), "5 faults down", 60)
        time.sleep(2.5)
        assert_visible_and_large(faults_on_screen(wall, faulty))
        assert "compact" in wall.find_element("id", "zones").get_attribute("class")
        # every one of the 500 tiles is on the screen, none below the fold
        below = wall.execute_script(
            "const z = document.getElementById('zones').getBoundingClientRect(); const b = Math.min(innerHeight, z.bottom);"
            "return [...document.querySelectorAll('.tile')].filter((t) => t.getBoundingClientRect().bottom > b + 0.5"
            " || t.getBoundingClientRect().right > z.right + 0.5).map((t) => t.dataset.target)")
        assert len(wall.find_elements("css selector", ".tile")) == 500
        assert below == []
        wall.save_screenshot(str(artifacts_dir / "wall-500-compact.png"))
        # problems only: the healthy zones fold away, the faults stay
        wall.find_element("id", "view").click()
        wait(wall, lambda d: len(d.find_elements("css selector", "#zones .zone")) == 5, "problems-only view")
        assert len(wall.find_elements("css selector", ".tile")) == 5
    finally:
        wall.quit()


def test_a_defacement_is_a_security_incident_on_the_wall(
        tmp_path: Path, netwatch_process: Callable[..., NetwatchProcess], artifacts_dir: Path) -> None:
    from netwatch.probes import PROBES
    from tests.lab.background import BackgroundLab

    if "web_integrity" not in PROBES:
        pytest.skip("web_integrity probe kind not registered")
    lab = BackgroundLab()
    wall = None
    try:
        proc = netwatch_process(dump(lab.lab.config("{listen}", "{store}", 0.5, set(PROBES))))
        wall = chromium(tmp_path, "deface", 1920, 1080)
        wall.get(proc.base_url + "/board?lang=en")
        wait(wall, lambda d: d.find_element("css selector", '.tile[data-target="portal"]').get_attribute(
            "data-state") == "up", "portal up")
        lab.run(lab.lab.website, "portal", "defaced")
        tile = '.tile[data-target="portal"]'
        wait(wall, lambda d: "security" in d.find_element("css selector", tile).get_attribute("class"),
             "the portal tile marked as a security incident", 40)
        text = wall.execute_script("return document.querySelector(arguments[0]).innerText", tile)
        assert "SECURITY" in text and "Page contains forbidden content" in text, text
        row = wait(wall, lambda d: d.execute_script(
            "const r = document.querySelector('#incidents .inc.security'); return r && r.innerText;"), "a security row")
        assert "SECURITY" in row
        # its own colour: not the red of an outage
        colours = wall.execute_script(
            "return [getComputedStyle(document.querySelector(arguments[0])).backgroundImage,"
            " getComputedStyle(document.querySelector('.tile.s-up')).backgroundColor]", tile)
        assert "gradient" in colours[0]
        wall.save_screenshot(str(artifacts_dir / "wall-defacement.png"))
    finally:
        if wall is not None:
            wall.quit()
        lab.close()
