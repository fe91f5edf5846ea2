"""The báo cáo as a document (pure): administrative parts, one row per incident, systems against target, conclusion.

The layout follows Nghị định 30/2020/NĐ-CP (format of administrative documents): issuing body under its
superior, number and symbol, place and date, title, "Kính gửi", body, "Nơi nhận" and the signature block.
Every renderer (PDF, HTML, .docx) reads this model, so the three say the same thing.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any, Sequence

from netwatch import causes
from netwatch.i18n import Lang
from netwatch.model import State
from netwatch.report.summary import OutageRow, Report
from netwatch.report.texts import duration, local, percent

DOTS = "…"


@dataclass(frozen=True)
class IncidentRow:
    """One fault of one target: overlapping outages of its checks (http + web_integrity of one portal) merge."""

    target: str
    name: str
    zone: str
    zone_name: str
    start_ms: int
    end_ms: int | None
    duration_ms: int
    checks: tuple[str, ...]
    error: str | None
    detail: str
    parent: str | None          # the upstream device blamed when the target was only unreachable (its name)
    security: bool
    acked_by: str | None
    acked_ms: int | None
    ack_note: str | None

    def cause(self, lang: Lang) -> str:
        if self.parent:
            return f"{causes.STATES['unreachable'].text(lang)} ({self.parent})"
        return causes.describe(self.error, self.detail, lang)


@dataclass(frozen=True)
class SystemRow:
    """A target's availability in one period (its own checks, not its ports), against its target."""

    target: str
    name: str
    zone: str
    zone_name: str
    availability: float | None
    sla_percent: float
    incidents: int

    @property
    def met(self) -> bool | None:
        return None if self.availability is None else self.availability * 100 >= self.sla_percent - 1e-9


def incident_rows(report: Report) -> list[IncidentRow]:
    by_target: dict[str, list[OutageRow]] = {}
    for o in report.outages:
        by_target.setdefault(o.check.target, []).append(o)
    rows: list[IncidentRow] = []
    for outages in by_target.values():
        outages.sort(key=lambda o: o.start_ms)
        group: list[OutageRow] = []
        group_end: int | None = 0
        for o in outages:
            if group and (group_end is None or o.start_ms <= group_end):
                group.append(o)
                group_end = None if (group_end is None or o.end_ms is None) else max(group_end, o.end_ms)
                continue
            if group:
                rows.append(_merge(group, report))
            group, group_end = [o], o.end_ms
        if group:
            rows.append(_merge(group, report))
    rows.sort(key=lambda r: (r.start_ms, r.target))
    return rows


def _merge(group: Sequence[OutageRow], report: Report) -> IncidentRow:
    first = group[0]
    info = first.check
    ends = [o.end_ms for o in group]
    end = None if any(e is None for e in ends) else max(e for e in ends if e is not None)
    start = min(o.start_ms for o in group)
    last = end if end is not None else max(report.history.to_ms, start)
    security = [o for o in group if causes.is_security(o.error)]
    lead = security[0] if security else next((o for o in group if o.error), first)
    acks = sorted((o for o in group if o.acked_ms is not None), key=lambda o: o.acked_ms or 0)
    note = next((o.ack_note for o in acks if o.ack_note), None)
    return IncidentRow(
        target=info.target, name=info.target_name or info.target, zone=info.zone,
        zone_name=report.history.zone_names.get(info.zone, info.zone), start_ms=start, end_ms=end,
        duration_ms=last - start, checks=tuple(dict.fromkeys(o.check.id for o in group)),
        error=lead.error, detail=lead.detail, parent=_name_of(next((o.cause for o in group if o.cause), None), report),
        security=bool(security), acked_by=acks[0].acked_by if acks else None,
        acked_ms=acks[0].acked_ms if acks else None, ack_note=note)


def _name_of(target: str | None, report: Report) -> str | None:
    if target is None:
        return None
    return next((c.target_name for c in report.history.checks if c.target == target and c.target_name), target)


def system_rows(report: Report, period_id: str) -> list[SystemRow]:
    """One row per target (a system), by zone in config order, then by name; ports (derived checks) do not
    count as systems."""
    ms: dict[str, dict[State, int]] = {}
    sla: dict[str, float] = {}
    infos: dict[str, Any] = {}
    for row in report.rows:
        if row.period.id != period_id or row.check.derived:
            continue
        t = row.check.target
        infos.setdefault(t, row.check)
        acc = ms.setdefault(t, {s: 0 for s in State})
        for s, v in row.numbers.ms.items():
            acc[s] += v
        sla[t] = max(sla.get(t, 0.0), row.check.sla_target_percent)
    counts: dict[str, int] = {}
    for r in incident_rows(report):
        counts[r.target] = counts.get(r.target, 0) + 1
    from netwatch.report.timeline import availability

    out = []
    for t, info in infos.items():
        out.append(SystemRow(t, info.target_name or t, info.zone, report.history.zone_names.get(info.zone, info.zone),
                             availability(ms[t]), sla[t], counts.get(t, 0)))
    zone_order = {z: i for i, z in enumerate(report.history.zone_names)}
    out.sort(key=lambda r: (zone_order.get(r.zone, len(zone_order)), r.name.casefold()))
    return out


def overall_period(report: Report) -> str:
    return report.history.periods[-1].id


def date_line(place: str, ms: int, tz: zoneinfo.ZoneInfo, lang: Lang) -> str:
    """"Phú Thọ, ngày 02 tháng 12 năm 2026": days below 10 and months 1 and 2 take a leading zero (NĐ 30)."""
    d = dt.datetime.fromtimestamp(ms / 1000, tz)
    if lang == "vi":
        month = f"{d.month:02d}" if d.month < 3 else str(d.month)
        return f"{place or DOTS * 2}, ngày {d.day:02d} tháng {month} năm {d.year}"
    return f"{place or DOTS * 2}, {d.day} {d.strftime('%B')} {d.year}"


