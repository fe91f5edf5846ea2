"""The Grafana dashboards and provisioning: structure, one datasource uid, Vietnamese, generated from source."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from netwatch.i18n import STATE_NAMES
from tests.support import REPO

GRAFANA = REPO / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


lint = load_module(REPO / "tools" / "dashboard_lint.py", "dashboard_lint")
generate = load_module(GRAFANA / "generate.py", "grafana_generate")


def test_the_five_dashboards_exist() -> None:
    assert {p.stem for p in DASHBOARDS} == {"overview", "links", "devices", "egov", "monitor"}


def test_dashboards_pass_the_structure_check() -> None:
    uids = lint.provisioned_datasource_uids()
    assert uids == {"netwatch-prometheus"}
    assert lint.lint_files(DASHBOARDS, uids) == []


def test_committed_json_is_what_the_generator_writes() -> None:
    rendered = generate.render_all()
    for path in DASHBOARDS:
        assert path.read_text(encoding="utf-8") == rendered[path.name], \
            f"{path.name} is stale: run python grafana/generate.py"


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["panels"][1].update(id=d["panels"][0]["id"]), "duplicate panel id"),
    (lambda d: d["panels"][0]["fieldConfig"]["defaults"].pop("unit"), "unit is not set"),
    (lambda d: d["panels"][0].update(datasource={"type": "prometheus", "uid": "${DS_PROMETHEUS}"}),
     "placeholders"),
    (lambda d: d["panels"][0]["targets"][0].update(datasource={"type": "prometheus", "uid": "other"}),
     "is not provisioned"),
    (lambda d: d.update(timezone="browser"), "timezone"),
    (lambda d: d["panels"][0]["fieldConfig"]["defaults"].update(mappings=[]), "value mapping"),
    (lambda d: d["panels"][0]["gridPos"].update(x=20), "does not fit"),
    (lambda d: d["panels"][0]["targets"][0].update(expr=" "), "no expression"),
])
def test_the_structure_check_catches_mistakes(mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    dashboard = copy.deepcopy(json.loads((GRAFANA / "dashboards" / "overview.json").read_text(encoding="utf-8")))
    mutate(dashboard)
    problems = lint.lint(dashboard, {"netwatch-prometheus"}, "overview.json")
    assert any(expected in p for p in problems), problems


def test_state_colours_speak_the_core_vocabulary_in_vietnamese() -> None:
    mapping = generate.state_mappings()[0]["options"]
    assert {v["text"] for v in mapping.values()} == set(STATE_NAMES["vi"].values())
    assert len({v["color"] for v in mapping.values()}) == 6
    overview = json.loads((GRAFANA / "dashboards" / "overview.json").read_text(encoding="utf-8"))
    assert overview["title"].startswith("netwatch — ") and overview["timezone"] == "Asia/Ho_Chi_Minh"
    titles = [p["title"] for p in lint.all_panels(overview)]
    assert "Khu vực" in titles and "Hệ thống chính quyền điện tử" in titles and "Sự cố đang mở" in titles


def test_provisioning_points_at_the_dashboards_and_the_prometheus() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "netwatch.yml").read_text())["datasources"]
    assert [d["uid"] for d in ds] == ["netwatch-prometheus"] and ds[0]["type"] == "prometheus"
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "netwatch.yml").read_text())["providers"]
    assert providers[0]["type"] == "file"
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{providers[0]['options']['path']}:ro" in mounts


def test_a_cluster_site_variable_filters_the_per_site_series_and_matches_a_single_node_too() -> None:
    var = generate.SITE_VAR
    assert var["name"] == "site" and var["allValue"] == ".*" and var["includeAll"]   # .* matches "no site label"
    for name in ("links", "devices", "egov", "monitor"):
        board = json.loads((GRAFANA / "dashboards" / f"{name}.json").read_text(encoding="utf-8"))
        assert "site" in [v["name"] for v in board["templating"]["list"]], name
        exprs = [t["expr"] for p in lint.all_panels(board) for t in p.get("targets", [])]
        assert any('site=~"$site"' in e for e in exprs), name
        # recording rules aggregate sites away: a state code filtered by site would show nothing
        assert not any(e.startswith("netwatch:") and "state:code" in e and "$site" in e for e in exprs), name
