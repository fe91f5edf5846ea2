"""Structure check for the Grafana dashboards: `python tools/dashboard_lint.py [FILE.json ...]`."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Iterable

import yaml

REPO = Path(__file__).resolve().parent.parent
DASHBOARDS = REPO / "grafana" / "dashboards"
DATASOURCES = REPO / "grafana" / "provisioning" / "datasources"
TIMEZONE = "Asia/Ho_Chi_Minh"
MIN_SCHEMA_VERSION = 36
GRID_COLUMNS = 24
STATE_CODES = range(6)   # netwatch:*_state:code values, see config/prometheus/rules/recording.yml
# Panel types that draw data and so need queries and a unit.
DATA_PANELS = {"stat", "timeseries", "bargauge", "gauge", "table", "state-timeline", "status-history",
               "piechart", "barchart", "heatmap"}
KNOWN_PANELS = DATA_PANELS | {"row", "text", "dashlist", "alertlist", "news"}


def provisioned_datasource_uids(directory: Path = DATASOURCES) -> set[str]:
    uids: set[str] = set()
    for path in sorted(directory.glob("*.y*ml")):
        for ds in (yaml.safe_load(path.read_text()) or {}).get("datasources", []):
            if ds.get("type") == "prometheus" and ds.get("uid"):
                uids.add(ds["uid"])
    return uids


def all_panels(dashboard: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def lint(dashboard: dict[str, Any], uids: set[str], name: str = "") -> list[str]:
    """Every problem found in one dashboard, as `name: where: what` lines (empty when clean)."""
    problems: list[str] = []

    def bad(where: str, what: str) -> None:
        problems.append(f"{name}: {where}: {what}")

    for key in ("uid", "title", "panels", "schemaVersion", "time", "templating"):
        if key not in dashboard:
            bad("dashboard", f"missing {key!r}")
    if problems:
        return problems
    if dashboard.get("timezone") != TIMEZONE:
        bad("dashboard", f"timezone must be {TIMEZONE!r}, got {dashboard.get('timezone')!r}")
    if not isinstance(dashboard["schemaVersion"], int) or dashboard["schemaVersion"] < MIN_SCHEMA_VERSION:
        bad("dashboard", f"schemaVersion {dashboard['schemaVersion']!r} is older than {MIN_SCHEMA_VERSION}")
    if "${DS_" in json.dumps(dashboard) or "__inputs" in dashboard:
        bad("dashboard", "exported-for-sharing placeholders (${DS_...}/__inputs) cannot be provisioned")

    for var in dashboard["templating"].get("list", []):
        if var.get("type") == "query" and var.get("datasource", {}).get("uid") not in uids:
            bad(f"variable {var.get('name')}", f"datasource {var.get('datasource')!r} is not provisioned")

    seen_ids: set[int] = set()
    cells: dict[tuple[int, int], int] = {}
    for panel in all_panels(dashboard):
        pid = panel.get("id")
        where = f"panel {pid} {panel.get('title', '')!r}"
        if not isinstance(pid, int):
            bad(where, "id must be an integer")
        elif pid in seen_ids:
            bad(where, "duplicate panel id")
        seen_ids.add(pid)
        ptype = panel.get("type")
        if ptype not in KNOWN_PANELS:
            bad(where, f"unknown panel type {ptype!r}")
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")):
            bad(where, f"gridPos needs integer x, y, w, h: {grid!r}")
            continue
        if grid["x"] < 0 or grid["w"] < 1 or grid["x"] + grid["w"] > GRID_COLUMNS or grid["h"] < 1:
            bad(where, f"gridPos {grid!r} does not fit the {GRID_COLUMNS}-column grid")
        if not panel.get("repeat"):   # repeated panels are laid out by Grafana
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    if (x, y) in cells:
                        bad(where, f"overlaps panel {cells[(x, y)]}")
                        break
                    cells[(x, y)] = pid
                else:
                    continue
                break
        if ptype not in DATA_PANELS:
            continue
        if not panel.get("title"):
            bad(where, "a data panel needs a title")
        if panel.get("datasource", {}).get("uid") not in uids:
            bad(where, f"datasource {panel.get('datasource')!r} is not the provisioned Prometheus")
        targets = panel.get("targets") or []
        if not targets:
            bad(where, "no queries")
        ref_ids = [t.get("refId") for t in targets]
        if len(set(ref_ids)) != len(ref_ids) or None in ref_ids:
            bad(where, f"refIds must be present and unique: {ref_ids}")
        for t in targets:
            if not (t.get("expr") or "").strip():
                bad(where, f"query {t.get('refId')} has no expression")
            if t.get("datasource", {}).get("uid") not in uids:
                bad(where, f"query {t.get('refId')} datasource {t.get('datasource')!r} is not provisioned")
        defaults = panel.get("fieldConfig", {}).get("defaults", {})
        if not defaults.get("unit"):
            bad(where, "fieldConfig.defaults.unit is not set")
        if any(re.search(r"state:code\b", t.get("expr", "")) for t in targets):
            mappings = list(defaults.get("mappings", []))
            for o in panel.get("fieldConfig", {}).get("overrides", []):
                mappings += [m for p in o.get("properties", []) if p.get("id") == "mappings" for m in p["value"]]
            mapped = {int(k) for m in mappings if m.get("type") == "value" for k in m.get("options", {})}
            if mapped != set(STATE_CODES):
                bad(where, f"state codes need a value mapping for each of {list(STATE_CODES)}, got {sorted(mapped)}")
    return problems


def lint_files(paths: Iterable[Path], uids: set[str]) -> list[str]:
    problems: list[str] = []
    seen_uids: dict[str, str] = {}
    for path in paths:
        try:
            dashboard = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{path.name}: not valid JSON: {exc}")
            continue
        problems += lint(dashboard, uids, path.name)
        uid = dashboard.get("uid")
        if uid in seen_uids:
            problems.append(f"{path.name}: uid {uid!r} already used by {seen_uids[uid]}")
        seen_uids[uid] = path.name
    return problems


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(DASHBOARDS.glob("*.json"))
    uids = provisioned_datasource_uids()
    if not uids:
        print(f"no Prometheus datasource with a uid under {DATASOURCES}", file=sys.stderr)
        return 1
    problems = lint_files(paths, uids)
    for line in problems:
        print(line, file=sys.stderr)
    print(f"{len(paths)} dashboards, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