def number_line(number: str, symbol: str, lang: Lang) -> str:
    return f"{'Số' if lang == 'vi' else 'No.'}: {number or DOTS}/{symbol or 'BC-' + DOTS}"


def conclusion(report: Report, lang: Lang) -> list[str]:
    """The written assessment, from the figures: targets met, the worst outage, security events."""
    h = report.history
    tz = zoneinfo.ZoneInfo(h.timezone)
    systems = system_rows(report, overall_period(report))
    with_data = [s for s in systems if s.availability is not None]
    missed = [s for s in with_data if not s.met]
    no_data = [s for s in systems if s.availability is None]
    incidents = incident_rows(report)
    security = [i for i in incidents if i.security]
    vi = lang == "vi"
    out: list[str] = []
    if not with_data:
        out.append("Không có dữ liệu giám sát trong thời gian báo cáo; chưa thể đánh giá mức bảo đảm."
                   if vi else "There is no monitoring data for the reporting period; nothing can be assessed.")
        return out
    if not missed:
        out.append(f"Tất cả {len(with_data)}/{len(with_data)} hệ thống có dữ liệu đạt chỉ tiêu khả dụng."
                   if vi else f"All {len(with_data)} systems with data met their availability target.")
    else:
        names = "; ".join(f"{s.name} ({percent(s.availability, lang, 2)} / {percent(s.sla_percent / 100, lang, 2)})"
                          for s in missed[:8])
        more = (f" và {len(missed) - 8} hệ thống khác" if vi else f" and {len(missed) - 8} more") if len(missed) > 8 else ""
        out.append(f"{len(with_data) - len(missed)}/{len(with_data)} hệ thống đạt chỉ tiêu khả dụng; không đạt: "
                   f"{names}{more}." if vi else
                   f"{len(with_data) - len(missed)} of {len(with_data)} systems met their availability target; "
                   f"missed: {names}{more}.")
    if no_data:
        out.append(f"{len(no_data)} hệ thống không có dữ liệu trong thời gian báo cáo (không tính là đạt)."
                   if vi else f"{len(no_data)} systems have no data for the period (not counted as met).")
    if incidents:
        # the worst root fault: a device only unreachable behind a dead parent is a consequence, not a cause
        worst = max([i for i in incidents if not i.parent] or incidents, key=lambda i: i.duration_ms)
        fixed = (f"; đã xử lý: {worst.ack_note}" if vi else f"; fixed: {worst.ack_note}") if worst.ack_note else ""
        out.append(
            f"Ghi nhận {len(incidents)} sự cố; dài nhất: {worst.name} ({worst.zone_name}) từ "
            f"{local(worst.start_ms, tz, lang, False)}, kéo dài {duration(worst.duration_ms, lang)}, nguyên nhân: "
            f"{worst.cause(lang)}{fixed}." if vi else
            f"{len(incidents)} incidents; the longest: {worst.name} ({worst.zone_name}) from "
            f"{local(worst.start_ms, tz, lang, False)}, lasting {duration(worst.duration_ms, lang)}, cause: "
            f"{worst.cause(lang)}{fixed}.")
    else:
        out.append("Không ghi nhận sự cố nào." if vi else "No incident was recorded.")
    if security:
        names = "; ".join(f"{i.name} ({local(i.start_ms, tz, lang, False)}: {i.cause(lang)})" for i in security[:5])
        out.append(f"Có {len(security)} sự cố an ninh: {names}." if vi else
                   f"{len(security)} security incidents: {names}.")
    else:
        out.append("Không ghi nhận sự cố an ninh (thay đổi nội dung trang, cấu hình thiết bị)." if vi else
                   "No security incident (page content or device configuration change) was recorded.")
    return out


def general_situation(report: Report, lang: Lang) -> str:
    """Section I's paragraph: what was watched, where, when, and how long netwatch itself was not watching."""
    h = report.history
    tz = zoneinfo.ZoneInfo(h.timezone)
    doc = h.document
    systems = len({c.target for c in h.checks if not c.derived})
    zones = len({c.zone for c in h.checks})
    gap_ms = sum(b - a for a, b in report.gaps)
    who = (doc.issuer if doc is not None and doc.issuer else "")
    a, b = local(h.from_ms, tz, lang, False), local(h.to_ms, tz, lang, False)
    if lang == "vi":
        text = (f"Thực hiện nhiệm vụ bảo đảm thông tin liên lạc{' phục vụ ' + h.event if h.event else ''}, "
                f"{who or 'đơn vị'} đã giám sát liên tục {systems} thiết bị, hệ thống tại {zones} khu vực "
                f"({h.site}) từ {a} đến {b} (giờ {h.timezone}).")
        text += (f" Thời gian phần mềm giám sát không hoạt động: {duration(gap_ms, lang)} (không tính là hoạt động)."
                 if gap_ms else " Phần mềm giám sát hoạt động liên tục trong suốt thời gian báo cáo.")
        return text
    text = (f"For {h.event or 'the event'}, {who or 'the unit'} monitored {systems} devices and systems in {zones} "
            f"zones ({h.site}) from {a} to {b} ({h.timezone} time).")
    text += (f" The monitor itself was not running for {duration(gap_ms, lang)} (never counted as up)."
             if gap_ms else " The monitor ran without interruption for the whole period.")
    return text
