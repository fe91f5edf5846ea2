"""The báo cáo (NĐ 30/2020 layout) in PDF, HTML and .docx, both languages: its parts, one row per incident,
security apart, "no data", the default window, and PDF pages where no text overflows into another."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import subprocess
import zoneinfo
from pathlib import Path

import pytest

from netwatch import cli
from netwatch.config import Config, loads
from netwatch.model import State
from netwatch.report import document as dm
from netwatch.report.charts import phase_labels
from netwatch.report.cli import make_report, make_scope, render
from tests.report.history import T0, VENUE, Builder
from tests.report.test_report import NOW, write_history

TZ = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")
DOCUMENT = """
  document:
    superior: "UBND tỉnh Phú Thọ"
    issuer: "Sở Thông tin và Truyền thông"
    number: "125"
    symbol: "BC-STTTT"
    place: "Phú Thọ"
    recipients: ["Ủy ban nhân dân tỉnh Phú Thọ"]
    copies: ["Ban Tổ chức Đại hội", "Giám đốc Sở"]
    signer_authority: "KT. GIÁM ĐỐC"
    signer_title: "PHÓ GIÁM ĐỐC"
    signer_name: "Nguyễn Thị Hoa"
    prepared_by: "Trần Văn Bình"
    recommendations: ["Bổ sung đường truyền dự phòng cho Trung tâm dữ liệu."]
"""


def make_venue(tmp: Path, document: bool = False, phases: bool = True) -> Config:
    """The report tests' venue, plus a defacement check on the portal; optionally document settings."""
    text = VENUE.format(store=tmp / "history.db").replace(
        '      - {kind: http, url: "http://127.0.0.3/"}',
        '      - {kind: http, url: "http://127.0.0.3/"}\n      - {kind: web_integrity, url: "http://127.0.0.3/"}')
    if document:
        text = text.replace("report:\n", "report:" + DOCUMENT, 1)
    if not phases:
        text = re.sub(r"event:\n(  .*\n)+", "", text)
    (tmp / "venue.yaml").write_text(text, encoding="utf-8")
    return loads(text, str(tmp / "venue.yaml"))


def write_defacement(path: Path) -> None:
    """The sample history plus one defacement: http and web_integrity fail together for one portal fault."""
    write_history(path)
    b = Builder(path)
    b.change("portal/web_integrity", "portal", 10, State.UP)
    b.change("portal/web_integrity", "portal", 7010, State.DOWN, decided=7070, error="forbidden_content",
             detail="forbidden text 'hacked by' on the page", from_state=State.UP)
    b.incident("portal/web_integrity", "portal", 7010, 7070, None, acked=7100, acked_by="Lê Thu",
               ack_note="khôi phục trang từ bản sao lưu", category="security")
    b.close()


@pytest.fixture
def site(tmp_path: Path) -> Config:
    config = make_venue(tmp_path)
    write_defacement(tmp_path / "history.db")
    return config


