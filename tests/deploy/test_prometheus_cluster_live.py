"""A real Prometheus scraping two real cluster nodes with the shipped rules: every rule evaluates without
error (no duplicate-series joins), one state per check, one coordinator, and a killed node shows."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.cluster.test_nodes import Nodes, cluster_config, database, nodes, owners, sinks  # noqa: F401 - fixtures
from tests.e2e.paging_support import tcp_target
from tests.peers import postgres
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import REPO, free_port, wait_for

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="Debian prometheus not installed")


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """(config path, base URL); the config is written by the test before `start` is called."""
    yield tmp_path / "prom" / "prometheus.yml", f"http://127.0.0.1:{free_port()}"


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}/api/v1/{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


def vector(base: str, expr: str) -> list[tuple[dict[str, str], float]]:
    return [(r["metric"], float(r["value"][1])) for r in api(base, "query", query=expr)["result"]]


def test_prometheus_scrapes_two_nodes_and_every_shipped_rule_evaluates_cleanly(
        pg_cluster: postgres.Cluster, database: str, tmp_path: Path, sinks: dict[str, HttpSink],  # noqa: F811
        nodes: Nodes, prometheus: tuple[Path, str]) -> None:  # noqa: F811
    web = [TcpTarget().up() for _ in range(6)]
    text = cluster_config(pg_cluster, database, tmp_path, sinks,
                          "".join(tcp_target(f"web{i}", t.port) for i, t in enumerate(web)))
    procs = {"dc-1": nodes.start(text, "dc-1"), "dc-2": nodes.start(text, "dc-2")}
    wait_for(lambda: sorted(list(owners(pg_cluster, database).values()).count(n) for n in procs) == [8, 8], 30, 0.2,
             what="balanced slots")
    config, base = prometheus
    config.parent.mkdir()
    shipped = (REPO / "config" / "prometheus" / "prometheus-cluster.yml").read_text(encoding="utf-8")
    assert "cluster: netwatch" in shipped
    (config.parent / "rules").symlink_to(REPO / "config" / "prometheus" / "rules")
    targets = ", ".join(f'"{p.listen}"' for p in procs.values())
    config.write_text(f"""global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [rules/*.yml]
scrape_configs:
  - job_name: netwatch
    static_configs:
      - targets: [{targets}]
        labels: {{service: netwatch, cluster: netwatch}}
""")
    port = base.rsplit(":", 1)[1]
    proc = subprocess.Popen([str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={config.parent / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=open(config.parent / "log", "wb"), stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: len(vector(base, 'up{job="netwatch"} == 1')) == 2, 30, 0.3, what="both nodes scraped")
        wait_for(lambda: len(vector(base, "netwatch:check_state:code")) == 6, 20, 0.3,
                 what="one state per check from the recording rule")
        time.sleep(3.0)    # a few evaluations of every rule
        groups = api(base, "rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) > 20
        bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
        assert bad == [], bad
        assert {m["site"] for m, _ in vector(base, "netwatch_check_interval_seconds")} == {"dc"}
        assert sum(v for _, v in vector(base, "netwatch_cluster_coordinator")) == 1
        assert vector(base, 'ALERTS{alertname="NetwatchClusterDegraded"}') == []
        # a node dies: the "cluster degraded" rule's condition holds (it fires after its minute)
        procs["dc-2"].kill9()
        wait_for(lambda: any(m.get("alertname") == "NetwatchClusterDegraded" and m.get("problem") == "node_missing"
                             for m, _ in vector(base, 'ALERTS{alertstate="pending"}')), 20, 0.3,
                 what="NetwatchClusterDegraded pending")
        assert vector(base, 'ALERTS{alertname="NetwatchDown"}') == []   # a cluster node is not "netwatch down"
        bad = [(r["name"], r.get("lastError")) for g in api(base, "rules")["groups"] for r in g["rules"]
               if r["health"] != "ok"]
        assert bad == [], bad
    finally:
        proc.terminate()
        proc.wait(15)
        for t in web:
            t.down()
