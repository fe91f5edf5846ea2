"""The report as one self-contained HTML file (inline CSS and SVG, no fetches), readable on a phone."""

from __future__ import annotations

import html
import time
import zoneinfo
from importlib import resources
from typing import Iterable, Sequence

from netwatch.i18n import Lang
from netwatch.model import State
from netwatch.report import charts as ch
from netwatch.report.summary import STATES, CheckRow, GroupRow, Numbers, OutageRow, Report
from netwatch.report.texts import action_name, met_share, duration, kind_name, latency, local, percent, state, tr


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def svg(chart: ch.Chart) -> str:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {chart.width:g} {chart.height:g}" '
             f'role="img" aria-label="{esc(chart.title)}" font-family="DejaVu Sans, Arial, sans-serif">']
    for s in chart.shapes:
        if isinstance(s, ch.Rect):
            title = f"<title>{esc(s.title)}</title>" if s.title else ""
            parts.append(f'<rect x="{s.x:.1f}" y="{s.y:.1f}" width="{s.w:.1f}" height="{s.h:.1f}" '
                         f'fill="{s.fill}">{title}</rect>')
        elif isinstance(s, ch.Line):
            dash = ' stroke-dasharray="4 3"' if s.dash else ""
            parts.append(f'<line x1="{s.x1:.1f}" y1="{s.y1:.1f}" x2="{s.x2:.1f}" y2="{s.y2:.1f}" '
                         f'stroke="{s.stroke}" stroke-width="{s.width:g}"{dash}/>')
        elif isinstance(s, ch.Text):
            parts.append(f'<text x="{s.x:.1f}" y="{s.y:.1f}" font-size="{s.size:g}" text-anchor="{s.anchor}" '
                         f'fill="{s.fill}">{esc(s.text)}</text>')
        elif isinstance(s, ch.Polyline):
            pts = " ".join(f"{x:g},{y:g}" for x, y in s.points)
            parts.append(f'<polyline points="{pts}" fill="none" stroke="{s.stroke}" stroke-width="{s.width:g}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _css() -> str:
    return resources.files("netwatch.report").joinpath("report.css").read_text(encoding="utf-8")


def _avail_cell(n: Numbers, lang: Lang) -> str:
    met = n.sla_met
    cls = "na" if met is None else ("ok" if met else "bad")
    return f'<td class="num {cls}">{esc(percent(n.availability, lang))}</td>'


def _table(head: Sequence[str], rows: Iterable[str], cls: str = "") -> str:
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    return (f'<div class="scroll"><table class="{cls}"><thead><tr>{th}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></div>")


def _period_name(g: GroupRow | CheckRow, lang: Lang) -> str:
    return g.period.name or tr("all", lang)


def _group_rows(groups: Sequence[GroupRow], lang: Lang, tz: zoneinfo.ZoneInfo, zone: bool) -> list[str]:
    rows = []
    for g in groups:
        n = g.numbers
        first = f"<td>{esc(g.name)}</td>" if zone else ""
        states = "".join(f'<td class="num" title="{esc(duration(n.ms[s], lang))}">'
                         f'{esc(percent(n.ms[s] / max(1, n.window_ms), lang, 3))}</td>' for s in STATES)
        rows.append(
            f"<tr>{first}<td>{esc(_period_name(g, lang))}</td>"
            + ("" if zone else f"<td>{esc(local(g.period.start_ms, tz, lang, False))} – "
                               f"{esc(local(g.period.end_ms, tz, lang, False))}</td>")
            + _avail_cell(n, lang) + f'<td class="num">{esc(percent((n.sla_target_percent or 0) / 100, lang, 2))}</td>'
            + f'<td class="num">{esc(met_share(g.checks_meeting_sla, g.checks, g.checks_without_data, lang))}</td>' + states
            + f'<td class="num">{n.outages}</td><td class="num">{esc(duration(n.longest_ms, lang))}</td>'
            + f'<td class="num">{esc(duration(n.mttr_ms, lang))}</td><td class="num">{esc(duration(n.mtta_ms, lang))}</td>'
            + "</tr>")
    return rows


def _group_head(lang: Lang, zone: bool) -> list[str]:
    head = [tr("zone", lang)] if zone else []
    head += [tr("phase", lang)] + ([] if zone else [tr("period", lang)])
    head += [tr("availability", lang), tr("sla", lang), tr("meeting", lang)]
    head += [state(s.value, lang) for s in STATES]
    return head + [tr("outage_count", lang), tr("longest", lang), tr("mttr", lang), tr("mtta", lang)]


def _check_table(report: Report, lang: Lang) -> str:
    periods = report.history.periods
    by_check: dict[str, dict[str, CheckRow]] = {}
    for r in report.rows:
        by_check.setdefault(r.check.id, {})[r.period.id] = r
    overall = periods[-1].id
    head = [tr("check", lang), tr("zone", lang), tr("kind", lang)]
    head += [f"{tr('availability', lang)} · {p.name or tr('all', lang)}" for p in periods]
    head += [tr("sla", lang), state("unknown", lang), tr("outage_count", lang), tr("outage_time", lang),
             tr("longest", lang), tr("p50", lang), tr("p95", lang)]
    zone_names = report.history.zone_names
    rows = []
    for cid, per in by_check.items():
        total = per[overall]
        c = total.check
        n = total.numbers
        lat = n.latency
        name = c.id if c.target_name in ("", c.target) else f"{c.id} ({c.target_name})"
        rows.append(
            f"<tr><td>{esc(name)}</td><td>{esc(zone_names.get(c.zone, c.zone))}</td><td>{esc(c.kind)}</td>"
            + "".join(_avail_cell(per[p.id].numbers, lang) for p in periods)
            + f'<td class="num">{esc(percent(c.sla_target_percent / 100, lang, 2))}</td>'
            + f'<td class="num">{esc(duration(n.ms[State.UNKNOWN], lang))}</td><td class="num">{n.outages}</td>'
            + f'<td class="num">{esc(duration(n.outage_ms, lang))}</td><td class="num">{esc(duration(n.longest_ms, lang))}</td>'
            + f'<td class="num">{esc(latency(lat.p(0.5) if lat else None, lang))}</td>'
            + f'<td class="num">{esc(latency(lat.p(0.95) if lat else None, lang))}</td></tr>')
    return _table(head, rows, "checks")


def _outage_table(outages: Sequence[OutageRow], report: Report, lang: Lang, tz: zoneinfo.ZoneInfo) -> str:
    if not outages:
        return f"<p>{esc(tr('none', lang))}</p>"
    zone_names = report.history.zone_names
    head = [tr("start", lang), tr("end", lang), tr("duration", lang), tr("check", lang), tr("zone", lang),
            tr("error", lang), tr("cause", lang), tr("paged", lang), tr("acked", lang)]
    rows = []
    for o in outages:
        end = local(o.end_ms, tz, lang) if o.end_ms is not None else tr("ongoing", lang)
        pages = "<br>".join(f"{esc(local(p.at_ms, tz, lang))} {esc(p.channel)} ({esc(p.kind)})" for p in o.pages)
        ack = (f"{esc(o.acked_by)} · {esc(local(o.acked_ms, tz, lang))} (+{esc(duration(o.acked_ms - o.start_ms, lang))})"
               if o.acked_ms is not None else "")
        detail = f'<div class="detail">{esc(o.detail)}</div>' if o.detail else ""
        rows.append(
            f"<tr><td>{esc(local(o.start_ms, tz, lang))}</td><td>{esc(end)}</td>"
            f'<td class="num">{esc(duration(o.duration_ms, lang))}</td><td>{esc(o.check.id)}</td>'
            f"<td>{esc(zone_names.get(o.check.zone, o.check.zone))}</td><td>{esc(o.error)}{detail}</td>"
            f"<td>{esc(o.cause)}</td><td>{pages}</td><td>{ack}</td></tr>")
    return _table(head, rows, "outages")


def render_html(report: Report, lang: Lang, generated_at: float | None = None) -> bytes:
    h = report.history
    tz = zoneinfo.ZoneInfo(h.timezone)
    gen = int((generated_at if generated_at is not None else time.time()) * 1000)
    out: list[str] = [
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(tr('title', lang))} — {esc(h.event or h.site)}</title><style>{_css()}</style></head><body>",
        _front_html(report, lang, gen),
        f"<header><h1>{esc(tr('annex', lang))}</h1><p class=\"sub\">{esc(tr('title', lang))}</p><dl>",
        f"<dt>{esc(tr('site', lang))}</dt><dd>{esc(h.site)}</dd>",
    ]
    if h.event:
        out.append(f"<dt>{esc(tr('event', lang))}</dt><dd>{esc(h.event)}</dd>")
    out.append(f"<dt>{esc(tr('period', lang))}</dt><dd>{esc(local(h.from_ms, tz, lang, False))} – "
               f"{esc(local(h.to_ms, tz, lang, False))} ({esc(h.timezone)})</dd>"
               f"<dt>{esc(tr('generated', lang))}</dt><dd>{esc(local(gen, tz, lang, False))}</dd></dl></header><main>")
    out.append(f'<p class="note">{esc(tr("unknown_note", lang))}</p>')
    out.append(f"<section><h2>{esc(tr('summary', lang))}</h2>"
               + _table(_group_head(lang, False), _group_rows(report.phases, lang, tz, False)) + "</section>")
    out.append(f"<section><h2>{esc(tr('by_zone', lang))}</h2>")
    out.append(_table(_group_head(lang, True), _group_rows(report.zones, lang, tz, True)) + "</section>")
    lat = ch.latency_charts(report, lang)
    if lat:
        out.append(f"<section><h2>{esc(tr('latency', lang))}</h2>")
        out.extend(f'<figure>{svg(c)}<figcaption>{esc(c.title)}</figcaption></figure>' for c in lat)
        out.append("</section>")
    out.append(f"<section><h2>{esc(tr('by_check', lang))}</h2>{_check_table(report, lang)}</section>")
    out.append(f"<section><h2>{esc(tr('outages', lang))} ({len(report.outages)})</h2>")
    if not h.paging_tables:
        out.append(f'<p class="note">{esc(tr("no_paging", lang))}</p>')
    out.append(_outage_table(report.outages, report, lang, tz) + "</section>")
    out.append(f"<section><h2>{esc(tr('gaps', lang))}</h2>")
    out.append(_table([tr("from", lang), tr("to", lang), tr("duration", lang)],
                      [f"<tr><td>{esc(local(a, tz, lang))}</td><td>{esc(local(b, tz, lang))}</td>"
                       f'<td class="num">{esc(duration(b - a, lang))}</td></tr>' for a, b in report.gaps])
               if report.gaps else f"<p>{esc(tr('none', lang))}</p>")
    out.append("</section>")
    out.append(f"<section><h2>{esc(tr('events', lang))} ({len(h.events)})</h2>")
    if not h.events:
        out.append(f"<p>{esc(tr('none', lang))}</p>")
    for kind in sorted({e.kind for e in h.events}):
        items = [e for e in h.events if e.kind == kind]
        out.append(f"<h3>{esc(kind_name(kind, lang))} ({len(items)})</h3>")
        out.append(_table([tr("when", lang), tr("target", lang), tr("summary_text", lang)],
                          [f"<tr><td>{esc(local(e.at_ms, tz, lang))}</td><td>{esc(e.check_id or e.target_id)}</td>"
                           f"<td>{esc(e.summary)}</td></tr>" for e in items]))
    out.append("</section>")
    out.append(f"<section><h2>{esc(tr('audit', lang))} ({len(h.audit)})</h2>")
    out.append(_table([tr("when", lang), tr("who", lang), tr("action", lang), tr("what", lang), tr("source", lang)],
                      [f"<tr><td>{esc(local(a.at_ms, tz, lang))}</td><td>{esc(a.who)}</td><td>{esc(action_name(a.action, lang))}</td>"
                       f"<td>{esc(a.what)}</td><td>{esc(a.source)}</td></tr>" for a in h.audit])
               if h.audit else f"<p>{esc(tr('none', lang))}</p>")
    out.append("</section></main></body></html>\n")
    return "".join(out).encode("utf-8")


def _front_html(report: Report, lang: Lang, gen_ms: int) -> str:
    """The báo cáo itself (NĐ 30/2020 layout), before the engineers' annex."""
    from netwatch.config import ReportDocument
    from netwatch.report import document as dm

    h = report.history
    tz = zoneinfo.ZoneInfo(h.timezone)
    doc = h.document or ReportDocument()
    dots = dm.DOTS * 2
    out = ['<section class="doc"><div class="doc-head"><div>',
           f"<div>{esc((doc.superior or dots).upper())}</div><div><b>{esc((doc.issuer or dots).upper())}</b></div>",
           f'<div class="rule"></div><div>{esc(dm.number_line(doc.number, doc.symbol, lang))}</div></div><div>',
           f"<div><b>{esc(tr('nation', lang))}</b></div><div><b>{esc(tr('motto', lang))}</b></div>",
           f'<div class="rule"></div><div class="date">{esc(dm.date_line(doc.place, gen_ms, tz, lang))}</div>',
           "</div></div>",
           f"<h1>{esc(tr('doc_kind', lang))}</h1>",
           f'<p class="subject">{esc(tr("doc_subject", lang))}'
           f'{esc(" " + tr("doc_for", lang, event=h.event)) if h.event else ""}</p>']
    recipients = doc.recipients or (dm.DOTS,)
    if len(recipients) == 1:
        out.append(f'<p class="to">{esc(tr("to", lang))}: {esc(recipients[0])}</p>')
    else:
        out.append(f'<p class="to">{esc(tr("to", lang))}:<br>'
                   + "<br>".join(f"- {esc(r)};" for r in recipients) + "</p>")
    out.append(f"<h2>{esc(tr('sec_1', lang))}</h2><p class=\"body\">{esc(dm.general_situation(report, lang))}</p>")
    if h.recorded_window:
        out.append(f'<p class="body">{esc(tr("window_default", lang, a=local(h.from_ms, tz, lang, False), b=local(h.to_ms, tz, lang, False)))}</p>')
    rows = []
    for g in report.phases:
        known = [x for x in dm.system_rows(report, g.period.id) if x.availability is not None]
        n = g.numbers
        avail = (percent(n.availability, lang, 2) if n.availability is not None else tr("no_data", lang))
        cls = "na" if n.sla_met is None else ("ok" if n.sla_met else "bad")
        rows.append(f"<tr><td>{esc(g.period.name or tr('all', lang))}</td><td>{esc(local(g.period.start_ms, tz, lang, False))}"
                    f" – {esc(local(g.period.end_ms, tz, lang, False))}</td><td class=\"num {cls}\">{esc(avail)}</td>"
                    f"<td class=\"num\">{esc(percent((n.sla_target_percent or 0) / 100, lang, 2))}</td>"
                    f"<td class=\"num\">{esc(f'{sum(1 for x in known if x.met)}/{len(known)}' if known else tr('no_data', lang))}</td>"
                    f"<td class=\"num\">{n.outages}</td><td class=\"num\">{esc(duration(n.longest_ms, lang))}</td></tr>")
    out.append(_table([tr("phase", lang), tr("period", lang), tr("availability", lang), tr("sla", lang),
                       tr("systems_met", lang), tr("outage_count", lang), tr("longest", lang)], rows))
    out.append(f"<h2>{esc(tr('sec_2', lang))}</h2><h3>{esc(tr('by_zone_short', lang))}</h3>")
    chart = ch.availability_chart(report, lang)
    if chart is not None:
        out.append(f"<figure>{svg(chart)}<figcaption>{esc(chart.title)}</figcaption></figure>")
    zrows = []
    for z in dict.fromkeys(g.key for g in report.zones):
        cells = [f"<td>{esc(h.zone_names.get(z, z) or '—')}</td>"]
        target = None
        for period in h.periods:
            g = next(x for x in report.zones if x.key == z and x.period.id == period.id)
            target = g.numbers.sla_target_percent
            cls = "na" if g.numbers.sla_met is None else ("ok" if g.numbers.sla_met else "bad")
            text = percent(g.numbers.availability, lang, 2) if g.numbers.availability is not None else tr("no_data", lang)
            cells.append(f'<td class="num {cls}">{esc(text)}</td>')
        cells.append(f'<td class="num">{esc(percent((target or 0) / 100, lang, 2))}</td>')
        zrows.append("<tr>" + "".join(cells) + "</tr>")
    out.append(_table([tr("zone", lang)] + [p.name or tr("all", lang) for p in h.periods] + [tr("sla", lang)], zrows))
    out.append(f"<h3>{esc(tr('by_system', lang))}</h3>")
    systems = dm.system_rows(report, dm.overall_period(report))
    chart = ch.systems_chart([(x.name, x.availability, x.sla_percent) for x in systems if x.availability is not None],
                             lang)
    if chart is not None:
        out.append(f"<figure>{svg(chart)}<figcaption>{esc(chart.title)}</figcaption></figure>")
    srows = []
    for k, x in enumerate(systems):
        verdict = tr("no_data", lang) if x.met is None else tr("yes" if x.met else "no", lang)
        cls = "na" if x.met is None else ("ok" if x.met else "bad")
        avail = percent(x.availability, lang, 2) if x.availability is not None else tr("no_data", lang)
        srows.append(f"<tr><td>{k + 1}</td><td>{esc(x.name)}</td><td>{esc(x.zone_name)}</td><td class=\"num\">{esc(avail)}</td>"
                     f"<td class=\"num\">{esc(percent(x.sla_percent / 100, lang, 2))}</td><td class=\"{cls}\">{esc(verdict)}</td>"
                     f"<td class=\"num\">{x.incidents}</td></tr>")
    out.append(_table([tr("seq", lang), tr("device", lang), tr("zone", lang), tr("availability", lang), tr("sla", lang),
                       tr("assessment", lang), tr("incident_count", lang)], srows))
    incidents = dm.incident_rows(report)
    out.append(f"<h2>{esc(tr('sec_3', lang))}</h2><h3>{esc(tr('incidents_list', lang))}</h3>")
    timeline = ch.timeline_chart(report, lang)
    out.append(f"<figure>{svg(timeline)}<figcaption>{esc(timeline.title)}</figcaption></figure>")

    def incident_table(items: Sequence[dm.IncidentRow], cls: str = "") -> str:
        rows_out = []
        for k, i in enumerate(items):
            ongoing = "" if i.end_ms is not None else f" ({tr('ongoing', lang)})"
            ack = f"{i.acked_by} ({local(i.acked_ms, tz, lang)})" if i.acked_by and i.acked_ms else ""
            rows_out.append(f"<tr><td>{k + 1}</td><td>{esc(local(i.start_ms, tz, lang))}</td>"
                            f"<td class=\"num\">{esc(duration(i.duration_ms, lang) + ongoing)}</td><td>{esc(i.name)}</td>"
                            f"<td>{esc(i.zone_name)}</td><td>{esc(i.cause(lang))}</td><td>{esc(i.ack_note or '')}</td>"
                            f"<td>{esc(ack)}</td></tr>")
        return _table([tr("seq", lang), tr("start", lang), tr("duration", lang), tr("device", lang), tr("zone", lang),
                       tr("cause", lang), tr("fix", lang), tr("acked_by", lang)], rows_out, cls)

    plain = [i for i in incidents if not i.security]
    security = [i for i in incidents if i.security]
    out.append(incident_table(plain, "incidents") if plain else f"<p>{esc(tr('no_incident', lang))}</p>")
    out.append(f"<h3>{esc(tr('security_list', lang))}</h3>")
    out.append(incident_table(security, "incidents security") if security else f"<p>{esc(tr('no_security', lang))}</p>")
    out.append(f"<h2>{esc(tr('sec_4', lang))}</h2><h3>{esc(tr('conclusion', lang))}</h3>")
    out += [f'<p class="body">- {esc(t)}</p>' for t in dm.conclusion(report, lang)]
    out.append(f"<h3>{esc(tr('recommend', lang))}</h3>")
    out += [f'<p class="body">- {esc(t)}</p>' for t in (doc.recommendations or (dm.DOTS * 3,))]
    copies = [f"- {tr('as_above', lang)};"] + [f"- {c};" for c in doc.copies] + [f"- {tr('archive', lang)}."]
    out.append('<div class="doc-foot"><div class="copies">'
               f"<b>{esc(tr('copies', lang))}:</b><br>" + "<br>".join(esc(c) for c in copies)
               + (f"<br><br><b>{esc(tr('prepared_by', lang))}</b><br>{esc(doc.prepared_by)}" if doc.prepared_by else "")
               + '</div><div class="sign">'
               + (f"<b>{esc(doc.signer_authority.upper())}</b><br>" if doc.signer_authority else "")
               + f"<b>{esc((doc.signer_title or dots).upper())}</b><br><i>{esc(tr('signer_sign', lang))}</i>"
               + f'<div class="space"></div><b>{esc(doc.signer_name or dots)}</b></div></div></section>')
    return "".join(out)