def pdf_words(pdf: Path) -> list[tuple[int, float, float, float, float, float, float, str]]:
    """Every word poppler finds: (page, page width, page height, xmin, ymin, xmax, ymax, text)."""
    xml = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, text=True,
                         check=True).stdout
    out = []
    for n, page in enumerate(re.findall(r"<page (.*?)</page>", xml, re.S)):
        w, h = (float(x) for x in re.search(r'width="([\d.]+)" height="([\d.]+)"', page).groups())  # type: ignore[union-attr]
        for x0, y0, x1, y1, text in re.findall(
                r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', page):
            out.append((n, w, h, float(x0), float(y0), float(x1), float(y1), text))
    return out


def overlaps(words: list[tuple[int, float, float, float, float, float, float, str]]) -> list[str]:
    """Words drawn over each other (text running out of its cell into the next, labels on labels)."""
    found = []
    by_page: dict[int, list[tuple[float, float, float, float, str]]] = {}
    for page, _, _, x0, y0, x1, y1, text in words:
        by_page.setdefault(page, []).append((x0, y0, x1, y1, text))
    for page, items in by_page.items():
        items.sort()
        for i, (ax0, ay0, ax1, ay1, at) in enumerate(items):
            for bx0, by0, bx1, by1, bt in items[i + 1:]:
                if bx0 >= ax1 - 0.5:
                    break
                dx = min(ax1, bx1) - max(ax0, bx0)
                dy = min(ay1, by1) - max(ay0, by0)
                if dx > 0.8 and dy > 0.3 * min(ay1 - ay0, by1 - by0):
                    found.append(f"page {page + 1}: {at!r} over {bt!r}")
    return found


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_pdf_is_a_bao_cao_and_no_text_overflows(site: Config, tmp_path: Path, lang: str, artifacts_dir: Path) -> None:
    report = make_report(site, str(tmp_path / "history.db"), make_scope(site, "all", None, None, (), (), NOW))
    pdf = tmp_path / f"report-{lang}.pdf"
    pdf.write_bytes(render(report, "pdf", lang))  # type: ignore[arg-type]
    (artifacts_dir / f"bao-cao-{lang}.pdf").write_bytes(pdf.read_bytes())
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(tmp_path / "page")], check=True)
    assert sorted(tmp_path.glob("page-*.png"))
    words = pdf_words(pdf)
    assert len(words) > 300
    assert overlaps(words) == []
    for page, w, h, x0, y0, x1, y1, text in words:
        assert 0 <= x0 and x1 <= w and 0 <= y0 and y1 <= h, (page, text)
    # -raw keeps each table cell's lines together; then a phrase wrapped inside its cell still reads as one
    text = " ".join(subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    if lang == "vi":
        phrases = ["CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc", "Số: …/BC-…",
                   "Kính gửi: …", "BÁO CÁO", "I. TÌNH HÌNH CHUNG", "II. KẾT QUẢ BẢO ĐẢM", "III. SỰ CỐ VÀ XỬ LÝ",
                   "IV. ĐÁNH GIÁ, KIẾN NGHỊ", "1. Kết luận", "Nơi nhận:", "Như trên;", "Lưu: VT.",
                   "(Ký, ghi rõ họ tên, đóng dấu)", "2. Sự cố an ninh", "trang chứa nội dung cấm",
                   "khôi phục trang từ bản sao lưu", "Lê Thu", "Cổng thông tin điện tử",
                   "Có 1 sự cố an ninh", "PHỤ LỤC", "Duyệt trang gốc", "Mở khoá cấu hình", "Xác nhận sự cố"]
        assert re.search(r"……, ngày \d\d tháng (0[12]|[3-9]|1[0-2]) năm 20\d\d", text)
    else:
        phrases = ["SOCIALIST REPUBLIC OF VIET NAM", "No.: …/BC-…", "To: …", "REPORT", "I. GENERAL SITUATION",
                   "IV. ASSESSMENT AND RECOMMENDATIONS", "Copies to:", "2. Security incidents",
                   "page contains forbidden content", "1 security incidents", "ANNEX",
                   "Approved a page baseline", "Acknowledged an incident"]
    for phrase in phrases:
        assert phrase in text, phrase
    assert "baseline_approve" not in text and "config_unfreeze" not in text
    # the decimal mark of the language: 99,95 % in Vietnamese, 99.95 % in English
    assert re.search(r"\b\d\d,\d\d %" if lang == "vi" else r"\b\d\d\.\d\d %", text)
    assert not re.search(r"\b\d\d\.\d\d %" if lang == "vi" else r"\b\d\d,\d\d %", text)


def test_one_row_per_incident_and_security_apart(site: Config, tmp_path: Path) -> None:
    report = make_report(site, str(tmp_path / "history.db"), make_scope(site, "all", None, None, (), (), NOW))
    rows = dm.incident_rows(report)
    portal = [r for r in rows if r.target == "portal"]
    # the 7010 defacement and the 7000 timeout overlap: one fault of one target, one row, marked security
    assert [(r.start_ms - int(T0 * 1000), r.checks, r.security) for r in portal] == [
        (2_900_000, ("portal/http",), False),
        (7_000_000, ("portal/http", "portal/web_integrity"), True)]
    merged = portal[1]
    assert merged.error == "forbidden_content" and merged.name == "Cổng thông tin điện tử"
    assert merged.cause("vi") == "trang chứa nội dung cấm" and merged.ack_note == "khôi phục trang từ bản sao lưu"
    assert merged.acked_by == "Lê Thu" and merged.end_ms is None and merged.zone_name == "Trung tâm dữ liệu"
    ap1 = next(r for r in rows if r.target == "ap1")
    assert ap1.cause("vi") == "bị ảnh hưởng do thiết bị cấp trên mất kết nối (Router lõi)"
    assert len(rows) == len(report.outages) - 1
    systems = dm.system_rows(report, "all")
    assert [s.target for s in systems] == ["ap1", "core", "portal"]   # targets, not checks; ports are not systems
    text = " ".join(dm.conclusion(report, "vi"))
    assert "0/3 hệ thống đạt chỉ tiêu" in text and "Có 1 sự cố an ninh: Cổng thông tin điện tử" in text
    assert "dài nhất: Router lõi" in text   # the root fault, not the access point behind it


def test_document_settings_fill_every_part_in_pdf_html_and_docx(tmp_path: Path) -> None:
    config = make_venue(tmp_path, document=True)
    write_defacement(tmp_path / "history.db")
    report = make_report(config, str(tmp_path / "history.db"), make_scope(config, "all", None, None, (), (), NOW))
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render(report, "pdf", "vi"))
    pdf_text = " ".join(subprocess.run(["pdftotext", "-raw", str(pdf), "-"], capture_output=True, text=True,
                                       check=True).stdout.split())
    html = render(report, "html", "vi").decode()
    import docx

    (tmp_path / "r.docx").write_bytes(render(report, "docx", "vi"))
    document = docx.Document(str(tmp_path / "r.docx"))
    docx_text = "\n".join([p.text for p in document.paragraphs] + [c.text for t in document.tables
                                                                   for row in t.rows for c in row.cells])
    today = dt.datetime.now(TZ)
    month = f"{today.month:02d}" if today.month < 3 else str(today.month)
    for phrase in ("UBND TỈNH PHÚ THỌ", "SỞ THÔNG TIN VÀ TRUYỀN THÔNG", "Số: 125/BC-STTTT",
                   f"Phú Thọ, ngày {today.day:02d} tháng {month} năm {today.year}",
                   "Kính gửi: Ủy ban nhân dân tỉnh Phú Thọ", "Ban Tổ chức Đại hội;", "KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC",
                   "Nguyễn Thị Hoa", "Trần Văn Bình", "Bổ sung đường truyền dự phòng cho Trung tâm dữ liệu.",
                   "trang chứa nội dung cấm"):
        assert phrase in pdf_text, phrase
        assert phrase in docx_text, phrase
        assert phrase in html, phrase
    assert overlaps(pdf_words(pdf)) == []


