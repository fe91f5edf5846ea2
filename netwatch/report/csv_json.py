"""JSON (the stable contract for scripts) and CSV (one row per check and phase) renderings."""

from __future__ import annotations

import csv
import io
import json
import zoneinfo
from typing import Any

from netwatch.report.summary import STATES, GroupRow, Numbers, OutageRow, Period, Report
from netwatch.report.texts import iso

SCHEMA_VERSION = 1


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def numbers_dict(n: Numbers) -> dict[str, Any]:
    out: dict[str, Any] = {"availability_ratio": _ratio(n.availability)}
    for s in STATES:
        out[f"{s.value}_seconds"] = _seconds(n.ms[s])
    lat = n.latency
    out.update({
        "window_seconds": _seconds(n.window_ms),
        "sla_target_percent": n.sla_target_percent,
        "sla_met": n.sla_met,
        "outage_count": n.outages,
        "outage_seconds": _seconds(n.outage_ms),
        "longest_outage_seconds": _seconds(n.longest_ms),
        "mttr_seconds": _seconds(n.mttr_ms),
        "mtta_seconds": _seconds(n.mtta_ms),
        "latency_p50_seconds": _round_latency(lat.p(0.5)) if lat else None,
        "latency_p95_seconds": _round_latency(lat.p(0.95)) if lat else None,
        "latency_samples": lat.count if lat else 0,
    })
    return out


def _round_latency(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def outage_dict(o: OutageRow, tz: zoneinfo.ZoneInfo, in_period_ms: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "check": o.check.id, "target": o.check.target, "zone": o.check.zone,
        "start": iso(o.start_ms, tz), "end": iso(o.end_ms, tz) if o.end_ms is not None else None,
        "duration_seconds": _seconds(o.duration_ms),
    }
    if in_period_ms is not None:
        out["in_phase_seconds"] = _seconds(in_period_ms)
    out.update({
        "error": o.error, "detail": o.detail, "root_cause": o.cause,
        "states": [s.value for s in o.states],
        "paged": [{"at": iso(p.at_ms, tz), "channel": p.channel, "kind": p.kind, "state": p.state} for p in o.pages],
        "acknowledged_at": iso(o.acked_ms, tz) if o.acked_ms is not None else None,
        "acknowledged_by": o.acked_by,
        "time_to_ack_seconds": _seconds(o.acked_ms - o.start_ms) if o.acked_ms is not None else None,
        "ack_note": o.ack_note,
    })
    return out


def _period(p: Period, tz: zoneinfo.ZoneInfo) -> dict[str, Any]:
    return {"phase": p.id, "phase_name": p.name, "from": iso(p.start_ms, tz), "to": iso(p.end_ms, tz)}


def _group(g: GroupRow, tz: zoneinfo.ZoneInfo, zone: bool) -> dict[str, Any]:
    head: dict[str, Any] = {"zone": g.key, "name": g.name} if zone else {}
    return {**head, **_period(g.period, tz), "checks": g.checks, "checks_meeting_sla": g.checks_meeting_sla,
            "checks_without_data": g.checks_without_data, **numbers_dict(g.numbers)}


def to_dict(report: Report) -> dict[str, Any]:
    h = report.history
    tz = zoneinfo.ZoneInfo(h.timezone)
    checks = []
    for row in report.rows:
        c = row.check
        checks.append({
            "check": c.id, "target": c.target, "target_name": c.target_name, "zone": c.zone, "kind": c.kind,
            "derived": c.derived, **_period(row.period, tz), **numbers_dict(row.numbers),
            "outages": [outage_dict(o, tz, w) for o, w in row.outages],
        })
    return {
        "schema": SCHEMA_VERSION,
        "site": h.site,
        "event": h.event,
        "timezone": h.timezone,
        "window": {"from": iso(h.from_ms, tz), "to": iso(h.to_ms, tz)},
        "sla_target_percent": h.default_sla_percent,
        "checks": checks,
        "zones": [_group(g, tz, True) for g in report.zones],
        "phases": [_group(g, tz, False) for g in report.phases],
        "outages": [outage_dict(o, tz) for o in report.outages],
        "monitoring_gaps": [{"from": iso(a, tz), "to": iso(b, tz), "duration_seconds": _seconds(b - a)}
                            for a, b in report.gaps],
        "events": [{"at": iso(e.at_ms, tz), "kind": e.kind, "check": e.check_id, "target": e.target_id,
                    "summary": e.summary} for e in h.events],
        "audit": [{"at": iso(a.at_ms, tz), "who": a.who, "action": a.action, "what": a.what, "source": a.source}
                  for a in h.audit],
        "paging_data": h.paging_tables,
    }


def render_json(report: Report) -> bytes:
    return (json.dumps(to_dict(report), ensure_ascii=False, indent=1, sort_keys=False) + "\n").encode("utf-8")


CSV_COLUMNS = ("phase", "phase_name", "from", "to", "zone", "target", "check", "kind", "availability_ratio",
               *(f"{s.value}_seconds" for s in STATES), "window_seconds", "sla_target_percent", "sla_met",
               "outage_count", "outage_seconds", "longest_outage_seconds", "mttr_seconds", "mtta_seconds",
               "latency_p50_seconds", "latency_p95_seconds", "latency_samples")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    # A spreadsheet runs a cell that starts with these as a formula; names come from config and devices.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def render_csv(report: Report) -> bytes:
    tz = zoneinfo.ZoneInfo(report.history.timezone)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for row in report.rows:
        c = row.check
        values = {"zone": c.zone, "target": c.target, "check": c.id, "kind": c.kind, **_period(row.period, tz),
                  **numbers_dict(row.numbers)}
        w.writerow([_cell(values.get(k)) for k in CSV_COLUMNS])
    # The byte order mark makes Excel (the office's default) open the file as UTF-8, not as mojibake.
    return buf.getvalue().encode("utf-8-sig")

