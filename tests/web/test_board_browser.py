"""The status board in a real headless Chromium (Debian's, driven by Selenium and chromedriver)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from netwatch.lab.venue import dump
from netwatch.probes import PROBES
from tests.lab.background import BackgroundLab
from tests.support import NetwatchProcess

webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (test extra)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                                reason="needs Debian chromium and chromium-driver")

INJECTED = '<script>document.title="pwned"</script>'
OPERATOR = "operator-token-0123456789abcdef"


@pytest.fixture
def lab() -> Iterator[BackgroundLab]:
    bg = BackgroundLab()
    yield bg
    bg.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1600,1000", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def wait(driver: Any, predicate: Callable[[Any], Any], what: str, timeout_seconds: float = 25) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # The page rebuilds its lists on every refresh: an element found a moment ago may be gone; look again.
    return WebDriverWait(driver, timeout_seconds, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,)).until(predicate, message=what)


def click(driver: Any, css: str, what: str) -> None:
    """Click an element of a list the page rebuilds every refresh (retrying when it was replaced meanwhile)."""
    def attempt(d: Any) -> bool:
        found = d.find_elements("css selector", css)
        if not found:
            return False
        found[0].click()
        return True

    wait(driver, attempt, what)


def tile_state(driver: Any, target: str) -> str | None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

    try:
        return driver.find_element("css selector", f'.tile[data-target="{target}"]').get_attribute("data-state")
    except (NoSuchElementException, StaleElementReferenceException):
        return None


def test_tiles_change_when_the_lab_breaks_and_hostile_text_stays_text(
        lab: BackgroundLab, browser: Any, netwatch_process: Callable[..., NetwatchProcess],
        artifacts_dir: Path) -> None:
    config = lab.lab.config("{listen}", "{store}", 0.5, set(PROBES))
    config["operators"] = [{"name": "an", "token": OPERATOR}]
    proc = netwatch_process(dump(config))
    browser.get(proc.base_url + "/board")
    wait(browser, lambda d: tile_state(d, "portal") == "up", "portal tile up")
    assert browser.find_element("id", "zones").text.count("hoạt động") >= 6   # Vietnamese by default (zone counts)
    assert browser.execute_script("return document.documentElement.lang") == "vi"

    # The portal breaks with a hostile reason phrase: the tile turns red and shows the text as text.
    lab.run(lab.lab.website, "portal", "error", 500, INJECTED)
    wait(browser, lambda d: tile_state(d, "portal") == "down", "portal tile down")
    portal = browser.find_element("css selector", '.tile[data-target="portal"]')
    assert INJECTED in portal.get_attribute("title")   # raw probe text on hover; the tile shows words
    assert "Trang web báo lỗi" in portal.text   # words from the shared cause catalogue
    assert browser.find_elements("css selector", "#zones script, #incidents script") == []
    assert browser.title != "pwned"
    row = wait(browser, lambda d: d.find_elements("css selector", '#incidents .inc[data-check="portal/http"]'),
               "the portal's incident row")
    assert INJECTED in row[0].text
    wait(browser, lambda d: "#" in d.find_element("css selector", '#incidents .inc[data-check="portal/http"]').text,
         "the incident number from paging")
    browser.save_screenshot(str(artifacts_dir / "board-portal-down.png"))

    # English switch
    browser.find_element("id", "lang").click()
    wait(browser, lambda d: "Down" in d.find_element("css selector", '.tile[data-target="portal"]').text,
         "English state names")
    assert browser.execute_script("return document.documentElement.lang") == "en"

    # An operator signs in on the board and acknowledges; the board shows who did.
    browser.find_element("id", "signin-open").click()
    browser.find_element("id", "op-secret").send_keys(OPERATOR)
    browser.find_element("css selector", "#signin button[type=submit]").click()
    click(browser, '#incidents .inc[data-check="portal/http"] button', "the acknowledge button")
    ack_cell = '#incidents .inc[data-check="portal/http"] .ack .who'
    wait(browser, lambda d: d.find_element("css selector", ack_cell).text == "✓ an", "acknowledged by an")
    incident = wait(browser, lambda d: d.find_element("css selector", '#incidents .inc[data-check="portal/http"]')
                    .get_attribute("data-incident"), "the portal's incident id")
    browser.save_screenshot(str(artifacts_dir / "board-acknowledged.png"))

    # The lab heals; the tile goes back to green.
    lab.run(lab.lab.website, "portal", "ok")
    wait(browser, lambda d: tile_state(d, "portal") == "up", "portal tile up again")
    # An officer who was on the phone still learns it was down: the recently resolved list keeps it.
    # (by incident: the portal's checks are one incident per fault, resolved when its last check recovers)
    resolved = wait(browser, lambda d: d.find_elements("css selector", f'#resolved .inc[data-incident="{incident}"]'),
                    "the portal in the recently resolved list", 45)
    assert "an" in resolved[0].text
    errors = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"] if hasattr(browser, "get_log") else []
    assert not [e for e in errors if "Content Security Policy" in e.get("message", "")], errors


def test_injected_sysdescr_is_text(lab: BackgroundLab, browser: Any,
                                   netwatch_process: Callable[..., NetwatchProcess], artifacts_dir: Path) -> None:
    if "snmp" not in PROBES:
        pytest.skip("snmp probe kind not registered yet")
    from netwatch.net.snmp import oids

    lab.run(lab.lab.agents["hall-sw"].set_text, oids.SYS_DESCR, INJECTED)
    proc = netwatch_process(dump(lab.lab.config("{listen}", "{store}", 0.5, set(PROBES))))
    browser.get(proc.base_url + "/board")
    tile = wait(browser, lambda d: [t for t in d.find_elements("css selector", '.tile[data-target="hall-sw"]')
                                    if INJECTED in (t.get_attribute("title") or "")], "the sysDescr on the hall switch tile")
    assert tile and browser.find_elements("css selector", "#zones script") == []
    assert browser.title != "pwned"
    browser.save_screenshot(str(artifacts_dir / "board-sysdescr.png"))
