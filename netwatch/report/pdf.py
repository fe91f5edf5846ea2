"""The report as an A4 PDF (reportlab) with embedded DejaVu fonts for Vietnamese diacritics."""

from __future__ import annotations

import datetime as dt
import io
import os
import time
import unicodedata
import zoneinfo
from typing import Any, Callable, Sequence

from netwatch.i18n import Lang
from netwatch.model import State
from netwatch.report import charts as ch
from netwatch.report.collect import ReportError
from netwatch.report.pdftable import FastTable
from netwatch.report.summary import STATES, CheckRow, GroupRow, Report
from netwatch.report.texts import action_name, met_share, clock, kind_name, latency, local, percent, state, tr

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF",
             "/usr/local/share/fonts")
FONT_FILES = {"NW": "DejaVuSans.ttf", "NW-Bold": "DejaVuSans-Bold.ttf", "NWC": "DejaVuSansCondensed.ttf",
              "NWC-Bold": "DejaVuSansCondensed-Bold.ttf", "NW-Italic": "DejaVuSans-Oblique.ttf",
              "NW-BoldItalic": "DejaVuSans-BoldOblique.ttf"}
OPTIONAL_FONTS = frozenset({"NW-Italic", "NW-BoldItalic"})


def find_fonts(dirs: Sequence[str] | None = None) -> dict[str, str]:
    """Paths of the DejaVu fonts (Vietnamese glyphs); NETWATCH_REPORT_FONT_DIR is searched first."""
    if dirs is None:
        dirs = [d for d in (os.environ.get("NETWATCH_REPORT_FONT_DIR"),) if d] + list(FONT_DIRS)
    out = {}
    for name, filename in FONT_FILES.items():
        path = next((os.path.join(d, filename) for d in dirs if os.path.isfile(os.path.join(d, filename))), None)
        if path is None and name in OPTIONAL_FONTS:
            continue   # italics are in fonts-dejavu-extra; without them the italic lines print upright
        if path is None:
            raise ReportError(f"font {filename} not found in {', '.join(dirs)}: install the Debian package "
                              "fonts-dejavu-core (or set NETWATCH_REPORT_FONT_DIR)")
        out[name] = path
    return out


def _register_fonts() -> None:
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "NW" in pdfmetrics.getRegisteredFontNames():
        return
    found = find_fonts()
    for name, path in found.items():
        pdfmetrics.registerFont(TTFont(name, path))
    for name in OPTIONAL_FONTS - set(found):
        pdfmetrics.registerFont(TTFont(name, found["NW-Bold" if "Bold" in name else "NW"]))
    addMapping("NW", 0, 0, "NW")
    addMapping("NW", 1, 0, "NW-Bold")
    addMapping("NW", 0, 1, "NW-Italic")   # the date line and "Nơi nhận" are italic (NĐ 30)
    addMapping("NW", 1, 1, "NW-BoldItalic")
    addMapping("NWC", 0, 0, "NWC")
    addMapping("NWC", 1, 0, "NWC-Bold")


def drawing(chart: ch.Chart, width: float) -> Any:
    """A chart as a reportlab Drawing scaled to `width` points (y flipped: PDF is y-up)."""
    from reportlab.graphics.shapes import Drawing, Group, Line, PolyLine, Rect, String
    from reportlab.lib.colors import HexColor

    k = width / chart.width
    g = Group()
    H = chart.height
    for s in chart.shapes:
        if isinstance(s, ch.Rect):
            g.add(Rect(s.x, H - s.y - s.h, s.w, s.h, fillColor=HexColor(s.fill), strokeColor=None))
        elif isinstance(s, ch.Line):
            g.add(Line(s.x1, H - s.y1, s.x2, H - s.y2, strokeColor=HexColor(s.stroke), strokeWidth=s.width,
                       strokeDashArray=[4, 3] if s.dash else None))
        elif isinstance(s, ch.Text):
            g.add(String(s.x, H - s.y, unicodedata.normalize("NFC", s.text), fontName="NW", fontSize=s.size, fillColor=HexColor(s.fill),
                         textAnchor=s.anchor))
        elif isinstance(s, ch.Polyline):
            pts: list[float] = []
            for x, y in s.points:
                pts += [x, H - y]
            g.add(PolyLine(pts, strokeColor=HexColor(s.stroke), strokeWidth=s.width))
    g.scale(k, k)
    d = Drawing(width, chart.height * k)
    d.add(g)
    return d


