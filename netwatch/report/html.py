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
from netwatch.report.texts import duration, kind_name, latency, local, percent, state, tr


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
            + f'<td class="num">{g.checks_meeting_sla}/{g.checks}</td>' + states
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
        f"<header><h1>{esc(tr('title', lang))}</h1><p class=\"sub\">{esc(tr('subtitle', lang))}</p><dl>",
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
    charts = ch.all_charts(report, lang)
    avail = [c for c in charts if c.title == tr("legend_avail", lang)]
    out.append(f"<section><h2>{esc(tr('by_zone', lang))}</h2>")
    out.extend(f'<figure>{svg(c)}<figcaption>{esc(c.title)}</figcaption></figure>' for c in avail)
    out.append(_table(_group_head(lang, True), _group_rows(report.zones, lang, tz, True)) + "</section>")
    out.append(f"<section><h2>{esc(tr('timeline', lang))}</h2>")
    out.extend(f'<figure>{svg(c)}<figcaption>{esc(c.title)}</figcaption></figure>'
               for c in charts if c.title == tr("timeline", lang))
    out.append("</section>")
    lat = [c for c in charts if c not in avail and c.title != tr("timeline", lang)]
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
                      [f"<tr><td>{esc(local(a.at_ms, tz, lang))}</td><td>{esc(a.who)}</td><td>{esc(a.action)}</td>"
                       f"<td>{esc(a.what)}</td><td>{esc(a.source)}</td></tr>" for a in h.audit])
               if h.audit else f"<p>{esc(tr('none', lang))}</p>")
    out.append("</section></main></body></html>\n")
    return "".join(out).encode("utf-8")
