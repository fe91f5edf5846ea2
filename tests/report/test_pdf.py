"""The PDF report: A4 pages that poppler renders, with Vietnamese text extracted intact."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from netwatch.config import Config
from netwatch.report.cli import make_report, make_scope, render
from netwatch.report.collect import ReportError
from netwatch.report.pdf import find_fonts
from tests.report.history import venue
from tests.report.test_report import NOW, write_history


@pytest.fixture
def site(tmp_path: Path) -> tuple[Config, Path]:
    config = venue(tmp_path)
    write_history(tmp_path / "history.db")
    return config, tmp_path / "history.db"


def test_pdf_pages_render_with_vietnamese_text(site: tuple[Config, Path], tmp_path: Path,
                                               artifacts_dir: Path) -> None:
    config, store = site
    report = make_report(config, str(store), make_scope(config, "all", None, None, (), (), NOW))
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render(report, "pdf", "vi"))
    (artifacts_dir / "report_vi.pdf").write_bytes(pdf.read_bytes())

    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "A4" in info
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert pages >= 2

    subprocess.run(["pdftoppm", "-r", "50", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == pages and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)

    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    for phrase in ("BÁO CÁO", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                   "Trung tâm Hội nghị tỉnh", "Đại hội đại biểu Đảng bộ tỉnh", "Trước Đại hội",
                   "Nguyễn Văn An", "Khả dụng", "Trang 2", "core/icmp", "Thay đổi cấu hình",
                   "(Ký, ghi rõ họ tên, đóng dấu)", "Nơi nhận", "PHỤ LỤC"):
        assert phrase in text, phrase

    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    dejavu = [line.split() for line in fonts.splitlines() if "DejaVuSans" in line]
    assert dejavu and all(cols[-5] == "yes" for cols in dejavu)   # embedded, so any reader shows the diacritics


def test_english_pdf(site: tuple[Config, Path], tmp_path: Path) -> None:
    config, store = site
    report = make_report(config, str(store), make_scope(config, "during", None, None, (), (), NOW))
    pdf = tmp_path / "en.pdf"
    pdf.write_bytes(render(report, "pdf", "en"))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "REPORT" in text and "I. GENERAL SITUATION" in text and "Trong Đại hội" in text


def test_missing_fonts_give_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="fonts-dejavu-core"):
        find_fonts([str(tmp_path)])


def test_decomposed_vietnamese_is_composed_for_the_pdf(tmp_path: Path) -> None:
    """A venue name typed with combining accents (NFD) still comes out as proper Vietnamese letters."""
    import unicodedata

    config = venue(tmp_path)
    write_history(tmp_path / "history.db")
    report = make_report(config, str(tmp_path / "history.db"), make_scope(config, "all", None, None, (), (), NOW))
    report.history.site = unicodedata.normalize("NFD", "Nhà khách Tỉnh ủy")
    pdf = tmp_path / "nfd.pdf"
    pdf.write_bytes(render(report, "pdf", "vi"))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Nhà khách Tỉnh ủy" in unicodedata.normalize("NFC", text)
    assert unicodedata.normalize("NFD", "Tỉnh") not in text