def _share(ms: int, window_ms: int, lang: Lang) -> str:
    return percent(ms / max(1, window_ms), lang, 2)


def _clip(text: str | None, n: int) -> str:
    text = (text or "").replace("\n", " ").replace("\r", " ")
    return text if len(text) <= n else text[:n - 1] + "…"


def render_pdf(report: Report, lang: Lang, progress: Callable[[str, int, int], None] | None = None,
               generated_at: float | None = None) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Spacer
    from xml.sax.saxutils import escape

    _register_fonts()
    h = report.history
    tz = zoneinfo.ZoneInfo(h.timezone)
    gen = int((generated_at if generated_at is not None else time.time()) * 1000)
    period_text = f"{local(h.from_ms, tz, lang, False)} – {local(h.to_ms, tz, lang, False)}"
    body = ParagraphStyle("body", fontName="NW", fontSize=9.5, leading=12.5)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#444444"))
    h1 = ParagraphStyle("h1", parent=body, fontName="NW-Bold", fontSize=16, leading=20, alignment=TA_CENTER,
                        spaceAfter=4)
    h2 = ParagraphStyle("h2", parent=body, fontName="NW-Bold", fontSize=12, leading=15, spaceBefore=10,
                        spaceAfter=5, textColor=colors.HexColor("#0d3b66"))
    h3 = ParagraphStyle("h3", parent=body, fontName="NW-Bold", fontSize=10, leading=13, spaceBefore=6, spaceAfter=3)
    center = ParagraphStyle("center", parent=body, alignment=TA_CENTER)
    width = A4[0] - 30 * mm

    def short(ms: int) -> str:
        return dt.datetime.fromtimestamp(ms / 1000, tz).strftime("%d/%m %H:%M:%S" if lang == "vi" else "%m-%d %H:%M:%S")

    def p(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(unicodedata.normalize("NFC", text)), style)

    def table(head: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float],
              fills: dict[tuple[int, int], Any] | None = None, font_size: float = 7.0,
              wrap: Sequence[int] = ()) -> list[Any]:
        return [FastTable(head, rows, [w * width for w in widths], size=font_size, fills=fills, wrap=wrap)]

    shade = {None: colors.HexColor("#eeeeee"), True: colors.HexColor("#e8f5e9"), False: colors.HexColor("#ffcdd2")}

    story: list[Any] = _front_matter(report, lang, width, p, table, shade, gen)
    story += [PageBreak(), p(tr("annex", lang), h1), Spacer(1, 2 * mm), p(tr("unknown_note", lang), small)]

    def groups_table(groups: Sequence[GroupRow], zone: bool) -> list[Any]:
        head = ([tr("zone", lang)] if zone else []) + [tr("phase", lang), tr("availability", lang), tr("sla", lang),
                                                       tr("meeting", lang)]
        head += [state(s.value, lang) for s in STATES] + [tr("outage_count", lang), tr("longest", lang),
                                                          tr("mttr", lang), tr("mtta", lang)]
        rows: list[list[str]] = []
        fills: dict[tuple[int, int], Any] = {}
        for r, g in enumerate(groups):
            n = g.numbers
            rows.append(([g.name] if zone else []) + [
                g.period.name or tr("all", lang), percent(n.availability, lang),
                percent((n.sla_target_percent or 0) / 100, lang, 2), met_share(g.checks_meeting_sla, g.checks, g.checks_without_data, lang),
                *(_share(n.ms[s], n.window_ms, lang) for s in STATES), str(n.outages), clock(n.longest_ms, lang),
                clock(n.mttr_ms, lang), clock(n.mtta_ms, lang)])
            fills[(r, 2 if zone else 1)] = shade[n.sla_met]
        w = ([0.1] if zone else []) + [0.1, 0.075, 0.06, 0.055] + [0.062] * 6 + [0.045, 0.062, 0.062, 0.062]
        total = sum(w)
        return table(head, rows, [x / total for x in w], fills, 6.3, wrap=(0, 1, 4) if zone else (0, 3))

    story += [p(tr("summary", lang), h2)] + groups_table(report.phases, False)
    story.append(p(tr("by_zone", lang), h2))
    story += groups_table(report.zones, True)
    lat = ch.latency_charts(report, lang)
    for i, c in enumerate(lat):
        story.append(KeepTogether(([p(tr("latency", lang), h2)] if i == 0 else [])
                                  + [drawing(c, width), p(c.title, small)]))

    story.append(p(tr("by_check", lang), h2))
    periods = h.periods
    by_check: dict[str, dict[str, CheckRow]] = {}
    for row in report.rows:
        by_check.setdefault(row.check.id, {})[row.period.id] = row
    head = [tr("check", lang), tr("zone", lang)] + [f"{p_.name or tr('all', lang)}" for p_ in periods]
    head += [tr("sla", lang), state("unknown", lang), tr("outage_count", lang), tr("outage_time", lang),
             tr("p50", lang), tr("p95", lang)]
    rows = []
    fills: dict[tuple[int, int], Any] = {}
    for r, per in enumerate(by_check.values()):
        total = per[periods[-1].id]
        info, n = total.check, total.numbers
        rows.append([_clip(info.id, 34), _clip(h.zone_names.get(info.zone, info.zone), 16)]
                    + [percent(per[p_.id].numbers.availability, lang) for p_ in periods]
                    + [percent(info.sla_target_percent / 100, lang, 2), clock(n.ms[State.UNKNOWN], lang),
                       str(n.outages), clock(n.outage_ms, lang),
                       latency(n.latency.p(0.5) if n.latency else None, lang),
                       latency(n.latency.p(0.95) if n.latency else None, lang)])
        for k, p_ in enumerate(periods):
            fills[(r, 2 + k)] = shade[per[p_.id].numbers.sla_met]
    w = [0.2, 0.1] + [0.075] * len(periods) + [0.06, 0.07, 0.045, 0.075, 0.06, 0.06]
    total_w = sum(w)
    story += [p(f"{tr('availability', lang)} (%) — " + ", ".join(p_.name or tr('all', lang) for p_ in periods),
                small)]
    story += table(head, rows, [x / total_w for x in w], fills)

    story.append(p(f"{tr('outages', lang)} ({len(report.outages)})", h2))
    if not h.paging_tables:
        story.append(p(tr("no_paging", lang), small))
    if report.outages:
        orows = []
        for o in report.outages:
            pages = "\n".join(f"{_clip(p_.channel, 16)} {short(p_.at_ms)[-8:]}" for p_ in o.pages[:3])
            if len(o.pages) > 3:
                pages += f"\n(+{len(o.pages) - 3})"
            ack = (f"{_clip(o.acked_by, 22)}\n+{clock(o.acked_ms - o.start_ms, lang)}" if o.acked_ms is not None
                   else "")
            err = o.error or ""
            if o.detail:
                err = f"{err}: {o.detail}"
            orows.append([short(o.start_ms), short(o.end_ms) if o.end_ms is not None
                          else tr("ongoing", lang), clock(o.duration_ms, lang), _clip(o.check.id, 30),
                          _clip(err, 120),
                          _clip(o.cause, 18), pages, ack])
        story += table([tr("start", lang), tr("end", lang), tr("duration", lang), tr("check", lang),
                        tr("error", lang), tr("cause", lang), tr("paged", lang), tr("acked", lang)], orows,
                       [0.12, 0.12, 0.065, 0.15, 0.165, 0.07, 0.17, 0.14], wrap=(4,))
    else:
        story.append(p(tr("none", lang)))

    story.append(p(tr("gaps", lang), h2))
    if report.gaps:
        story += table([tr("from", lang), tr("to", lang), tr("duration", lang)],
                       [[local(a, tz, lang), local(b, tz, lang), clock(b - a, lang)] for a, b in report.gaps],
                       [0.35, 0.35, 0.3])
    else:
        story.append(p(tr("none", lang)))
    story.append(p(f"{tr('events', lang)} ({len(h.events)})", h2))
    if not h.events:
        story.append(p(tr("none", lang)))
    for kind in sorted({e.kind for e in h.events}):
        items = [e for e in h.events if e.kind == kind]
        # The heading stays with the first rows of its table (KeepTogether splits long ones).
        story.append(KeepTogether([p(f"{kind_name(kind, lang)} ({len(items)})", h3)] + table(
            [tr("when", lang), tr("target", lang), tr("summary_text", lang)],
            [[local(e.at_ms, tz, lang), _clip(e.check_id or e.target_id, 30), _clip(e.summary, 110)]
             for e in items[:40]], [0.17, 0.23, 0.6])))
        if len(items) > 40:
            story += table([tr("when", lang), tr("target", lang), tr("summary_text", lang)],
                           [[local(e.at_ms, tz, lang), _clip(e.check_id or e.target_id, 30), _clip(e.summary, 110)]
                            for e in items[40:]], [0.17, 0.23, 0.6])
    story.append(p(f"{tr('audit', lang)} ({len(h.audit)})", h2))
    if h.audit:
        story += table([tr("when", lang), tr("who", lang), tr("action", lang), tr("what", lang)],
                       [[local(a.at_ms, tz, lang), _clip(a.who, 24), action_name(a.action, lang), _clip(a.what, 90)]
                        for a in h.audit], [0.17, 0.15, 0.22, 0.46], wrap=(2, 3))
    else:
        story.append(p(tr("none", lang)))

    header_left = unicodedata.normalize("NFC", _clip(f"{h.site} — {h.event}" if h.event else h.site, 90))
    page_word = tr("page", lang)

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("NW", 7.5)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(15 * mm, A4[1] - 10 * mm, header_left)
        canvas.drawRightString(A4[0] - 15 * mm, A4[1] - 10 * mm, period_text)
        canvas.setStrokeColor(colors.HexColor("#999999"))
        canvas.setLineWidth(0.4)
        canvas.line(15 * mm, A4[1] - 11.5 * mm, A4[0] - 15 * mm, A4[1] - 11.5 * mm)
        canvas.drawString(15 * mm, 8 * mm, f"netwatch — {tr('title', lang)}")
        canvas.drawRightString(A4[0] - 15 * mm, 8 * mm, f"{page_word} {doc.page}")
        canvas.restoreState()
        if progress is not None:
            progress("pdf", doc.page, doc.page)

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=14 * mm, title=f"{tr('title', lang)} — {h.event or h.site}",
                            author="netwatch", subject=period_text)
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buf.getvalue()


