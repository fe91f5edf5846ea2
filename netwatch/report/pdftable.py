"""A lean table flowable for long PDF lists: plain text cells drawn in one text object per page."""

from __future__ import annotations

import unicodedata
from typing import Any, Sequence

from reportlab.lib.colors import Color, HexColor
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Flowable

# reportlab's Table lays out and draws every cell through several layers of Python; 8,000
# outages and 1,000 systems would take seconds. This draws the same grid with a fraction of the calls.
PAD = 2.0
GRID = HexColor("#999999")
HEAD_FILL = HexColor("#e3e9f2")


def fit(text: str, width: float, font: str, size: float) -> str:
    """Cut text with an ellipsis so it fits the width (cheap length estimate first).

    Text is composed (NFC) first: the fonts have precomposed Vietnamese letters, while a combining
    accent typed by some editors would be drawn beside its letter (no shaping here).
    """
    text = unicodedata.normalize("NFC", text)
    if len(text) * size * 0.55 <= width:
        return text
    if stringWidth(text, font, size) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if stringWidth(text[:mid] + "…", font, size) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…"


def split_words(text: str, width: float, font: str, size: float, max_lines: int) -> list[str]:
    """Wrap at spaces, and break a word wider than the cell (an English heading like "Unreachable" in a narrow
    column) instead of letting it run into the next cell; the last line is cut with an ellipsis if need be."""
    out: list[str] = []
    for line in simpleSplit(unicodedata.normalize("NFC", text), font, size, width) or [""]:
        while stringWidth(line, font, size) > width and len(line) > 1:
            n = len(line) - 1
            while n > 1 and stringWidth(line[:n] + "-", font, size) > width:
                n -= 1
            out.append(line[:n] + "-")
            line = line[n:]
        out.append(line)
    if len(out) > max_lines:
        out = out[:max_lines - 1] + [fit(" ".join(out[max_lines - 1:]), width, font, size)]
    return out


class FastTable(Flowable):  # type: ignore[misc]  # reportlab ships no type hints
    def __init__(self, head: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float],
                 font: str = "NWC", bold: str = "NWC-Bold", size: float = 7.0,
                 fills: dict[tuple[int, int], Color] | None = None, wrap: Sequence[int] = (),
                 max_lines: int = 3, _prepared: tuple[Any, ...] | None = None) -> None:
        super().__init__()
        self.widths = list(widths)
        self.font, self.bold, self.size = font, bold, size
        self.leading = size * 1.22
        if _prepared is not None:
            self.head_lines, self.cells, self.fills, self.row_h = _prepared
        else:
            inner = [w - 2 * PAD for w in self.widths]
            self.head_lines = [split_words(h, w, bold, size, 3) for h, w in zip(head, inner)]
            self.cells = []
            for row in rows:
                cells = []
                for c, (text, w) in enumerate(zip(row, inner)):
                    if c in wrap:
                        lines = simpleSplit(unicodedata.normalize("NFC", text), font, size, w) or [""]
                    else:
                        lines = str(text).split("\n")
                    cells.append([fit(line, w, font, size) for line in lines[:max_lines]])
                self.cells.append(cells)
            self.fills = dict(fills or {})
            self.row_h = [max(map(len, cells)) * self.leading + 2 * PAD for cells in self.cells]
        self.head_h = max(len(x) for x in self.head_lines) * self.leading + 2 * PAD
        self.total_h = self.head_h + sum(self.row_h)

    def _part(self, start: int, end: int) -> "FastTable":
        fills = {(r - start, c): v for (r, c), v in self.fills.items() if start <= r < end}
        return FastTable((), (), self.widths, self.font, self.bold, self.size,
                         _prepared=(self.head_lines, self.cells[start:end], fills, self.row_h[start:end]))

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        self.width = sum(self.widths)
        self.height = self.total_h
        return self.width, self.height

    def split(self, avail_width: float, avail_height: float) -> list[Flowable]:
        used = self.head_h
        n = 0
        while n < len(self.row_h) and used + self.row_h[n] <= avail_height:
            used += self.row_h[n]
            n += 1
        if n == 0:
            return []
        return [self._part(0, n), self._part(n, len(self.cells))]

    def draw(self) -> None:
        canv = self.canv
        total_w = sum(self.widths)
        xs = [0.0]
        for w in self.widths:
            xs.append(xs[-1] + w)
        top = self.head_h + sum(self.row_h)
        ys = [top, top - self.head_h]
        for h in self.row_h:
            ys.append(ys[-1] - h)
        canv.saveState()
        canv.setFillColor(HEAD_FILL)
        canv.rect(0, ys[1], total_w, self.head_h, stroke=0, fill=1)
        for (r, c), colour in self.fills.items():
            canv.setFillColor(colour)
            canv.rect(xs[c], ys[r + 2], self.widths[c], self.row_h[r], stroke=0, fill=1)
        canv.setStrokeColor(GRID)
        canv.setLineWidth(0.25)
        path = canv.beginPath()
        for y in ys:
            path.moveTo(0, y)
            path.lineTo(total_w, y)
        for x in xs:
            path.moveTo(x, ys[0])
            path.lineTo(x, ys[-1])
        canv.drawPath(path, stroke=1, fill=0)
        canv.setFillColor(HexColor("#000000"))
        text = canv.beginText()
        text.setFont(self.bold, self.size, self.leading)
        for c, lines in enumerate(self.head_lines):
            text.setTextOrigin(xs[c] + PAD, ys[0] - PAD - self.size)
            for line in lines:
                text.textLine(line)
        text.setFont(self.font, self.size, self.leading)
        for r, cells in enumerate(self.cells):
            y = ys[r + 1] - PAD - self.size
            for c, lines in enumerate(cells):
                if not lines or lines == [""]:
                    continue
                text.setTextOrigin(xs[c] + PAD, y)
                for line in lines:
                    text.textLine(line)
        canv.drawText(text)
        canv.restoreState()
