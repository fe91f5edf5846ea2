"""The báo cáo as a .docx the office can edit and sign (python-docx), laid out per Nghị định 30/2020/NĐ-CP."""

from __future__ import annotations

import io
import time
import zoneinfo
from typing import Any, Sequence

from netwatch.i18n import Lang
from netwatch.report import document as dm
from netwatch.report.summary import Report
from netwatch.report.texts import duration, local, percent, tr

# NĐ 30/2020, appendix I: Times New Roman 13–14 pt on A4, margins top/bottom 20–25 mm, left 30–35, right 15–20.
FONT = "Times New Roman"
SIZE_PT = 13


def render_docx(report: Report, lang: Lang, generated_at: float | None = None) -> bytes:
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    from netwatch.config import ReportDocument

    h = report.history
    tz = zoneinfo.ZoneInfo(h.timezone)
    doc = h.document or ReportDocument()
    gen = int((generated_at if generated_at is not None else time.time()) * 1000)
    d = Document()
    section = d.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(20), Mm(20)
    section.left_margin, section.right_margin = Mm(30), Mm(15)
    normal = d.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(SIZE_PT)
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), FONT)   # Word reads this one for Vietnamese too
    centre, justify = WD_ALIGN_PARAGRAPH.CENTER, WD_ALIGN_PARAGRAPH.JUSTIFY

    def para(container: Any, text: str = "", bold: bool = False, italic: bool = False, align: Any = None,
             size: float | None = None, indent: bool = False) -> Any:
        p = container.add_paragraph()
        if align is not None:
            p.alignment = align
        if indent:
            p.paragraph_format.first_line_indent = Mm(10)
        p.paragraph_format.space_after = Pt(3)
        run = p.add_run(text)
        run.bold, run.italic = bold, italic
        if size is not None:
            run.font.size = Pt(size)
        return p

    def table(head: Sequence[str], rows: Sequence[Sequence[str]], size: float = 10.5) -> None:
        t = d.add_table(rows=1, cols=len(head))
        t.style = "Table Grid"
        t.alignment = WD_TABLE_ALIGNMENT.CENTER
        for cell, text in zip(t.rows[0].cells, head):
            cell.text = ""
            run = cell.paragraphs[0].add_run(text)
            run.bold = True
            run.font.size = Pt(size)
        for row in rows:
            cells = t.add_row().cells
            for cell, text in zip(cells, row):
                cell.text = ""
                cell.paragraphs[0].add_run(str(text)).font.size = Pt(size)
        d.add_paragraph()

    dots = dm.DOTS * 2
    head = d.add_table(rows=1, cols=2)
    left, right = head.rows[0].cells
    left.width, right.width = Mm(70), Mm(95)
    left.text = right.text = ""
    for cell, lines in ((left, [((doc.superior or dots).upper(), False, False),
                                ((doc.issuer or dots).upper(), True, False),
                                (dm.number_line(doc.number, doc.symbol, lang), False, False)]),
                        (right, [(tr("nation", lang), True, False), (tr("motto", lang), True, False),
                                 (dm.date_line(doc.place, gen, tz, lang), False, True)])):
        cell.paragraphs[0].alignment = centre
        first = True
        for text, bold, italic in lines:
            p = cell.paragraphs[0] if first else cell.add_paragraph()
            p.alignment = centre
            run = p.add_run(text)
            run.bold, run.italic = bold, italic
            run.font.size = Pt(12 if cell is left or not bold else 12.5)
            first = False
    para(d)
    para(d, tr("doc_kind", lang), bold=True, align=centre, size=14)
    subject = tr("doc_subject", lang) + (" " + tr("doc_for", lang, event=h.event) if h.event else "")
    para(d, subject, bold=True, align=centre)
    recipients = doc.recipients or (dm.DOTS,)
    if len(recipients) == 1:
        para(d, f"{tr('to', lang)}: {recipients[0]}", align=centre)
    else:
        para(d, f"{tr('to', lang)}:", align=centre)
        for r in recipients:
            para(d, f"- {r};", align=centre)

    para(d, tr("sec_1", lang), bold=True)
    para(d, dm.general_situation(report, lang), align=justify, indent=True)
    if h.recorded_window:
        para(d, tr("window_default", lang, a=local(h.from_ms, tz, lang, False), b=local(h.to_ms, tz, lang, False)),
             align=justify, indent=True)
    rows = []
    for g in report.phases:
        known = [x for x in dm.system_rows(report, g.period.id) if x.availability is not None]
        n = g.numbers
        rows.append([g.period.name or tr("all", lang),
                     f"{local(g.period.start_ms, tz, lang, False)} – {local(g.period.end_ms, tz, lang, False)}",
                     percent(n.availability, lang, 2) if n.availability is not None else tr("no_data", lang),
                     percent((n.sla_target_percent or 0) / 100, lang, 2),
                     f"{sum(1 for x in known if x.met)}/{len(known)}" if known else tr("no_data", lang),
                     str(n.outages)])
    table([tr("phase", lang), tr("period", lang), tr("availability", lang), tr("sla", lang),
           tr("systems_met", lang), tr("outage_count", lang)], rows)

    para(d, tr("sec_2", lang), bold=True)
    para(d, tr("by_zone_short", lang), bold=True)
    zrows = []
    for z in dict.fromkeys(g.key for g in report.zones):
        cells = [h.zone_names.get(z, z) or "—"]
        target = None
        for period in h.periods:
            g = next(x for x in report.zones if x.key == z and x.period.id == period.id)
            target = g.numbers.sla_target_percent
            cells.append(percent(g.numbers.availability, lang, 2) if g.numbers.availability is not None
                         else tr("no_data", lang))
        zrows.append(cells + [percent((target or 0) / 100, lang, 2)])
    table([tr("zone", lang)] + [p.name or tr("all", lang) for p in h.periods] + [tr("sla", lang)], zrows)
    para(d, tr("by_system", lang), bold=True)
    srows = []
    for k, x in enumerate(dm.system_rows(report, dm.overall_period(report))):
        srows.append([str(k + 1), x.name, x.zone_name,
                      percent(x.availability, lang, 2) if x.availability is not None else tr("no_data", lang),
                      percent(x.sla_percent / 100, lang, 2),
                      tr("no_data", lang) if x.met is None else tr("yes" if x.met else "no", lang)])
    table([tr("seq", lang), tr("device", lang), tr("zone", lang), tr("availability", lang), tr("sla", lang),
           tr("assessment", lang)], srows)

    para(d, tr("sec_3", lang), bold=True)
    incidents = dm.incident_rows(report)

    def incident_rows(items: Sequence[dm.IncidentRow]) -> list[list[str]]:
        return [[str(k + 1), local(i.start_ms, tz, lang, False),
                 duration(i.duration_ms, lang) + ("" if i.end_ms is not None else f" ({tr('ongoing', lang)})"),
                 f"{i.name} ({i.zone_name})", i.cause(lang), i.ack_note or "", i.acked_by or ""]
                for k, i in enumerate(items)]

    heads = [tr("seq", lang), tr("start", lang), tr("duration", lang), tr("device", lang), tr("cause", lang),
             tr("fix", lang), tr("acked_by", lang)]
    para(d, tr("incidents_list", lang), bold=True)
    plain = [i for i in incidents if not i.security]
    if plain:
        table(heads, incident_rows(plain), 9.5)
    else:
        para(d, tr("no_incident", lang), indent=True)
    para(d, tr("security_list", lang), bold=True)
    security = [i for i in incidents if i.security]
    if security:
        table(heads, incident_rows(security), 9.5)
    else:
        para(d, tr("no_security", lang), indent=True)

    para(d, tr("sec_4", lang), bold=True)
    para(d, tr("conclusion", lang), bold=True)
    for text in dm.conclusion(report, lang):
        para(d, f"- {text}", align=justify, indent=True)
    para(d, tr("recommend", lang), bold=True)
    for text in doc.recommendations or (dm.DOTS * 3,):
        para(d, f"- {text}", align=justify, indent=True)

    foot = d.add_table(rows=1, cols=2)
    left, right = foot.rows[0].cells
    left.text = right.text = ""
    p = left.paragraphs[0]
    run = p.add_run(f"{tr('copies', lang)}:")
    run.bold, run.italic = True, True
    run.font.size = Pt(12)
    for line in [f"- {tr('as_above', lang)};"] + [f"- {c};" for c in doc.copies] + [f"- {tr('archive', lang)}."]:
        left.add_paragraph().add_run(line).font.size = Pt(11)
    if doc.prepared_by:
        left.add_paragraph()
        left.add_paragraph().add_run(tr("prepared_by", lang)).bold = True
        left.add_paragraph().add_run(doc.prepared_by)
    lines = ([(doc.signer_authority.upper(), True, False)] if doc.signer_authority else []) + [
        ((doc.signer_title or dots).upper(), True, False), (tr("signer_sign", lang), False, True),
        ("", False, False), ("", False, False), ("", False, False), (doc.signer_name or dots, True, False)]
    for k, (text, bold, italic) in enumerate(lines):
        p = right.paragraphs[0] if k == 0 else right.add_paragraph()
        p.alignment = centre
        run = p.add_run(text)
        run.bold, run.italic = bold, italic
    buf = io.BytesIO()
    d.core_properties.title = f"{tr('doc_kind', lang)} — {h.event or h.site}"
    d.core_properties.author = doc.issuer or "netwatch"
    d.save(buf)
    return buf.getvalue()
