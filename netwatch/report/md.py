"""The report as Markdown: the summary tables and every outage, for chat or a wiki."""

from __future__ import annotations

import re
import zoneinfo
from typing import Sequence

from netwatch.i18n import Lang
from netwatch.report.summary import STATES, GroupRow, Report
from netwatch.report.texts import action_name, met_share, duration, kind_name, local, percent, state, tr


# Device text (trap summaries, error details, names) is hostile: a Markdown viewer renders raw HTML and
# links, so `<img onerror=...>` or `[x](http://...)` from a trap must arrive as text. HTML's own specials
# become entities; Markdown's become backslash escapes.
_MD_SPECIALS = re.compile(r"([\\`*_\[\]()#!~|])")


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    text = _MD_SPECIALS.sub(r"\\\1", text)
    return "".join(" " if ch in "\r\n" or not ch.isprintable() else ch for ch in text)


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
            percent((n.sla_target_percent or 0) / 100, lang, 2), met_share(g.checks_meeting_sla, g.checks, g.checks_without_data, lang),
            *(percent(n.ms[s] / max(1, n.window_ms), lang, 3) for s in STATES), n.outages, duration(n.longest_ms, lang),
            duration(n.mttr_ms, lang), duration(n.mtta_ms, lang)])
    return _table(head, rows)


def render_md(report: Report, lang: Lang) -> bytes:
    h = report.history
    tz = zoneinfo.ZoneInfo(h.timezone)
    out = _front_md(report, lang) + [f"# {_cell(tr('annex', lang))}", "",
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


def _front_md(report: Report, lang: Lang) -> list[str]:
    """The báo cáo's parts (NĐ 30/2020) in Markdown: header, Kính gửi, sections I–IV, Nơi nhận, signature."""
    import time

    from netwatch.config import ReportDocument
    from netwatch.report import document as dm

    h = report.history
    tz = zoneinfo.ZoneInfo(h.timezone)
    doc = h.document or ReportDocument()
    dots = dm.DOTS * 2
    out = _table([(doc.superior or dots).upper(), tr("nation", lang)],
                 [[f"**{(doc.issuer or dots).upper()}**", f"**{tr('motto', lang)}**"],
                  [dm.number_line(doc.number, doc.symbol, lang),
                   f"*{dm.date_line(doc.place, int(time.time() * 1000), tz, lang)}*"]])
    subject = tr("doc_subject", lang) + (" " + tr("doc_for", lang, event=h.event) if h.event else "")
    out += [f"# {_cell(tr('doc_kind', lang))}", "", f"**{_cell(subject)}**", "",
            f"{tr('to', lang)}: " + "; ".join(_cell(r) for r in (doc.recipients or (dm.DOTS,))), "",
            f"## {tr('sec_1', lang)}", "", _cell(dm.general_situation(report, lang)), ""]
    out += [f"## {tr('sec_2', lang)}", ""]
    out += _table([tr("seq", lang), tr("device", lang), tr("zone", lang), tr("availability", lang), tr("sla", lang),
                   tr("assessment", lang)],
                  [[k + 1, x.name, x.zone_name,
                    percent(x.availability, lang, 2) if x.availability is not None else tr("no_data", lang),
                    percent(x.sla_percent / 100, lang, 2),
                    tr("no_data", lang) if x.met is None else tr("yes" if x.met else "no", lang)]
                   for k, x in enumerate(dm.system_rows(report, dm.overall_period(report)))])
    incidents = dm.incident_rows(report)
    out += [f"## {tr('sec_3', lang)}", ""]
    for title, items, empty in ((tr("incidents_list", lang), [i for i in incidents if not i.security], "no_incident"),
                                (tr("security_list", lang), [i for i in incidents if i.security], "no_security")):
        out += [f"### {title}", ""]
        out += _table([tr("seq", lang), tr("start", lang), tr("duration", lang), tr("device", lang), tr("zone", lang),
                       tr("cause", lang), tr("fix", lang), tr("acked_by", lang)],
                      [[k + 1, local(i.start_ms, tz, lang), duration(i.duration_ms, lang), i.name, i.zone_name,
                        i.cause(lang), i.ack_note or "", i.acked_by or ""] for k, i in enumerate(items)]) \
            if items else [tr(empty, lang), ""]
    out += [f"## {tr('sec_4', lang)}", "", f"### {tr('conclusion', lang)}", ""]
    out += [f"- {_cell(t)}" for t in dm.conclusion(report, lang)] + ["", f"### {tr('recommend', lang)}", ""]
    out += [f"- {_cell(t)}" for t in (doc.recommendations or (dm.DOTS * 3,))] + [""]
    copies = [tr("as_above", lang)] + list(doc.copies) + [tr("archive", lang)]
    signer = ([doc.signer_authority.upper()] if doc.signer_authority else []) + [
        (doc.signer_title or dots).upper(), tr("signer_sign", lang), "", doc.signer_name or dots]
    out += [f"**_{tr('copies', lang)}:_** " + "; ".join(_cell(c) for c in copies), "",
            "**" + " — ".join(_cell(x) for x in signer if x) + "**", "", "---", ""]
    return out