def _front_matter(report: Report, lang: Lang, width: float, p: Callable[..., Any], table: Callable[..., list[Any]],
                  shade: dict[bool | None, Any], gen_ms: int) -> list[Any]:
    """The báo cáo itself (NĐ 30/2020 layout): header, title, Kính gửi, sections I–IV, Nơi nhận and signature."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Paragraph, Spacer, Table, TableStyle
    from xml.sax.saxutils import escape

    from netwatch.config import ReportDocument
    from netwatch.report import document as dm

    h = report.history
    tz = zoneinfo.ZoneInfo(h.timezone)
    doc = h.document or ReportDocument()
    body = ParagraphStyle("fm-body", fontName="NW", fontSize=10.5, leading=14, alignment=TA_JUSTIFY,
                          firstLineIndent=8 * mm, spaceAfter=3)
    plain = ParagraphStyle("fm-plain", parent=body, firstLineIndent=0, alignment=0)
    centre = ParagraphStyle("fm-centre", parent=plain, alignment=TA_CENTER, leading=13.5)
    bold_c = ParagraphStyle("fm-bold-c", parent=centre, fontName="NW-Bold")
    title = ParagraphStyle("fm-title", parent=bold_c, fontSize=14, leading=18, spaceBefore=6)
    sec = ParagraphStyle("fm-sec", parent=plain, fontName="NW-Bold", fontSize=11, leading=15, spaceBefore=8,
                         spaceAfter=4)
    sub = ParagraphStyle("fm-sub", parent=plain, fontName="NW-Bold", fontSize=10.5, leading=14, spaceBefore=5,
                         spaceAfter=3)
    small = ParagraphStyle("fm-small", parent=plain, fontSize=8, leading=10, textColor=colors.HexColor("#444444"))

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        return p(text, style)

    def rich(markup: str, style: ParagraphStyle) -> Paragraph:
        return Paragraph(unicodedata.normalize("NFC", markup), style)

    def line(w: float) -> Table:
        t = Table([[""]], colWidths=[w], rowHeights=[2])
        t.setStyle(TableStyle([("LINEABOVE", (0, 0), (0, 0), 0.6, colors.black)]))
        return t

    dots = dm.DOTS * 2
    left = [rich(escape((doc.superior or dots).upper()), centre),
            rich(f"<b>{escape((doc.issuer or dots).upper())}</b>", centre), line(width * 0.16),
            rich(escape(dm.number_line(doc.number, doc.symbol, lang)), centre)]
    right = [rich(f"<b>{escape(tr('nation', lang))}</b>", centre), rich(f"<b>{escape(tr('motto', lang))}</b>", centre),
             line(width * 0.3), rich(f"<i>{escape(dm.date_line(doc.place, gen_ms, tz, lang))}</i>", centre)]
    head = Table([[left, right]], colWidths=[width * 0.42, width * 0.58])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    story: list[Any] = [head, Spacer(1, 6 * mm), para(tr("doc_kind", lang), title)]
    subject = tr("doc_subject", lang) + (" " + tr("doc_for", lang, event=h.event) if h.event else "")
    story += [para(subject, bold_c), line(width * 0.25), Spacer(1, 3 * mm)]
    recipients = doc.recipients or (dm.DOTS,)
    if len(recipients) == 1:
        story.append(para(f"{tr('to', lang)}: {recipients[0]}", centre))
    else:
        story.append(para(f"{tr('to', lang)}:", centre))
        story += [para(f"- {r};", centre) for r in recipients]
    story.append(Spacer(1, 3 * mm))

    # I. general situation
    story += [para(tr("sec_1", lang), sec), para(dm.general_situation(report, lang))]
    if h.recorded_window:
        story.append(para(tr("window_default", lang, a=local(h.from_ms, tz, lang, False),
                             b=local(h.to_ms, tz, lang, False))))
    rows, fills = [], {}
    for r, g in enumerate(report.phases):
        systems = dm.system_rows(report, g.period.id)
        known = [x for x in systems if x.availability is not None]
        n = g.numbers
        rows.append([g.period.name or tr("all", lang),
                     f"{local(g.period.start_ms, tz, lang, False)} – {local(g.period.end_ms, tz, lang, False)}",
                     percent(n.availability, lang, 2) if n.availability is not None else tr("no_data", lang),
                     percent((n.sla_target_percent or 0) / 100, lang, 2),
                     f"{sum(1 for x in known if x.met)}/{len(known)}" if known else tr("no_data", lang),
                     str(n.outages), clock(n.longest_ms, lang)])
        fills[(r, 2)] = shade[n.sla_met]
    story += table([tr("phase", lang), tr("period", lang), tr("availability", lang), tr("sla", lang),
                    tr("systems_met", lang), tr("outage_count", lang), tr("longest", lang)], rows,
                   [0.17, 0.27, 0.11, 0.09, 0.12, 0.1, 0.14], fills, 8.0, wrap=(0, 1, 2, 4))

    # II. results: per zone (chart + table), per system
    story.append(para(tr("sec_2", lang), sec))
    story.append(para(tr("by_zone_short", lang), sub))
    chart = ch.availability_chart(report, lang)
    if chart is not None:
        story.append(KeepTogether([drawing(chart, width), para(chart.title, small)]))
    periods = h.periods
    zone_rows, zone_fills = [], {}
    zones = list(dict.fromkeys(g.key for g in report.zones))
    for r, z in enumerate(zones):
        cells = [h.zone_names.get(z, z) or "—"]
        target = None
        for k, period in enumerate(periods):
            g = next(x for x in report.zones if x.key == z and x.period.id == period.id)
            target = g.numbers.sla_target_percent
            cells.append(percent(g.numbers.availability, lang, 2) if g.numbers.availability is not None
                         else tr("no_data", lang))
            zone_fills[(r, 1 + k)] = shade[g.numbers.sla_met]
        cells.append(percent((target or 0) / 100, lang, 2))
        zone_rows.append(cells)
    pw = 0.62 / max(1, len(periods))
    story += table([tr("zone", lang)] + [x.name or tr("all", lang) for x in periods] + [tr("sla", lang)], zone_rows,
                   [0.26] + [pw] * len(periods) + [0.12], zone_fills, 8.0, wrap=tuple(range(len(periods) + 1)))
    systems = dm.system_rows(report, dm.overall_period(report))
    chart = ch.systems_chart([(x.name, x.availability, x.sla_percent) for x in systems if x.availability is not None],
                             lang)
    story.append(KeepTogether([para(tr("by_system", lang), sub)]
                              + ([drawing(chart, width), para(chart.title, small)] if chart is not None else [])))
    sys_rows, sys_fills = [], {}
    for r, x in enumerate(systems):
        verdict = tr("no_data", lang) if x.met is None else tr("yes" if x.met else "no", lang)
        sys_rows.append([str(r + 1), x.name, x.zone_name, percent(x.availability, lang, 2)
                         if x.availability is not None else tr("no_data", lang),
                         percent(x.sla_percent / 100, lang, 2), verdict, str(x.incidents)])
        sys_fills[(r, 5)] = shade[x.met]
    story += table([tr("seq", lang), tr("device", lang), tr("zone", lang), tr("availability", lang), tr("sla", lang),
                    tr("assessment", lang), tr("incident_count", lang)], sys_rows,
                   [0.05, 0.33, 0.2, 0.12, 0.09, 0.12, 0.09], sys_fills, 8.0, wrap=(1, 2, 3, 5))

    # III. incidents: one row per fault of one target; security incidents on their own
    incidents = dm.incident_rows(report)
    story.append(para(tr("sec_3", lang), sec))
    timeline = ch.timeline_chart(report, lang)
    story.append(KeepTogether([para(tr("incidents_list", lang), sub), drawing(timeline, width),
                               para(timeline.title, small)]))

    def incident_table(rows_in: Sequence[Any]) -> list[Any]:
        rows_out = []
        for k, i in enumerate(rows_in):
            ack = f"{i.acked_by} ({local(i.acked_ms, tz, lang, False)[-5:]})" if i.acked_by and i.acked_ms else ""
            rows_out.append([str(k + 1), local(i.start_ms, tz, lang, False),
                             clock(i.duration_ms, lang) + ("" if i.end_ms is not None else f" ({tr('ongoing', lang)})"),
                             f"{i.name}\n{i.zone_name}", i.cause(lang),
                             i.ack_note or "", ack])
        return table([tr("seq", lang), tr("start", lang), tr("duration", lang), tr("device", lang),
                      tr("cause", lang), tr("fix", lang), tr("acked_by", lang)], rows_out,
                     [0.05, 0.15, 0.1, 0.2, 0.22, 0.16, 0.12], None, 7.5, wrap=(2, 3, 4, 5, 6))

    story += incident_table([i for i in incidents if not i.security]) if incidents else [para(tr("no_incident", lang))]
    story.append(para(tr("security_list", lang), sub))
    security = [i for i in incidents if i.security]
    story += incident_table(security) if security else [para(tr("no_security", lang))]

    # IV. assessment: the conclusion is written from the figures; recommendations come from the config
    story.append(para(tr("sec_4", lang), sec))
    story.append(para(tr("conclusion", lang), sub))
    story += [para(f"- {text}") for text in dm.conclusion(report, lang)]
    story.append(para(tr("recommend", lang), sub))
    story += [para(f"- {text}") for text in (doc.recommendations or (dm.DOTS * 3,))]

    copies = [f"- {tr('as_above', lang)};"] + [f"- {c};" for c in doc.copies] + [f"- {tr('archive', lang)}."]
    left_block = [rich(f"<b><i>{escape(tr('copies', lang))}:</i></b>", ParagraphStyle("nn", parent=plain, fontSize=9.5))]
    left_block += [para(c, ParagraphStyle("nn2", parent=plain, fontSize=8.5, leading=11)) for c in copies]
    if doc.prepared_by:
        left_block += [Spacer(1, 4 * mm), rich(f"<b>{escape(tr('prepared_by', lang))}</b>", plain),
                       para(doc.prepared_by, plain)]
    signer = [rich(f"<b>{escape(doc.signer_authority.upper())}</b>", bold_c)] if doc.signer_authority else []
    signer += [rich(f"<b>{escape((doc.signer_title or dots).upper())}</b>", bold_c),
               rich(f"<i>{escape(tr('signer_sign', lang))}</i>", centre), Spacer(1, 20 * mm),
               rich(f"<b>{escape(doc.signer_name or dots)}</b>", bold_c)]
    sign = Table([[left_block, signer]], colWidths=[width * 0.45, width * 0.55])
    sign.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [Spacer(1, 6 * mm), KeepTogether([sign])]
    return story
