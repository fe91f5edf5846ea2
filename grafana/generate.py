"""Writes the NOC wall's Grafana dashboards (grafana/dashboards/*.json) from one Python description.

Run `python grafana/generate.py` after editing; `tests/deploy/test_dashboards.py` fails when the
committed JSON differs from what this script writes. One source keeps ids unique, the datasource
uid identical everywhere, units set and state colours the same on every dashboard.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatch.i18n import STATE_NAMES  # noqa: E402 - the path above makes the checkout importable

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "netwatch-prometheus"}
TIMEZONE = "Asia/Ho_Chi_Minh"
SCHEMA_VERSION = 39

# Same order as the `netwatch:check_state:code` recording rule (worst is highest).
STATE_CODES = {"up": 0, "maintenance": 1, "degraded": 2, "unknown": 3, "unreachable": 4, "down": 5}
STATE_COLOURS = {"up": "green", "maintenance": "blue", "degraded": "yellow", "unknown": "#8e8e8e",
                 "unreachable": "purple", "down": "red"}

# IF-MIB ifOperStatus values.
IF_OPER = {1: ("Hoạt động", "green"), 2: ("Ngắt", "red"), 3: ("Đang thử", "blue"), 4: ("Không rõ", "#8e8e8e"),
           5: ("Chờ", "yellow"), 6: ("Không có", "#8e8e8e"), 7: ("Lớp dưới ngắt", "orange")}

Json = dict[str, Any]


def state_mappings() -> list[Json]:
    names = STATE_NAMES["vi"]
    return [{"type": "value", "options": {
        str(code): {"text": names[state], "color": STATE_COLOURS[state], "index": code}
        for state, code in STATE_CODES.items()}}]


def if_oper_mappings() -> list[Json]:
    return [{"type": "value", "options": {
        str(value): {"text": text, "color": colour, "index": i}
        for i, (value, (text, colour)) in enumerate(IF_OPER.items())}}]


def up_mappings(up_text: str = "Đang chạy", down_text: str = "Dừng") -> list[Json]:
    return [{"type": "value", "options": {"1": {"text": up_text, "color": "green", "index": 0},
                                          "0": {"text": down_text, "color": "red", "index": 1}}}]


def thresholds(*steps: tuple[float | None, str]) -> Json:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


GREEN_ONLY = thresholds((None, "green"))


def query(expr: str, legend: str = "", instant: bool = False, fmt: str = "time_series") -> Json:
    q: Json = {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend or "__auto",
               "range": not instant, "instant": instant, "format": fmt}
    return q


@dataclass
class Panel:
    """One Grafana panel; `width`/`height` in grid units (24 across)."""

    type: str
    title: str
    targets: list[Json]
    unit: str
    width: int = 12
    height: int = 8
    description: str = ""
    mappings: list[Json] = field(default_factory=list)
    thresholds: Json = field(default_factory=lambda: GREEN_ONLY)
    options: Json = field(default_factory=dict)
    custom: Json = field(default_factory=dict)
    overrides: list[Json] = field(default_factory=list)
    extra: Json = field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    decimals: int | None = None
    no_value: str | None = None   # shown instead of "No data" where empty is good news

    def render(self, panel_id: int, x: int, y: int) -> Json:
        defaults: Json = {"unit": self.unit, "mappings": self.mappings, "thresholds": self.thresholds,
                          "color": {"mode": "thresholds"} if self.type in ("stat", "bargauge", "state-timeline",
                                                                          "table")
                          else {"mode": "palette-classic"}}
        if self.custom:
            defaults["custom"] = self.custom
        for key in ("min", "max", "decimals"):
            if getattr(self, key) is not None:
                defaults[key] = getattr(self, key)
        if self.no_value is not None:
            defaults["noValue"] = self.no_value
        targets = [{**t, "refId": chr(ord("A") + i)} for i, t in enumerate(self.targets)]
        panel: Json = {"id": panel_id, "type": self.type, "title": self.title, "description": self.description,
                       "datasource": DATASOURCE, "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
                       "targets": targets, "fieldConfig": {"defaults": defaults, "overrides": self.overrides},
                       "options": self.options}
        panel.update(self.extra)
        return panel


@dataclass
class Row:
    title: str


def state_tiles(title: str, expr: str, legend: str, width: int = 24, height: int = 6,
                description: str = "") -> Panel:
    """A wall of coloured tiles, one per series, each saying its state in Vietnamese."""
    return Panel("stat", title, [query(expr, legend, instant=True)], unit="none", width=width, height=height,
                 description=description, mappings=state_mappings(),
                 thresholds=thresholds((None, "green")),
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                          "colorMode": "background", "graphMode": "none", "justifyMode": "center",
                          "textMode": "value_and_name", "orientation": "auto", "wideLayout": True,
                          "showPercentChange": False, "text": {"titleSize": 22, "valueSize": 30}})


def stat(title: str, expr: str, unit: str, legend: str = "", width: int = 6, height: int = 5,
         steps: Json | None = None, mappings: list[Json] | None = None, description: str = "",
         decimals: int | None = None, color_mode: str = "background") -> Panel:
    return Panel("stat", title, [query(expr, legend, instant=True)], unit=unit, width=width, height=height,
                 description=description, mappings=mappings or [], thresholds=steps or GREEN_ONLY,
                 decimals=decimals,
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                          "colorMode": color_mode, "graphMode": "none", "justifyMode": "center",
                          "textMode": "auto", "orientation": "auto", "wideLayout": True,
                          "showPercentChange": False})


def timeseries(title: str, targets: list[Json], unit: str, width: int = 12, height: int = 8,
               description: str = "", fill: int = 10, stack: bool = False, overrides: list[Json] | None = None,
               min: float | None = None, max: float | None = None, steps: Json | None = None,
               draw_style: str = "line", extra: Json | None = None) -> Panel:
    custom = {"drawStyle": draw_style, "lineWidth": 1, "fillOpacity": fill, "showPoints": "never",
              "spanNulls": False, "lineInterpolation": "linear", "axisPlacement": "auto",
              "stacking": {"mode": "normal" if stack else "none", "group": "A"},
              "thresholdsStyle": {"mode": "line" if steps else "off"}}
    return Panel("timeseries", title, targets, unit=unit, width=width, height=height, description=description,
                 custom=custom, overrides=overrides or [], min=min, max=max, thresholds=steps or GREEN_ONLY,
                 extra=extra or {},
                 options={"legend": {"displayMode": "table", "placement": "bottom", "showLegend": True,
                                     "calcs": ["lastNotNull", "max"]},
                          "tooltip": {"mode": "multi", "sort": "desc"}})


def state_timeline(title: str, expr: str, legend: str, mappings: list[Json], width: int = 24,
                   height: int = 8, description: str = "") -> Panel:
    return Panel("state-timeline", title, [query(expr, legend)], unit="none", width=width, height=height,
                 description=description, mappings=mappings, thresholds=GREEN_ONLY,
                 custom={"fillOpacity": 80, "lineWidth": 0},
                 options={"showValue": "never", "mergeValues": True, "rowHeight": 0.85, "alignValue": "left",
                          "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                          "tooltip": {"mode": "single", "sort": "none"}})


def bargauge(title: str, expr: str, legend: str, unit: str, steps: Json, width: int = 12, height: int = 8,
             min: float | None = None, max: float | None = None, description: str = "",
             decimals: int | None = None) -> Panel:
    return Panel("bargauge", title, [query(expr, legend, instant=True)], unit=unit, width=width, height=height,
                 description=description, thresholds=steps, min=min, max=max, decimals=decimals,
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                          "orientation": "horizontal", "displayMode": "basic", "showUnfilled": True,
                          "valueMode": "color", "namePlacement": "left", "sizing": "auto"})


def table(title: str, targets: list[Json], unit: str, renames: dict[str, str], width: int = 24, height: int = 8,
          overrides: list[Json] | None = None, description: str = "", hide: tuple[str, ...] = (),
          sort_by: str | None = None, no_value: str | None = None) -> Panel:
    """An instant table; `renames` maps label/value columns to Vietnamese headers (and fixes their order)."""
    excluded = {"Time": True, "__name__": True, "job": True, "instance": True, "service": True,
                **{h: True for h in hide}}
    organize = {"id": "organize", "options": {
        "excludeByName": excluded, "renameByName": renames,
        "indexByName": {name: i for i, name in enumerate(renames)}}}
    transformations = [{"id": "merge", "options": {}}, organize] if len(targets) > 1 else [organize]
    options: Json = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"]}}
    if sort_by:
        options["sortBy"] = [{"displayName": sort_by, "desc": True}]
    return Panel("table", title, targets, unit=unit, width=width, height=height, description=description,
                 overrides=overrides or [], custom={"align": "auto", "cellOptions": {"type": "auto"}},
                 options=options, extra={"transformations": transformations}, no_value=no_value)


def override(column: str, **props: Any) -> Json:
    return {"matcher": {"id": "byName", "options": column},
            "properties": [{"id": k.replace("__", "."), "value": v} for k, v in props.items()]}


def colour_cells(column: str, mappings: list[Json] | None = None, unit: str | None = None,
                 steps: Json | None = None) -> Json:
    props: list[Json] = [{"id": "custom.cellOptions", "value": {"type": "color-background", "mode": "basic"}}]
    if mappings is not None:
        props.append({"id": "mappings", "value": mappings})
    if unit is not None:
        props.append({"id": "unit", "value": unit})
    if steps is not None:
        props.append({"id": "thresholds", "value": steps})
    return {"matcher": {"id": "byName", "options": column}, "properties": props}


def variable(name: str, label: str, definition: str, multi: bool = True, include_all: bool = True,
             all_value: str | None = ".*") -> Json:
    """A query variable; `all_value=None` makes "All" the list of current values, for variables that
    pick a subset of targets (with `.*` every target would match)."""
    return {"name": name, "label": label, "type": "query", "datasource": DATASOURCE,
            "query": {"query": definition, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
            "definition": definition, "refresh": 2, "sort": 1, "multi": multi, "includeAll": include_all,
            "allValue": all_value, "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "hide": 0, "options": [], "regex": "", "skipUrlSync": False}


ZONE_VAR = variable("zone", "Khu vực", "label_values(netwatch_target_info, zone)")
TARGET_VAR = variable("target", "Đối tượng", 'label_values(netwatch_target_info{zone=~"$zone"}, target)')
# A cluster (docs/cluster.md) labels every check series with the site that probed it (the vantage).
# On a single node there is no `site` label: the variable is empty and "All" (.*) matches the empty value.
SITE_VAR = variable("site", "Điểm đo", "label_values(netwatch_check_interval_seconds, site)")
SITE = 'site=~"$site"'


def dashboard(uid: str, title: str, description: str, items: list[Panel | Row], variables: list[Json],
              refresh: str = "30s", time_from: str = "now-6h") -> Json:
    panels: list[Json] = []
    next_id, x, y, row_height = 1, 0, 0, 0
    for item in items:
        if isinstance(item, Row):
            if x:
                y, x, row_height = y + row_height, 0, 0
            panels.append({"id": next_id, "type": "row", "title": item.title, "collapsed": False, "panels": [],
                           "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})
            next_id, y = next_id + 1, y + 1
            continue
        if x + item.width > 24:
            y, x, row_height = y + row_height, 0, 0
        panels.append(item.render(next_id, x, y))
        next_id, x, row_height = next_id + 1, x + item.width, max(row_height, item.height)
    return {
        "uid": uid, "title": title, "description": description, "tags": ["netwatch"],
        "timezone": TIMEZONE, "weekStart": "monday", "schemaVersion": SCHEMA_VERSION, "version": 1,
        "editable": True, "graphTooltip": 1, "liveNow": False, "refresh": refresh,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m"]},
        "fiscalYearStartMonth": 0,
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [{"title": "Bảng giám sát netwatch", "type": "dashboards", "tags": ["netwatch"],
                   "asDropdown": True, "includeVars": False, "keepTime": True, "targetBlank": False,
                   "icon": "external link", "tooltip": "", "url": ""}],
        "templating": {"list": variables},
        "panels": panels,
    }


LOSS_STEPS = thresholds((None, "green"), (0.01, "yellow"), (0.05, "orange"), (0.2, "red"))
RTT_STEPS = thresholds((None, "green"), (0.05, "yellow"), (0.15, "orange"), (0.5, "red"))
UTIL_STEPS = thresholds((None, "green"), (0.7, "yellow"), (0.9, "red"))
TLS_STEPS = thresholds((None, "red"), (7, "orange"), (21, "yellow"), (30, "green"))
COUNT_BAD_STEPS = thresholds((None, "green"), (1, "red"))
AVAIL_STEPS = thresholds((None, "red"), (0.99, "orange"), (0.999, "green"))
LAG_STEPS = thresholds((None, "green"), (1, "yellow"), (5, "red"))

# Conventions of the venue file (config/venue.example.yaml): e-government systems carry a `system`
# label, links (Internet uplinks, the specialised data network) carry `role: uplink`.
EGOV = 'system!=""'
LINK = 'role=~"uplink|link"'


def overview() -> Json:
    problems = table(
        "Các phép kiểm tra, nặng nhất trước",
        [query("sort_desc(netwatch:check_state:code)", instant=True, fmt="table"),
         query("netwatch:check_state_age_seconds", instant=True, fmt="table")],
        unit="none",
        renames={"name": "Đối tượng", "zone": "Khu vực", "check": "Phép kiểm tra", "kind": "Loại",
                 "Value #A": "Trạng thái", "Value #B": "Từ (trước đây)"},
        hide=("target",), sort_by="Trạng thái", height=10,
        overrides=[colour_cells("Trạng thái", mappings=state_mappings()),
                   override("Từ (trước đây)", unit="s", decimals=0)],
        description="Mọi phép kiểm tra với trạng thái hiện tại và thời gian ở trạng thái đó.")
    return dashboard(
        "netwatch-overview", "netwatch — Tổng quan địa điểm",
        "Màn hình tường NOC: trạng thái từng khu vực và từng hệ thống chính quyền điện tử, sự cố đang mở, "
        "đường truyền.",
        [
            state_tiles("Khu vực", 'netwatch:zone_state:code{zone=~"$zone"}', "{{zone_name}}", height=6,
                        description="Trạng thái xấu nhất trong các đối tượng của khu vực."),
            state_tiles("Hệ thống chính quyền điện tử",
                        f'netwatch:target_state:code and on (target) netwatch_target_info{{{EGOV}}}',
                        "{{name}}", height=6,
                        description="Đối tượng có nhãn system trong cấu hình địa điểm."),
            stat("Sự cố đang mở", "netwatch_incidents_open", "none", steps=COUNT_BAD_STEPS, width=4, height=6,
                 description="Sự cố đang mở hoặc đã xác nhận, chưa khắc phục (kể cả cảnh báo từ Prometheus)."),
            stat("Mất kết nối", 'sum(netwatch:checks_by_state:count{state=~"down|unreachable"})', "none",
                 steps=COUNT_BAD_STEPS, width=4, height=6,
                 description="Số phép kiểm tra đang mất kết nối hoặc không tới được."),
            stat("Suy giảm", 'sum(netwatch:checks_by_state:count{state="degraded"})', "none",
                 steps=thresholds((None, "green"), (1, "yellow")), width=4, height=6),
            stat("netwatch", 'up{job="netwatch"}', "none", mappings=up_mappings(), width=2, height=6,
                 steps=thresholds((None, "red"), (1, "green")),
                 description="Prometheus có lấy được số liệu từ netwatch không."),
            bargauge("Mất gói đường truyền (TB 5 phút)",
                     f'netwatch:link_packet_loss:ratio_avg5m{{zone=~"$zone"}} and on (target) '
                     f'netwatch_target_info{{{LINK}}}',
                     "{{name}}", "percentunit", LOSS_STEPS, width=5, height=6, min=0, max=1),
            bargauge("Độ trễ đường truyền (TB 5 phút)",
                     f'netwatch:link_rtt_avg_seconds:avg5m{{zone=~"$zone"}} and on (target) '
                     f'netwatch_target_info{{{LINK}}}',
                     "{{name}}", "s", RTT_STEPS, width=5, height=6, min=0),
            Row("Chi tiết"),
            problems,
            state_timeline("Diễn biến trạng thái theo khu vực", 'netwatch:zone_state:code{zone=~"$zone"}',
                           "{{zone_name}}", state_mappings(), height=8),
        ],
        [ZONE_VAR], refresh="10s", time_from="now-3h")


def links() -> Json:
    link_var = variable("link", "Đường truyền", f'label_values(netwatch_target_info{{{LINK}, zone=~"$zone"}}, target)',
                        all_value=None)
    sel = f'target=~"$link", {SITE}'
    band = timeseries(
        "Độ trễ $link (nhỏ nhất / trung bình / lớn nhất)",
        [query(f"netwatch_icmp_rtt_min_seconds{{{sel}}}", "nhỏ nhất"),
         query(f"netwatch_icmp_rtt_avg_seconds{{{sel}}}", "trung bình"),
         query(f"netwatch_icmp_rtt_max_seconds{{{sel}}}", "lớn nhất")],
        "s", width=12, height=8, fill=0, min=0,
        description="Kiểu SmokePing: dải tô giữa RTT nhỏ nhất và lớn nhất của mỗi lượt ping, đường giữa là "
                    "trung bình.",
        overrides=[override("lớn nhất", custom__fillBelowTo="nhỏ nhất", custom__fillOpacity=30,
                            custom__lineWidth=0, color={"mode": "fixed", "fixedColor": "blue"}),
                   override("nhỏ nhất", custom__lineWidth=0, color={"mode": "fixed", "fixedColor": "blue"}),
                   override("trung bình", custom__lineWidth=2, color={"mode": "fixed", "fixedColor": "green"})],
        extra={"repeat": "link", "repeatDirection": "h", "maxPerRow": 2})
    return dashboard(
        "netwatch-links", "netwatch — Đường truyền",
        "Độ trễ, độ biến động (jitter) và mất gói của từng đường truyền, đo bằng ICMP.",
        [
            band,
            Row("So sánh các đường truyền"),
            timeseries("Độ trễ trung bình", [query(f"netwatch_icmp_rtt_avg_seconds{{{sel}}}", "{{target}}")],
                       "s", min=0, steps=RTT_STEPS),
            timeseries("Độ biến động (jitter)", [query(f"netwatch_icmp_rtt_jitter_seconds{{{sel}}}", "{{target}}")],
                       "s", min=0),
            timeseries("Tỷ lệ mất gói", [query(f"netwatch_icmp_packet_loss_ratio{{{sel}}}", "{{target}}")],
                       "percentunit", min=0, max=1, steps=LOSS_STEPS),
            bargauge("Mất gói hiện tại (TB 5 phút)", f"netwatch:link_packet_loss:ratio_avg5m{{{sel}}}", "{{name}}",
                     "percentunit", LOSS_STEPS, min=0, max=1),
            state_timeline("Giai đoạn suy giảm / mất kết nối",
                           'netwatch:check_state:code{kind="icmp", target=~"$link"}', "{{name}}", state_mappings(),
                           description="Màu vàng là suy giảm (vượt ngưỡng cảnh báo RTT hoặc mất gói), đỏ là "
                                       "mất kết nối."),
        ],
        [ZONE_VAR, SITE_VAR, link_var])


def devices() -> Json:
    device_var = variable("device", "Thiết bị",
                          'label_values(netwatch_snmp_uptime_seconds{target=~"$target"}, target)', all_value=None)
    tiles = 'target=~"$device"'    # the state code is per check, over every site
    dev = f'{tiles}, {SITE}'
    ifsel = f'{dev}, if_name=~"$interface"'
    iface_var = variable("interface", "Cổng", f'label_values(netwatch_if_oper_status{{{dev}}}, if_name)')
    return dashboard(
        "netwatch-devices", "netwatch — Thiết bị và cổng mạng",
        "Trạng thái thiết bị qua SNMP, khởi động lại, trạng thái cổng, lưu lượng, mức sử dụng, lỗi, CPU/bộ nhớ.",
        [
            state_tiles("Thiết bị", f'netwatch:target_state:code{{{tiles}}}', "{{name}}", height=5),
            stat("Khởi động lại (trong khoảng xem)", f"sum(resets(netwatch_snmp_uptime_seconds{{{dev}}}[$__range]))",
                 "none", steps=COUNT_BAD_STEPS, width=6, height=5,
                 description="Số lần sysUpTime quay về 0 trong khoảng thời gian đang xem."),
            stat("Cổng đang ngắt", f"sum(netwatch_snmp_interfaces_down{{{dev}}})", "none", steps=COUNT_BAD_STEPS,
                 width=6, height=5, description="Cổng được theo dõi, bật về quản trị nhưng ngắt về vận hành."),
            bargauge("Thời gian hoạt động", f"netwatch_snmp_uptime_seconds{{{dev}}}", "{{target}}", "s",
                     thresholds((None, "orange"), (3600, "green")), width=12, height=5),
            state_timeline("Trạng thái cổng", f"netwatch_if_oper_status{{{ifsel}}}", "{{target}} {{if_name}}",
                           if_oper_mappings(), height=10),
            timeseries("Lưu lượng vào", [query(f"netwatch_if_in_bits_per_second{{{ifsel}}}",
                                               "{{target}} {{if_name}}")], "bps", min=0),
            timeseries("Lưu lượng ra", [query(f"netwatch_if_out_bits_per_second{{{ifsel}}}",
                                              "{{target}} {{if_name}}")], "bps", min=0),
            timeseries("Mức sử dụng cổng", [query(f"netwatch_if_utilisation_ratio{{{ifsel}}}",
                                                  "{{target}} {{if_name}} {{direction}}")],
                       "percentunit", min=0, max=1, steps=UTIL_STEPS),
            timeseries("Lỗi và gói bị hủy", [
                query(f"netwatch_if_in_errors_per_second{{{ifsel}}}", "{{target}} {{if_name}} lỗi vào"),
                query(f"netwatch_if_out_errors_per_second{{{ifsel}}}", "{{target}} {{if_name}} lỗi ra"),
                query(f"netwatch_if_in_discards_per_second{{{ifsel}}}", "{{target}} {{if_name}} hủy vào"),
                query(f"netwatch_if_out_discards_per_second{{{ifsel}}}", "{{target}} {{if_name}} hủy ra")],
                "pps", min=0),
            timeseries("CPU", [query(f"netwatch_snmp_cpu_load_ratio{{{dev}}}", "{{target}}")], "percentunit",
                       min=0, max=1, steps=UTIL_STEPS),
            timeseries("Bộ nhớ", [query(f"netwatch_snmp_memory_used_ratio{{{dev}}}", "{{target}}")], "percentunit",
                       min=0, max=1, steps=UTIL_STEPS),
            timeseries("Thời gian trả lời SNMP", [query(f"netwatch_snmp_response_seconds{{{dev}}}", "{{target}}")],
                       "s", min=0),
        ],
        [ZONE_VAR, TARGET_VAR, SITE_VAR, device_var, iface_var])


def egov() -> Json:
    sys_var = variable("system", "Hệ thống", f'label_values(netwatch_target_info{{{EGOV}}}, target)', all_value=None)
    per_check = 'target=~"$system"'   # state codes are per check, over every site
    sel = f'{per_check}, {SITE}'
    return dashboard(
        "netwatch-egov", "netwatch — Hệ thống chính quyền điện tử",
        "Độ sẵn sàng, thời gian phản hồi và các pha, mã trạng thái HTTP, hạn chứng chỉ TLS, toàn vẹn nội dung.",
        [
            state_tiles("Trạng thái", f"netwatch:target_state:code{{{per_check}}}", "{{name}}", height=5),
            bargauge("Độ sẵn sàng (trong khoảng xem)",
                     f"min by (target, name) (avg_over_time(netwatch:check_available:bool{{{sel}}}[$__range]))",
                     "{{name}}", "percentunit", AVAIL_STEPS, width=12, height=7, min=0.9, max=1, decimals=3,
                     description="Tỷ lệ thời gian hệ thống trả lời (hoạt động hoặc suy giảm), lấy phép kiểm tra "
                                 "kém nhất."),
            bargauge("Số ngày còn lại của chứng chỉ TLS", f"min by (target, name) (netwatch:tls_cert_days_left{{{sel}}})",
                     "{{name}}", "d", TLS_STEPS, width=12, height=7, min=0, max=90, decimals=0),
            stat("Trang vi phạm toàn vẹn", f"sum(max by (target) (netwatch_web_integrity_findings{{{sel}}}) > bool 0)",
                 "none", steps=COUNT_BAD_STEPS, width=6, height=6,
                 description="Số hệ thống có trang khác bản gốc đã duyệt hoặc vi phạm quy tắc (nghi bị thay đổi "
                             "giao diện)."),
            timeseries("Thời gian phản hồi", [query(f"netwatch_http_total_seconds{{{sel}}}", "{{check}}")], "s",
                       width=18, height=6, min=0, steps=RTT_STEPS),
            timeseries("Các pha của yêu cầu HTTP", [
                query(f"avg by (target) (netwatch_http_dns_seconds{{{sel}}})", "{{target}} DNS"),
                query(f"avg by (target) (netwatch_http_connect_seconds{{{sel}}})", "{{target}} kết nối TCP"),
                query(f"avg by (target) (netwatch_http_tls_seconds{{{sel}}})", "{{target}} bắt tay TLS"),
                query(f"avg by (target) (netwatch_http_first_byte_seconds{{{sel}}})", "{{target}} byte đầu tiên")],
                "s", stack=True, fill=40, min=0, width=12),
            timeseries("Mã trạng thái HTTP", [query(f"netwatch_http_status_code{{{sel}}}", "{{check}}")], "none",
                       draw_style="points", width=12,
                       steps=thresholds((None, "green"), (400, "orange"), (500, "red"))),
            table("Lỗi hiện tại", [query(f"netwatch_check_error{{{sel}}}", instant=True, fmt="table")], "none",
                  renames={"target": "Hệ thống", "check": "Phép kiểm tra", "kind": "Loại", "error": "Lỗi"},
                  hide=("Value",), height=6, no_value="Không có lỗi"),
            Row("Thư công vụ và quy trình nhiều bước"),
            timeseries("Thư công vụ: thời gian gửi – nhận", [
                query(f"netwatch_mail_roundtrip_delivery_seconds{{{sel}}}", "{{target}} gửi → thấy trong hộp thư"),
                query(f"netwatch_mail_roundtrip_total_seconds{{{sel}}}", "{{target}} cả vòng")], "s", min=0,
                width=8, steps=thresholds((None, "green"), (30, "yellow"), (60, "red")),
                description="Thư thử gửi qua SMTP và chờ thấy qua IMAP: hệ thống thư chạy thật từ đầu đến cuối."),
            timeseries("Phiên SMTP / IMAP", [
                query(f"netwatch_smtp_total_seconds{{{sel}}}", "{{check}}"),
                query(f"netwatch_imap_total_seconds{{{sel}}}", "{{check}}")], "s", min=0, width=8),
            timeseries("Quy trình nhiều bước (theo bước)", [
                query(f"netwatch_http_flow_step_seconds{{{sel}}}", "{{check}} {{step}}")], "s", min=0, width=8,
                stack=True, fill=40,
                description="Thời gian từng bước của phép kiểm tra nhiều bước (đăng nhập, tra cứu hồ sơ...)."),
            Row("Toàn vẹn nội dung"),
            timeseries("Quy tắc toàn vẹn bị vi phạm", [
                query(f"netwatch_web_integrity_findings{{{sel}}}", "{{check}}")], "none", min=0,
                steps=COUNT_BAD_STEPS, draw_style="bars",
                description="Số quy tắc trang vi phạm: từ cấm, phần tử bắt buộc bị mất, liên kết hay biểu mẫu lạ."),
            timeseries("Tỷ lệ nội dung thay đổi so với bản gốc", [
                query(f"netwatch_web_integrity_text_change_ratio{{{sel}}}", "{{check}}")], "percentunit",
                min=0, max=1, steps=thresholds((None, "green"), (0.25, "red"))),
            state_timeline("Diễn biến trạng thái", f"netwatch:check_state:code{{{per_check}}}", "{{check}}",
                           state_mappings()),
        ],
        [SITE_VAR, sys_var])


def monitor() -> Json:
    return dashboard(
        "netwatch-monitor", "netwatch — Sức khỏe hệ thống giám sát",
        "netwatch có đang chạy đúng hạn không: độ trễ lập lịch, thời gian đo, lượt bị bỏ, tuổi của kết quả.",
        [
            stat("netwatch", 'up{job="netwatch"}', "none", mappings=up_mappings(),
                 steps=thresholds((None, "red"), (1, "green"))),
            stat("Số phép kiểm tra", "sum(netwatch_checks)", "none", color_mode="value"),
            stat("Kết quả cũ nhất", "max(netwatch:check_result_age_seconds)", "s", decimals=0,
                 steps=thresholds((None, "green"), (120, "yellow"), (600, "red")),
                 description="Tuổi của kết quả cũ nhất; lớn hơn vài chu kỳ đo nghĩa là bộ lập lịch bị treo."),
            stat("Thời gian lấy số liệu", 'scrape_duration_seconds{job="netwatch"}', "s",
                 steps=thresholds((None, "green"), (1, "yellow"), (5, "red"))),
            timeseries("Độ trễ lập lịch (p95, 5 phút)", [query("netwatch:scheduler_lag_seconds:p95_5m", "{{kind}}")],
                       "s", min=0, steps=LAG_STEPS,
                       description="Phép kiểm tra bắt đầu muộn bao lâu so với lịch."),
            timeseries("Thời gian đo (10 phép chậm nhất)", [query("topk(10, netwatch_probe_duration_seconds)",
                                                                  "{{check}}")], "s", min=0),
            timeseries("Lượt đo bị bỏ", [query("increase(netwatch_scheduler_skipped_runs_total[5m])", "{{kind}}")],
                       "none", min=0, draw_style="bars"),
            timeseries("Phép đo đang chạy", [query("netwatch_probes_in_flight", "{{kind}}")], "none", min=0),
            timeseries("Tuổi kết quả lớn nhất theo loại",
                       [query("max by (kind) (netwatch:check_result_age_seconds)", "{{kind}}")], "s", min=0),
            timeseries("Số phép kiểm tra theo trạng thái", [query("netwatch:checks_by_state:count", "{{state}}")],
                       "none", min=0, stack=True, fill=60),
            Row("Thông báo và cảnh báo"),
            stat("Sự cố đang mở", "netwatch_incidents_open", "none", steps=COUNT_BAD_STEPS),
            stat("Thông báo đang chờ", "sum(netwatch_notify_queue_depth)", "none",
                 steps=thresholds((None, "green"), (1, "yellow"), (20, "red"))),
            stat("Lưu trữ / bộ lập lịch", "netwatch_monitoring_degraded", "none",
                 mappings=up_mappings("Lỗi", "Bình thường"), steps=thresholds((None, "green"), (1, "red")),
                 description="Báo lỗi khi netwatch không ghi được lịch sử hoặc bộ lập lịch bị chậm."),
            stat("Tín hiệu sống (heartbeat) gửi cách đây",
                 "time() - netwatch_heartbeat_last_success_timestamp_seconds", "s", decimals=0,
                 steps=thresholds((None, "green"), (300, "red")),
                 description="Lần cuối dịch vụ giám sát bên ngoài nhận được tín hiệu sống của netwatch."),
            timeseries("Hàng đợi thông báo theo kênh", [query("netwatch_notify_queue_depth", "{{channel}}")],
                       "none", min=0),
            timeseries("Thông báo chờ lâu nhất", [query("netwatch_notify_oldest_pending_seconds", "{{channel}}")],
                       "s", min=0, steps=thresholds((None, "green"), (60, "yellow"), (300, "red"))),
            timeseries("Gửi thất bại (mỗi phút)",
                       [query("rate(netwatch_notify_failures_total[5m]) * 60", "{{channel}}")], "none", min=0,
                       steps=COUNT_BAD_STEPS),
            timeseries("Đã gửi (mỗi phút)", [query("rate(netwatch_notify_deliveries_total[5m]) * 60", "{{channel}}"),
                                             query("rate(netwatch_notify_messages_total[5m]) * 60",
                                                   "{{channel}} (tin nhắn)")], "none", min=0),
            stat("Phép kiểm tra đang chập chờn", "count(netwatch_check_flapping == 1) or vector(0)", "none",
                 steps=thresholds((None, "green"), (1, "yellow")),
                 description="Chập chờn: đổi trạng thái liên tục, chỉ báo một lần."),
            timeseries("SNMP trap nhận được (mỗi phút)",
                       [query("rate(netwatch_snmp_traps_total[5m]) * 60", "{{result}}")], "none", min=0,
                       width=18),
            Row("Cụm netwatch (khi chạy nhiều nút)"),
            stat("Nút đang chạy", 'count(up{job="netwatch", cluster!=""} == 1) or vector(0)', "none",
                 color_mode="value", width=4,
                 description="Số nút của cụm trả lời Prometheus (không có số liệu khi chạy một nút)."),
            stat("Nút điều phối", "sum(netwatch_cluster_coordinator) or vector(0)", "none", width=4,
                 steps=thresholds((None, "red"), (1, "green"), (2, "red")),
                 description="Đúng 1 nút giữ quyền điều phối: quyết định, leo thang và gửi cảnh báo."),
            stat("Nút tự dừng", "sum(netwatch_cluster_fenced) or vector(0)", "none", width=4,
                 steps=COUNT_BAD_STEPS,
                 description="Nút mất kết nối PostgreSQL tự dừng đo và ghi trước khi hết hạn quyền."),
            timeseries("Slot đang giữ theo nút",
                       [query(f"(netwatch_cluster_slots_owned * on (instance) group_left (node, site) "
                              f"netwatch_cluster_node_info{{{SITE}}}) or vector(0)", "{{node}} ({{site}})")],
                       "none", min=0, width=12, stack=True, fill=40,
                       description="Mỗi điểm đo chia đều các slot cho các nút của nó; khi một nút chết, nút "
                                   "khác nhận slot sau TTL của quyền."),
        ],
        [SITE_VAR])


DASHBOARDS = {"overview": overview, "links": links, "devices": devices, "egov": egov, "monitor": monitor}


def render_all() -> dict[str, str]:
    return {f"{name}.json": json.dumps(build(), ensure_ascii=False, indent=2) + "\n"
            for name, build in DASHBOARDS.items()}


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for filename, text in render_all().items():
        (OUT / filename).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / filename}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
