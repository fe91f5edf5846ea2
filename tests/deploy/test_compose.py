"""docker-compose.yml against the Compose Specification schema, and every path it mounts exists."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.support import REPO

SCHEMA = Path(__file__).resolve().parent / "schema" / "compose-spec.json"
COMPOSE = REPO / "docker-compose.yml"
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?+][^}]*)?\}")


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def validate(document: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft201909Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def bind_mounts(compose: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(service, host path, container path) for every bind mount written with a relative host path."""
    out = []
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            # `${VAR:-default}` as Compose resolves it with VAR unset
            plain = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", volume if isinstance(volume, str) else "")
            source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) \
                else plain.split(":")[:2]
            if source.startswith((".", "/")):
                out.append((name, source, target))
    return out


def test_compose_file_matches_the_compose_specification() -> None:
    assert validate(load_compose()) == []


def test_the_schema_check_can_fail() -> None:
    compose = load_compose()
    compose["services"]["netwatch"]["cap_add"] = "NET_RAW"          # must be a list
    compose["services"]["grafana"]["no_such_key"] = True            # not in the specification
    problems = validate(compose)
    assert any("cap_add" in p for p in problems) and any("no_such_key" in p for p in problems), problems


def test_every_mounted_path_exists_in_the_repository() -> None:
    mounts = bind_mounts(load_compose())
    assert {(s, t) for s, _, t in mounts} >= {
        ("netwatch", "/etc/netwatch/venue.yaml"), ("prometheus", "/etc/prometheus"),
        ("alertmanager", "/etc/alertmanager"), ("grafana", "/etc/grafana/provisioning"),
        ("grafana", "/etc/grafana/dashboards/netwatch")}
    missing = [f"{service}: {source}" for service, source, _ in mounts if not (REPO / source).exists()]
    if missing == ["netwatch: ./config/venue.example.yaml"]:
        pytest.xfail("config/venue.example.yaml (owned by the lead) is not in the repository yet")
    assert missing == []


def test_the_stack_is_the_four_services_with_netwatch_built_here() -> None:
    compose = load_compose()
    services = compose["services"]
    assert set(services) == {"netwatch", "prometheus", "alertmanager", "grafana"}
    assert services["netwatch"]["build"] == "."
    for name in ("prometheus", "alertmanager", "grafana"):
        image = services[name]["image"]
        assert re.search(r":v?\d+\.\d+\.\d+$", image), f"{name}: pin an exact image release, not {image!r}"
    named = {v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if not v.startswith((".", "$"))}
    assert named <= set(compose["volumes"])
    for service in services.values():
        for key, value in (service.get("environment") or {}).items():
            for var in _INTERPOLATION.findall(str(value)):
                assert var == "GRAFANA_ADMIN_PASSWORD", f"{key} needs an undocumented variable {var}"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for var in set(_INTERPOLATION.findall(COMPOSE.read_text())):
        assert var in readme, f"document {var} in the README"


def test_netwatch_runs_with_only_the_capabilities_it_needs() -> None:
    netwatch = load_compose()["services"]["netwatch"]
    assert netwatch["cap_drop"] == ["ALL"] and netwatch["cap_add"] == ["NET_RAW"]
    assert not netwatch.get("privileged") and netwatch.get("read_only") is True
    # no-new-privileges would make the kernel ignore the interpreter's file capability (see Dockerfile)
    assert "no-new-privileges:true" not in netwatch.get("security_opt", [])


def test_prometheus_and_alertmanager_flags_point_at_the_mounted_configs() -> None:
    services = load_compose()["services"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in services["alertmanager"]["command"]
    prometheus = yaml.safe_load((REPO / "config" / "prometheus" / "prometheus.yml").read_text())
    listen = next(f.split("=", 1)[1] for f in services["prometheus"]["command"] if f.startswith("--web.listen"))
    assert any(listen in t for job in prometheus["scrape_configs"] if job["job_name"] == "prometheus"
               for s in job["static_configs"] for t in s["targets"])
    am = next(f.split("=", 1)[1] for f in services["alertmanager"]["command"] if f.startswith("--web.listen"))
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [am]
    datasource = yaml.safe_load((REPO / "grafana" / "provisioning" / "datasources" / "netwatch.yml").read_text())
    assert datasource["datasources"][0]["url"] == f"http://{listen}"


def test_netwatch_gets_every_variable_the_example_venue_reads() -> None:
    venue = REPO / "config" / "venue.example.yaml"
    if not venue.exists():
        pytest.xfail("config/venue.example.yaml (owned by the lead) is not in the repository yet")
    text = "\n".join(line.split(" #")[0] for line in venue.read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith("#"))
    wanted = set(re.findall(r"\$\{(\w+)\}", text))
    environment = load_compose()["services"]["netwatch"]["environment"]
    assert wanted <= set(environment), f"pass {sorted(wanted - set(environment))} through to netwatch"
