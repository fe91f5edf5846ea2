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
from netwatch.report.texts import clock, kind_name, latency, local, percent, state, tr

FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/share/fonts/TTF",
             "/usr/local/share/fonts")
FONT_FILES = {"NW": "DejaVuSans.ttf", "NW-Bold": "DejaVuSans-Bold.ttf", "NWC": "DejaVuSansCondensed.ttf",
              "NWC-Bold": "DejaVuSansCondensed-Bold.ttf"}


def find_fonts(dirs: Sequence[str] | None = None) -> dict[str, str]:
    """Paths of the DejaVu fonts (Vietnamese glyphs); NETWATCH_REPORT_FONT_DIR is searched first."""
    if dirs is None:
        dirs = [d for d in (os.environ.get("NETWATCH_REPORT_FONT_DIR"),) if d] + list(FONT_DIRS)
    out = {}
    for name, filename in FONT_FILES.items():
        path = next((os.path.join(d, filename) for d in dirs if os.path.isfile(os.path.join(d, filename))), None)
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
    for name, path in find_fonts().items():
        pdfmetrics.registerFont(TTFont(name, path))
    addMapping("NW", 0, 0, "NW")
    addMapping("NW", 1, 0, "NW-Bold")
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
    from reportlab.platypus import (KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table,
                                    TableStyle)
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

    story: list[Any] = []
    if lang == "vi":
        story.append(Table([[p(h.site, ParagraphStyle("l", parent=body, fontName="NW-Bold", alignment=TA_CENTER)),
                             Paragraph("<b>CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM</b><br/>Độc lập - Tự do - Hạnh phúc",
                                       ParagraphStyle("r", parent=body, alignment=TA_CENTER))]],
                           colWidths=[width * 0.45, width * 0.55]))
        story.append(Spacer(1, 8 * mm))
    story += [p(tr("title", lang).upper(), h1), p(tr("subtitle", lang), center), Spacer(1, 4 * mm)]
    meta = [[tr("site", lang), h.site]]
    if h.event:
        meta.append([tr("event", lang), h.event])
    meta += [[tr("period", lang), f"{period_text} ({h.timezone})"],
             [tr("generated", lang), local(gen, tz, lang, False)]]
    mt = Table([[p(a, ParagraphStyle("b", parent=body, fontName="NW-Bold")), p(b)] for a, b in meta],
               colWidths=[width * 0.28, width * 0.72])
    mt.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [mt, Spacer(1, 3 * mm), p(tr("unknown_note", lang), small)]

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
                percent((n.sla_target_percent or 0) / 100, lang, 2), f"{g.checks_meeting_sla}/{g.checks}",
                *(_share(n.ms[s], n.window_ms, lang) for s in STATES), str(n.outages), clock(n.longest_ms, lang),
                clock(n.mttr_ms, lang), clock(n.mtta_ms, lang)])
            fills[(r, 2 if zone else 1)] = shade[n.sla_met]
        w = ([0.1] if zone else []) + [0.1, 0.075, 0.06, 0.055] + [0.062] * 6 + [0.045, 0.062, 0.062, 0.062]
        total = sum(w)
        return table(head, rows, [x / total for x in w], fills, 6.3, wrap=(0, 1) if zone else (0,))

    story += [p(tr("summary", lang), h2)] + groups_table(report.phases, False)
    charts = ch.all_charts(report, lang)
    story.append(p(tr("by_zone", lang), h2))
    for c in charts:
        if c.title == tr("legend_avail", lang):
            story.append(KeepTogether([drawing(c, width), p(c.title, small)]))
    story += groups_table(report.zones, True)
    for c in charts:
        if c.title == tr("timeline", lang):
            story.append(KeepTogether([p(tr("timeline", lang), h2), drawing(c, width), p(c.title, small)]))
    lat = [c for c in charts if c.title not in (tr("legend_avail", lang), tr("timeline", lang))]
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
                       [[local(a.at_ms, tz, lang), _clip(a.who, 24), _clip(a.action, 24), _clip(a.what, 90)]
                        for a in h.audit], [0.17, 0.15, 0.15, 0.53])
    else:
        story.append(p(tr("none", lang)))

    gen_day = dt.datetime.fromtimestamp(gen / 1000, tz)
    dated = (f"ngày {gen_day.day:02d} tháng {gen_day.month:02d} năm {gen_day.year}" if lang == "vi"
             else gen_day.strftime("%d %B %Y"))
    sign = ParagraphStyle("sign", parent=body, alignment=TA_CENTER, leading=14)
    story.append(KeepTogether([
        Spacer(1, 8 * mm),
        Table([["", p(dated, ParagraphStyle("date", parent=sign, fontName="NW"))],
               [Paragraph(f"<b>{escape(tr('prepared_by', lang))}</b><br/>{escape(tr('sign_name', lang))}", sign),
                Paragraph(f"<b>{escape(tr('approved_by', lang))}</b><br/>{escape(tr('sign_seal', lang))}", sign)]],
              colWidths=[width / 2, width / 2], rowHeights=[None, 30 * mm],
              style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))]))

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