def test_a_window_without_data_says_so(site: Config, tmp_path: Path) -> None:
    # netwatch ran until T0+7800; the window after that has no data at all
    scope = make_scope(site, "all", "2026-11-02T03:00", "2026-11-02T04:00", (), (), NOW)
    report = make_report(site, str(tmp_path / "history.db"), scope)
    html = render(report, "html", "vi").decode()
    assert "Không có dữ liệu" in html and "Không đạt" not in html
    assert dm.conclusion(report, "vi") == [
        "Không có dữ liệu giám sát trong thời gian báo cáo; chưa thể đánh giá mức bảo đảm."]
    assert all(s.met is None for s in dm.system_rows(report, "all"))
    assert all(g.checks_without_data == g.checks for g in report.zones)
    md = render(report, "md", "vi").decode()
    assert "| 0/" not in md and "Không có dữ liệu" in md   # not "0/5 met" for a window with no data


def test_without_phases_the_window_is_the_recorded_history(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    make_venue(tmp_path, phases=False)
    write_defacement(tmp_path / "history.db")
    out = tmp_path / "r.html"
    assert cli.main(["report", "-c", str(tmp_path / "venue.yaml"), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "the window is the recorded history, 2026-11-02T00:00:00+07:00 to 2026-11-02T02:10:00+07:00" in err
    assert "Cửa sổ báo cáo: toàn bộ lịch sử đã ghi (02/11/2026 00:00 – 02/11/2026 02:10)" in out.read_text()


@pytest.mark.parametrize("day, expected", [
    ((2026, 12, 2), "Phú Thọ, ngày 02 tháng 12 năm 2026"),
    ((2026, 2, 15), "Phú Thọ, ngày 15 tháng 02 năm 2026"),
    ((2026, 3, 9), "Phú Thọ, ngày 09 tháng 3 năm 2026"),
])
def test_date_line_follows_nd30(day: tuple[int, int, int], expected: str) -> None:
    ms = int(dt.datetime(*day, 10, 0, tzinfo=TZ).timestamp() * 1000)
    assert dm.date_line("Phú Thọ", ms, TZ, "vi") == expected
    assert dm.date_line("", ms, TZ, "vi").startswith("……, ngày ")
    assert dm.number_line("", "", "vi") == "Số: …/BC-…"


def test_phase_labels_never_overlap_nor_leave_the_chart() -> None:
    spans = [("Trước Đại hội", 130, 136), ("Trong Đại hội", 136, 142), ("Sau Đại hội", 142, 148),
             ("Tổng kết", 148, 700), ("Bế mạc", 708, 710)]
    placed = phase_labels(spans, 8, bounds=(130, 710))
    assert len(placed) == 5
    assert all(130 <= x - len(t) * 8 * 0.62 / 2 and x + len(t) * 8 * 0.62 / 2 <= 710 for t, x, _ in placed)
    boxes = [(row, x - len(t) * 8 * 0.62 / 2, x + len(t) * 8 * 0.62 / 2) for t, x, row in placed]
    for i, (r1, a1, b1) in enumerate(boxes):
        for r2, a2, b2 in boxes[i + 1:]:
            assert r1 != r2 or b1 <= a2 or b2 <= a1


def test_a_check_folded_into_a_fault_shows_that_incident_on_its_outage(site: Config, tmp_path: Path) -> None:
    """One incident per target fault: the http check grouped into the defacement's incident has its ack and pages."""
    with sqlite3.connect(tmp_path / "history.db") as conn:
        (iid,), = conn.execute("SELECT id FROM incidents WHERE check_id='portal/web_integrity'").fetchall()
        conn.execute("INSERT INTO incident_checks (incident_id, check_id, how, joined_at, state) "
                     "VALUES (?, 'portal/http', 'grouped', ?, 'down')", (iid, T0 + 7070))
    report = make_report(site, str(tmp_path / "history.db"), make_scope(site, "all", None, None, (), (), NOW))
    (http,) = [o for o in report.outages if o.check.id == "portal/http" and o.start_ms == int((T0 + 7000) * 1000)]
    assert (http.acked_by, http.ack_note) == ("Lê Thu", "khôi phục trang từ bản sao lưu")
