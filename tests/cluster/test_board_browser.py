"""The board's cluster panel rendered by a real headless Chromium, on two `netwatch run` nodes and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cluster.test_nodes import SLOTS, Nodes, cluster_config, database, nodes, owners, sinks  # noqa: F401 (fixtures)
from tests.e2e.paging_support import tcp_target
from tests.peers import postgres
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import wait_for
from tests.web.test_board_browser import browser, pytestmark, wait  # noqa: F401 (fixture, skip marks)


def test_the_panel_shows_both_nodes_in_vietnamese_then_english(
        pg_cluster: postgres.Cluster, database: str, tmp_path: Path, sinks: dict[str, HttpSink],  # noqa: F811
        nodes: Nodes, browser: Any) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    target = TcpTarget().up()
    try:
        text = cluster_config(pg_cluster, database, tmp_path, sinks, tcp_target("web0", target.port))
        nodes.start(text, "dc-1")
        wait_for(lambda: set(owners(pg_cluster, database).values()) == {"dc-1"}, 20, what="dc-1 owns every slot")
        b = nodes.start(text, "dc-2")
        browser.get(b.base_url + "/board?lang=vi")

        def rows(driver: Any) -> dict[str, str] | None:
            found = {r.get_attribute("data-node"): r.text
                     for r in driver.find_elements(By.CSS_SELECTOR, "#cluster-nodes tr[data-node]")}
            return found if set(found) == {"dc-1", "dc-2"} and all("đang chạy" in t for t in found.values()) else None
        found = wait(browser, rows, "both nodes live on the panel")
        assert browser.find_element(By.ID, "cluster").is_displayed()
        assert "★" in found["dc-1"]   # the coordinator (started first)
        assert "Cụm netwatch" in browser.find_element(By.CSS_SELECTOR, "#cluster h2").text
        assert "Điều phối: dc-1" in browser.find_element(By.ID, "cluster-coordinator").text
        assert "dc: 2/2 nút chạy" in browser.find_element(By.ID, "cluster-sites").text
        browser.find_element(By.ID, "lang").click()
        wait(browser, lambda d: "netwatch cluster" in d.find_element(By.CSS_SELECTOR, "#cluster h2").text,
             "the English switch")
        assert "Coordinator: dc-1" in browser.find_element(By.ID, "cluster-coordinator").text
        assert "live" in browser.find_element(By.CSS_SELECTOR, '#cluster-nodes tr[data-node="dc-2"]').text
        assert browser.find_element(By.ID, "cluster-error").is_displayed() is False
    finally:
        target.down()
