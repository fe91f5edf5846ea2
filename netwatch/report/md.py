"""The report as Markdown: the summary tables and every outage, for chat or a wiki."""

from __future__ import annotations

import zoneinfo
from typing import Sequence

from netwatch.i18n import Lang
from netwatch.report.summary import STATES, GroupRow, Report
from netwatch.report.texts import action_name, duration, kind_name, local, percent, state, tr


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    out = ["| " + " | ".join(_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return out + [""]


def _groups(groups: Sequence[GroupRow], lang: Lang, zone: bool) -> list[str]:
    head = ([tr("zone", lang)] if zone else []) + [tr("phase", lang), tr("availability", lang), tr("sla", lang),
                                                   tr("meeting", lang)]
    head += [state(s.value, lang) for s in STATES] + [tr("outage_count", lang), tr("longest", lang), tr("mttr", lang),
                                                      tr("mtta", lang)]
    rows = []
    for g in groups:
        n = g.numbers
        rows.append(([g.name] if zone else []) + [
            g.period.name or tr("all", lang), percent(n.availability, lang),
            percent((n.sla_target_percent or 0) / 100, lang, 2), f"{g.checks_meeting_sla}/{g.checks}",
            *(percent(n.ms[s] / max(1, n.window_ms), lang, 3) for s in STATES), n.outages, duration(n.longest_ms, lang),
            duration(n.mttr_ms, lang), duration(n.mtta_ms, lang)])
    return _table(head, rows)


def render_md(report: Report, lang: Lang) -> bytes:
    h = report.history
    tz = zoneinfo.ZoneInfo(h.timezone)
    out = [f"# {_cell(tr('title', lang))}", "",
           f"- **{tr('site', lang)}**: {_cell(h.site)}"]
    if h.event:
        out.append(f"- **{tr('event', lang)}**: {_cell(h.event)}")
    out += [f"- **{tr('period', lang)}**: {local(h.from_ms, tz, lang, False)} – {local(h.to_ms, tz, lang, False)} "
            f"({h.timezone})", "", f"> {tr('unknown_note', lang)}", "",
            f"## {tr('summary', lang)}", ""]
    out += _groups(report.phases, lang, False)
    out += [f"## {tr('by_zone', lang)}", ""] + _groups(report.zones, lang, True)
    out += [f"## {tr('outages', lang)} ({len(report.outages)})", ""]
    if report.outages:
        out += _table([tr("start", lang), tr("end", lang), tr("duration", lang), tr("check", lang), tr("error", lang),
                       tr("cause", lang), tr("paged", lang), tr("acked", lang)],
                      [[local(o.start_ms, tz, lang),
                        local(o.end_ms, tz, lang) if o.end_ms is not None else tr("ongoing", lang),
                        duration(o.duration_ms, lang), o.check.id, o.error or "", o.cause or "",
                        ", ".join(f"{p.channel} {local(p.at_ms, tz, lang)}" for p in o.pages),
                        f"{o.acked_by} {local(o.acked_ms, tz, lang)}" if o.acked_ms is not None else ""]
                       for o in report.outages])
    else:
        out += [tr("none", lang), ""]
    out += [f"## {tr('gaps', lang)}", ""]
    out += (_table([tr("from", lang), tr("to", lang), tr("duration", lang)],
                   [[local(a, tz, lang), local(b, tz, lang), duration(b - a, lang)] for a, b in report.gaps])
            if report.gaps else [tr("none", lang), ""])
    out += [f"## {tr('events', lang)} ({len(h.events)})", ""]
    for kind in sorted({e.kind for e in h.events}):
        out += [f"### {kind_name(kind, lang)}", ""]
        out += _table([tr("when", lang), tr("target", lang), tr("summary_text", lang)],
                      [[local(e.at_ms, tz, lang), e.check_id or e.target_id or "", e.summary]
                       for e in h.events if e.kind == kind])
    out += [f"## {tr('audit', lang)} ({len(h.audit)})", ""]
    out += (_table([tr("when", lang), tr("who", lang), tr("action", lang), tr("what", lang)],
                   [[local(a.at_ms, tz, lang), a.who, action_name(a.action, lang), a.what] for a in h.audit])
            if h.audit else [tr("none", lang), ""])
    return ("\n".join(out) + "\n").encode("utf-8")
