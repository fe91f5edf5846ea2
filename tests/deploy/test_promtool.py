"""promtool and amtool accept the shipped Prometheus and Alertmanager files; the rule unit tests pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import REPO

PROMETHEUS = REPO / "config" / "prometheus"
ALERTMANAGER = REPO / "config" / "alertmanager" / "alertmanager.yml"

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="Debian prometheus not installed")
needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="Debian prometheus-alertmanager not installed")


def run(*cmd: str | Path, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=60)


@needs_promtool
def test_prometheus_config_and_its_rule_files_are_valid() -> None:
    r = run("promtool", "check", "config", "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rules/alerts.yml" in r.stdout and "rules/recording.yml" in r.stdout   # the glob found both


@needs_promtool
def test_rule_files_are_valid() -> None:
    rules = sorted((PROMETHEUS / "rules").glob("*.yml"))
    assert rules
    r = run("promtool", "check", "rules", *rules)
    assert r.returncode == 0, r.stdout + r.stderr


@needs_promtool
def test_rule_unit_tests_pass() -> None:
    tests = sorted((PROMETHEUS / "tests").glob("*.yml"))
    assert len(tests) >= 2
    r = run("promtool", "test", "rules", *tests, cwd=PROMETHEUS / "tests")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("SUCCESS") == len(tests)


@needs_promtool
def test_rule_unit_tests_can_fail(tmp_path: Path) -> None:
    """A wrong expectation must be caught, or the passing run above proves nothing."""
    text = (PROMETHEUS / "tests" / "state_codes.yml").read_text(encoding="utf-8")
    wrong = text.replace("rule_files:\n  - ../rules/recording.yml",
                         f"rule_files:\n  - {PROMETHEUS / 'rules' / 'recording.yml'}")
    wrong = wrong.replace("            value: 5\n", "            value: 4\n", 1)
    assert wrong != text
    (tmp_path / "wrong.yml").write_text(wrong, encoding="utf-8")
    r = run("promtool", "test", "rules", "wrong.yml", cwd=tmp_path)
    assert r.returncode != 0 and "FAILED" in r.stdout + r.stderr


@needs_amtool
def test_alertmanager_config_is_valid() -> None:
    r = run("amtool", "check-config", ALERTMANAGER)
    assert r.returncode == 0, r.stdout + r.stderr


@needs_amtool
@pytest.mark.parametrize("labels", [
    ("alertname=NetwatchDown", "severity=critical"),
    ("alertname=NetwatchCheckNoResults", "severity=warning", "zone=hall"),
    ("alertname=SomethingElse",),
])
def test_every_alert_is_routed_to_the_netwatch_relay(labels: tuple[str, ...]) -> None:
    r = run("amtool", "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
    assert r.returncode == 0 and r.stdout.strip() == "netwatch-relay", r.stdout + r.stderr


def test_alerts_are_grouped_by_zone_and_severity() -> None:
    import yaml

    route = yaml.safe_load(ALERTMANAGER.read_text())["route"]
    assert route["group_by"] == ["zone", "severity"]
    assert all("group_by" not in child for child in route.get("routes", []))   # children inherit it
