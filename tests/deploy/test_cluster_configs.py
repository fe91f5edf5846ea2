"""The shipped HA variants: an Alertmanager pair notifying every node, Prometheus scraping every node,
rules that fire once per cluster and not once per node (promtool/amtool, and the rules' unit tests)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import REPO

PROMETHEUS = REPO / "config" / "prometheus"
AM_CLUSTER = REPO / "config" / "alertmanager" / "alertmanager-cluster.yml"

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="Debian prometheus not installed")
needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="Debian prometheus-alertmanager not installed")


def run(*cmd: str | Path, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=60)


@needs_promtool
def test_cluster_prometheus_config_loads_every_rule_file() -> None:
    r = run("promtool", "check", "config", "prometheus-cluster.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("alerts", "recording", "cluster"):
        assert f"rules/{name}.yml" in r.stdout


def test_cluster_prometheus_scrapes_every_node_with_a_cluster_label() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus-cluster.yml").read_text(encoding="utf-8"))
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "netwatch"]
    [static] = job["static_configs"]
    assert len(static["targets"]) >= 2 and static["labels"]["cluster"]
    assert len(config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]) == 2


@needs_promtool
def test_cluster_rule_unit_tests_pass_and_can_fail(tmp_path: Path) -> None:
    r = run("promtool", "test", "rules", "cluster.yml", cwd=PROMETHEUS / "tests")
    assert r.returncode == 0 and "SUCCESS" in r.stdout, r.stdout + r.stderr
    text = (PROMETHEUS / "tests" / "cluster.yml").read_text(encoding="utf-8")
    wrong = text.replace("../rules/", f"{PROMETHEUS / 'rules'}/").replace("1 nút không hoạt động", "0 nút", 1)
    assert wrong != text
    (tmp_path / "wrong.yml").write_text(wrong, encoding="utf-8")
    r = run("promtool", "test", "rules", "wrong.yml", cwd=tmp_path)
    assert r.returncode != 0 and "FAILED" in r.stdout + r.stderr


@needs_amtool
def test_cluster_alertmanager_config_is_valid_and_notifies_every_node() -> None:
    r = run("amtool", "check-config", AM_CLUSTER)
    assert r.returncode == 0, r.stdout + r.stderr
    config = yaml.safe_load(AM_CLUSTER.read_text(encoding="utf-8"))
    [receiver] = config["receivers"]
    urls = [w["url"] for w in receiver["webhook_configs"]]
    assert len(urls) >= 2 and len(set(urls)) == len(urls)
    assert all(u.endswith("/api/v1/alertmanager") and w["send_resolved"]
               for u, w in zip(urls, receiver["webhook_configs"]))
    assert "--cluster.peer" in AM_CLUSTER.read_text(encoding="utf-8")


@needs_amtool
@pytest.mark.parametrize("labels", [
    ("alertname=NetwatchClusterDegraded", "severity=critical", "problem=no_coordinator", "cluster=netwatch"),
    ("alertname=NetwatchClusterDegraded", "severity=warning", "problem=node_missing", "cluster=netwatch"),
    ("alertname=NetwatchCheckNoResults", "severity=warning", "zone=hall"),
])
def test_cluster_alerts_route_to_the_nodes(labels: tuple[str, ...]) -> None:
    r = run("amtool", "config", "routes", "test", f"--config.file={AM_CLUSTER}", *labels)
    assert r.returncode == 0 and r.stdout.strip() == "netwatch-nodes", r.stdout + r.stderr


def test_cluster_degraded_has_its_own_route_grouped_per_problem() -> None:
    route = yaml.safe_load(AM_CLUSTER.read_text(encoding="utf-8"))["route"]
    [own] = [c for c in route["routes"] if c.get("matchers") == ['alertname="NetwatchClusterDegraded"']]
    assert own["group_by"] == ["cluster", "problem"] and own is route["routes"][0]
