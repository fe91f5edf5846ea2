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


def test_the_panel_shows_an_isolated_and_a_suspect_site_in_vietnamese_then_english(
        pg_cluster: postgres.Cluster, database: str, tmp_path: Path, sinks: dict[str, HttpSink],  # noqa: F811
        nodes: Nodes, browser: Any) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    from tests.cluster.test_board import OtherSites
    from tests.cluster.test_nodes import sql

    anchor_server, target = TcpTarget().up(), TcpTarget().up()
    anchor = f"127.0.0.1:{anchor_server.port}"
    others = None
    try:
        checks = "".join(f"  - {{id: c{i}, host: 127.0.0.1, zone: hall, checks: [{{kind: tcp, port: {target.port}, "
                         "vantage: [dc, venue, pop]}]}\n" for i in range(5))
        text = cluster_config(pg_cluster, database, tmp_path, sinks, checks).replace(
            "  sites: {dc: {}}\n",
            f"  sites: {{dc: {{anchors: ['{anchor}']}}, venue: {{anchors: ['{anchor}']}}, pop: {{}}}}\n")
        a = nodes.start(text, "dc-1")
        wait_for(lambda: set(owners(pg_cluster, database).values()) == {"dc-1"}, 20, what="dc-1 owns every slot")
        [(config_hash,)] = sql(pg_cluster, database, "SELECT config_hash FROM cluster_nodes WHERE node = 'dc-1'")
        others = OtherSites(pg_cluster, database, config_hash, anchor, [f"c{i}/tcp" for i in range(5)])
        browser.get(a.base_url + "/board?lang=vi")

        def chips(driver: Any) -> dict[str, Any] | None:
            found = {c.get_attribute("data-site"): c
                     for c in driver.find_elements(By.CSS_SELECTOR, "#cluster-sites .cluster-site")}
            flagged = "isolated" in (found.get("venue") and found["venue"].get_attribute("class") or "") and \
                "suspect" in (found.get("pop") and found["pop"].get_attribute("class") or "")
            return found if flagged else None
        found = wait(browser, chips, "venue isolated and pop suspect on the panel")
        assert "MẤT LIÊN LẠC" in found["venue"].text and "nghi vấn" in found["pop"].text
        assert "MẤT LIÊN LẠC" not in found["dc"].text and "nghi vấn" not in found["dc"].text
        warnings = browser.find_element(By.ID, "cluster-sites").text
        assert "CẢNH BÁO: mất liên lạc với điểm venue" in warnings and "Nghi vấn: điểm pop" in warnings
        browser.find_element(By.ID, "lang").click()
        wait(browser, lambda d: "ISOLATED" in d.find_element(By.CSS_SELECTOR, '.cluster-site[data-site="venue"]').text,
             "the English switch")
        warnings = browser.find_element(By.ID, "cluster-sites").text
        assert "WARNING: site venue is isolated" in warnings and "Suspect: site pop votes against" in warnings
    finally:
        if others is not None:
            others.close()
        anchor_server.down()
        target.down()
