"""Acknowledge from the phone by link: chromium opens the link from a chat notice and confirms."""

from __future__ import annotations

import re
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from netwatch.notify import acklink
from tests.e2e.paging_support import kinds, query, tcp_target, venue
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import NetwatchProcess, wait_for

webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (test extra)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
                                reason="needs Debian chromium and chromium-driver")
ONCALL = """oncall:
  contacts: [{id: lan, name: Lan, notify: [chat]}]
"""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=412,900", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


def _status(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> int:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback only
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_link_in_chat_opens_a_page_and_only_the_button_acknowledges(
        netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], tmp_path: Path,
        browser: Any) -> None:
    web = TcpTarget().up()
    nw = netwatch_process(venue(sinks, tcp_target("web1", web.port), extra=ONCALL))
    store = tmp_path / "netwatch.db"
    wait_for(lambda: query(store, "SELECT 1 FROM transitions WHERE to_state='up'"), 10, what="web1 up")
    web.down()
    chat = sinks["chat"].wait_count(1, 10)
    sms = sinks["sms"].wait_count(1, 10)
    found = re.search(r"Take it: (http://\S+/ack/(\S+))", chat[0].body["message"])
    assert found, chat[0].body["message"]
    link, token = found.groups()
    assert link.startswith(nw.base_url + "/ack/")
    assert "/ack/" not in sms[0].body["message"]                 # an SMS carries no token
    assert "Told: Lan (other system)" in chat[0].body["message"]

    # Opening the link (as a chat app's preview would) shows the incident and acknowledges nothing.
    browser.get(link)
    assert "web1 (Hall)" in browser.find_element("id", "incident").text
    assert query(store, "SELECT state FROM incidents WHERE id=1") == [("open",)]
    browser.find_element("css selector", "textarea[name=note]").send_keys("rebooting the switch")
    browser.find_element("id", "confirm").click()
    wait_for(lambda: "Done" in browser.find_element("id", "heading").text, 10, what="the confirmation")
    assert query(store, "SELECT state, acked_by, ack_note FROM incidents WHERE id=1") == [
        ("acked", "Lan (other system)", "rebooting the switch")]
    audit = query(store, "SELECT who, action, source FROM audit WHERE action='ack'")
    assert audit[0][0] == "Lan (other system)" and audit[0][2].startswith("link:chat:")

    # Everyone told hears who took it and the note.
    wait_for(lambda: "ack" in kinds(sinks["sms"]) and "ack" in kinds(sinks["chat"]), 10, what="ack notices")
    ack_sms = next(r for r in sinks["sms"].received if r.body["dedup_key"].endswith("-ack"))
    assert "Lan (other system)" in ack_sms.body["message"] and "rebooting the switch" in ack_sms.body["message"]

    # The same link again: refused, and the page says who has it.
    browser.get(link)
    assert "already being handled by Lan (other system)" in browser.find_element("id", "heading").text
    assert browser.find_elements("id", "confirm") == []

    # A cut, altered or foreign token and an expired one: clear pages, nothing changes.
    browser.get(link[:-3])
    assert browser.find_element("id", "heading").text == "Liên kết không hợp lệ."
    key = acklink.load_key(str(tmp_path / ".netwatch-ack.key"))
    expired = acklink.sign(key, 1, "chat", time.time() - 1)
    browser.get(f"{nw.base_url}/ack/{expired}")
    assert browser.find_element("id", "heading").text == "Liên kết đã hết hạn."
    assert _status(f"{nw.base_url}/ack/{expired}") == 410
    foreign = acklink.sign(b"z" * 32, 1, "chat", time.time() + 60)
    assert _status(f"{nw.base_url}/ack/{foreign}") == 403


def test_cross_site_posts_are_refused(netwatch_process: Callable[..., NetwatchProcess],
                                      sinks: dict[str, HttpSink], tmp_path: Path) -> None:
    web = TcpTarget().up()
    nw = netwatch_process(venue(sinks, tcp_target("web1", web.port), extra=ONCALL))
    store = tmp_path / "netwatch.db"
    wait_for(lambda: query(store, "SELECT 1 FROM transitions WHERE to_state='up'"), 10, what="web1 up")
    web.down()
    chat = sinks["chat"].wait_count(1, 10)
    link = re.search(r"Take it: (http://\S+)", chat[0].body["message"]).group(1)  # type: ignore[union-attr]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert _status(link, b"note=x", {**form, "Origin": "http://127.0.0.2:1"}) == 403
    assert _status(link, b"note=x", {**form, "Sec-Fetch-Site": "cross-site"}) == 403
    assert _status(link, b"note=x", {**form, "Origin": "null"}) == 403      # a sandboxed frame elsewhere
    assert _status(link, b'{"note": "x"}', {"Content-Type": "application/json"}) == 403
    assert query(store, "SELECT state FROM incidents WHERE id=1") == [("open",)]
    assert _status(link, b"note=", {**form, "Origin": nw.base_url}) == 200
    assert query(store, "SELECT state FROM incidents WHERE id=1") == [("acked",)]
