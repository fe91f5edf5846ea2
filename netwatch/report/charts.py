"""Chart geometry (pure): shapes in a y-down box, drawn as inline SVG (HTML) or reportlab (PDF)."""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from dataclasses import dataclass
from typing import Union

from netwatch.i18n import Lang
from netwatch.model import State
from netwatch.report.summary import Report
from netwatch.report.texts import latency as fmt_latency
from netwatch.report.texts import number, tr

STATE_COLOURS = {State.UP: "#2e7d32", State.DEGRADED: "#f9a825", State.DOWN: "#c62828",
                 State.UNREACHABLE: "#ef6c00", State.MAINTENANCE: "#1565c0", State.UNKNOWN: "#9e9e9e"}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22", "#7f7f7f")
GRID = "#d0d0d0"
INK = "#222222"


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    title: str = ""


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    stroke: str = GRID
    width: float = 1.0
    dash: bool = False


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    size: float = 9.0
    anchor: str = "start"     # start | middle | end
    fill: str = INK


@dataclass(frozen=True)
class Polyline:
    points: tuple[tuple[float, float], ...]
    stroke: str
    width: float = 1.5


Shape = Union[Rect, Line, Text, Polyline]


@dataclass(frozen=True)
class Chart:
    title: str
    width: float
    height: float
    shapes: tuple[Shape, ...]


def availability_chart(report: Report, lang: Lang, width: float = 720) -> Chart | None:
    """Grouped bars: availability per zone, one bar per phase, with each zone's target as a line."""
    groups = [g for g in report.zones if g.period.id != "all" or len(report.history.periods) == 1]
    if not groups:
        return None
    zones = list(dict.fromkeys(g.key for g in groups))
    periods = list(dict.fromkeys(g.period.id for g in groups))
    names = {g.period.id: g.period.name or tr("window", lang) for g in groups}
    values = [g.numbers.availability for g in groups if g.numbers.availability is not None]
    floor = _floor(min([v * 100 for v in values] + [g.numbers.sla_target_percent or 100 for g in groups]))
    left, top, bottom = 44.0, 30.0, 46.0
    height = 260.0
    plot_h = height - top - bottom
    plot_w = width - left - 10
    shapes: list[Shape] = []
    for k in range(5):
        v = floor + (100 - floor) * k / 4
        y = top + plot_h * (1 - k / 4)
        shapes.append(Line(left, y, width - 10, y))
        shapes.append(Text(left - 4, y + 3, number(v, lang, 2 if 100 - floor < 1 else 1), 8, "end"))
    slot = plot_w / max(1, len(zones))
    bar_w = min(28.0, slot * 0.8 / max(1, len(periods)))
    by_key = {(g.key, g.period.id): g for g in groups}
    for zi, zone in enumerate(zones):
        x0 = left + zi * slot + (slot - bar_w * len(periods)) / 2
        target = None
        for pi, pid in enumerate(periods):
            g = by_key.get((zone, pid))
            if g is None:
                continue
            target = g.numbers.sla_target_percent
            a = g.numbers.availability
            x = x0 + pi * bar_w
            if a is None:
                shapes.append(Text(x + bar_w / 2, top + plot_h - 3, "?", 8, "middle"))
                continue
            h = plot_h * max(0.0, (a * 100 - floor)) / (100 - floor)
            shapes.append(Rect(x + 1, top + plot_h - h, bar_w - 2, h, PALETTE[pi % len(PALETTE)],
                               f"{g.name} · {names[pid]}: {number(a * 100, lang, 3)} %"))
        if target is not None and target >= floor:
            y = top + plot_h * (1 - (target - floor) / (100 - floor))
            shapes.append(Line(x0 - 3, y, x0 + bar_w * len(periods) + 3, y, INK, 1.5, True))
        label = by_key[next(k for k in by_key if k[0] == zone)].name
        shapes.append(Text(left + zi * slot + slot / 2, top + plot_h + 14, _clip(label, int(slot / 5.5)), 8,
                           "middle"))
    for pi, pid in enumerate(periods):
        x = left + pi * 150
        shapes.append(Rect(x, height - 16, 10, 10, PALETTE[pi % len(PALETTE)]))
        shapes.append(Text(x + 14, height - 7, _clip(names[pid], 24), 8))
    shapes.append(Line(width - 170, 12, width - 150, 12, INK, 1.5, True))
    shapes.append(Text(width - 146, 15, tr("sla", lang), 8))
    return Chart(tr("legend_avail", lang), width, height, tuple(shapes))


def systems_chart(systems: list[tuple[str, float, float]], lang: Lang, width: float = 720, limit: int = 15
                  ) -> Chart | None:
    """Horizontal bars for the systems with the lowest availability (name, availability ratio, target percent),
    green when the target is met, red when not, the target as a tick: what a manager reads first."""
    ranked = sorted(systems, key=lambda s: s[1] * 100 - s[2])[:limit]
    if not ranked:
        return None
    floor = _floor(min([a * 100 for _, a, _ in ranked] + [t for _, _, t in ranked]))
    left, top, row_h = 190.0, 22.0, 16.0
    height = top + row_h * len(ranked) + 24
    plot_w = width - left - 60

    def x_of(percent: float) -> float:
        return left + plot_w * max(0.0, percent - floor) / (100 - floor)

    shapes: list[Shape] = []
    for k in range(5):
        v = floor + (100 - floor) * k / 4
        shapes.append(Line(x_of(v), top - 4, x_of(v), top + row_h * len(ranked), GRID))
        shapes.append(Text(x_of(v), height - 8, number(v, lang, 2 if 100 - floor < 1 else 1), 8, "middle"))
    for i, (name, avail, target) in enumerate(ranked):
        y = top + i * row_h
        met = avail * 100 >= target - 1e-9
        shapes.append(Text(left - 6, y + row_h / 2 + 3, _clip(name, 34), 8, "end"))
        shapes.append(Rect(left, y + 3, max(1.0, x_of(avail * 100) - left), row_h - 6,
                           STATE_COLOURS[State.UP if met else State.DOWN], f"{name}: {number(avail * 100, lang, 2)} %"))
        shapes.append(Line(x_of(target), y + 1, x_of(target), y + row_h - 1, INK, 1.5))
        shapes.append(Text(width - 4, y + row_h / 2 + 3, f"{number(avail * 100, lang, 2)} %", 8, "end"))
    shapes.append(Line(left, 8, left, 16, INK, 1.5))
    shapes.append(Text(left + 5, 15, tr("sla", lang), 8))
    return Chart(tr("legend_systems", lang), width, height, tuple(shapes))


@dataclass
class _Mark:
    x0: float
    x1: float
    n: int
    title: str


def timeline_chart(report: Report, lang: Lang, width: float = 720) -> Chart:
    """One row per zone over the window: outages as red/orange marks, monitoring gaps in grey."""
    h = report.history
    tz = zoneinfo.ZoneInfo(h.timezone)
    zones = sorted({c.zone for c in h.checks})
    names = {z: h.zone_names.get(z, z) or "—" for z in zones}
    left, row_h = 130.0, 20.0
    plot_w = width - left - 10
    a, b = h.from_ms, h.to_ms
    labels = phase_labels([(p.name or p.id, left + plot_w * (min(max(p.start_ms, a), b) - a) / max(1, b - a),
                            left + plot_w * (min(max(p.end_ms, a), b) - a) / max(1, b - a))
                           for p in h.periods if p.id != "all"], 8, bounds=(left, width - 2))
    label_rows = max((r for _, _, r in labels), default=0) + 1
    top = 14.0 + 11.0 * label_rows
    height = top + row_h * len(zones) + 34

    def x_of(ms: int) -> float:
        return left + plot_w * (min(max(ms, a), b) - a) / max(1, b - a)

    shapes: list[Shape] = []
    bottom = top + row_h * len(zones)
    for gs, ge in report.gaps:
        shapes.append(Rect(x_of(gs), top, max(1.0, x_of(ge) - x_of(gs)), bottom - top, "#e0e0e0",
                           tr("gaps", lang)))
    for i, z in enumerate(zones):
        y = top + i * row_h
        shapes.append(Line(left, y + row_h, width - 10, y + row_h))
        shapes.append(Text(left - 6, y + row_h / 2 + 3, _clip(names[z], 24), 8, "end"))
    row_of = {z: i for i, z in enumerate(zones)}
    # Marks closer than a pixel merge into one: 8,000 outages over 30 days would otherwise be
    # 8,000 overlapping shapes in the SVG and the PDF.
    marks: dict[tuple[int, str], list[_Mark]] = {}
    for o in sorted(report.outages, key=lambda o: o.start_ms):
        end = o.end_ms if o.end_ms is not None else b
        colour = STATE_COLOURS[State.UNREACHABLE if o.cause else State.DOWN]
        x0, x1 = x_of(o.start_ms), max(x_of(end), x_of(o.start_ms) + 1.5)
        row = marks.setdefault((row_of[o.check.zone], colour), [])
        if row and x0 <= row[-1].x1 + 1.0:
            row[-1].x1 = max(row[-1].x1, x1)
            row[-1].n += 1
        else:
            row.append(_Mark(x0, x1, 1, f"{o.check.id}: {o.error or ''}"))
    for (i, colour), row in sorted(marks.items()):
        for m in row:
            shapes.append(Rect(m.x0, top + i * row_h + 3, m.x1 - m.x0, row_h - 6, colour,
                               m.title if m.n == 1 else f"{m.n} {tr('outages', lang).lower()}"))
    for p in h.periods:
        if p.id == "all":
            continue
        for edge in (p.start_ms, p.end_ms):
            if a < edge < b:
                shapes.append(Line(x_of(edge), top - 4, x_of(edge), bottom, INK, 1, True))

    for text, x, row in labels:
        shapes.append(Text(x, top - 8 - 11 * row, text, 8, "middle"))
    for ms, label in _ticks(a, b, tz, lang):
        shapes.append(Line(x_of(ms), bottom, x_of(ms), bottom + 4, INK))
        shapes.append(Text(x_of(ms), bottom + 14, label, 7.5, "middle"))
    shapes.append(Rect(left, height - 12, 10, 8, STATE_COLOURS[State.DOWN]))
    shapes.append(Text(left + 14, height - 5, tr("outages", lang), 8))
    shapes.append(Rect(left + 110, height - 12, 10, 8, STATE_COLOURS[State.UNREACHABLE]))
    shapes.append(Text(left + 124, height - 5, tr("cause", lang), 8))
    shapes.append(Rect(left + 240, height - 12, 10, 8, "#e0e0e0"))
    shapes.append(Text(left + 254, height - 5, tr("gaps", lang), 8))
    return Chart(tr("timeline", lang), width, height, tuple(shapes))


def latency_charts(report: Report, lang: Lang, width: float = 720) -> list[Chart]:
    """Mean latency over time, one chart per check kind, one line per zone."""
    h = report.history
    tz = zoneinfo.ZoneInfo(h.timezone)
    by_kind: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for key, points in h.series.items():
        kind, zone = key.split("|", 1)
        line = [(s, total / n) for s, total, n in points if n]
        if line:
            by_kind.setdefault(kind, {})[zone] = line
    charts = []
    a, b = h.from_ms, h.to_ms
    for kind, lines in sorted(by_kind.items()):
        left, top, height = 56.0, 14.0, 200.0
        plot_h, plot_w = height - top - 44, width - left - 10
        peak = max(v for line in lines.values() for _, v in line)
        scale = _nice(peak)

        def x_of(ms: int) -> float:
            return left + plot_w * (min(max(ms, a), b) - a) / max(1, b - a)

        shapes: list[Shape] = []
        for k in range(5):
            y = top + plot_h * (1 - k / 4)
            shapes.append(Line(left, y, width - 10, y))
            shapes.append(Text(left - 4, y + 3, fmt_latency(scale * k / 4, lang), 7.5, "end"))
        for ms, label in _ticks(a, b, tz, lang):
            shapes.append(Text(x_of(ms), top + plot_h + 12, label, 7.5, "middle"))
        for i, (zone, line) in enumerate(sorted(lines.items())):
            colour = PALETTE[i % len(PALETTE)]
            pts = tuple((round(x_of(s + h.slot_ms // 2), 1), round(top + plot_h * (1 - min(v, scale) / scale), 1))
                        for s, v in line)
            shapes.append(Polyline(pts, colour))
            x = left + i * 130
            shapes.append(Rect(x, height - 14, 10, 8, colour))
            shapes.append(Text(x + 14, height - 7, _clip(h.zone_names.get(zone, zone) or "—", 22), 8))
        charts.append(Chart(f"{tr('mean_latency', lang)} — {kind}", width, height, tuple(shapes)))
    return charts


# DejaVu Sans is about this wide per character, in units of the font size (an estimate that errs wide).
CHAR_EM = 0.62


def phase_labels(spans: list[tuple[str, float, float]], size: float, max_rows: int = 3,
                 bounds: tuple[float, float] = (float("-inf"), float("inf"))) -> list[tuple[str, float, int]]:
    """Place phase names over their spans without overlap: each goes on the lowest free row, kept inside
    `bounds` (a phase at the window's edge does not run off the chart); a name that fits no row is shortened
    to its span. Returns (text, centre x, row) — row 0 is nearest the plot."""
    placed: list[list[tuple[float, float]]] = [[] for _ in range(max_rows)]
    out = []
    for name, x0, x1 in spans:
        text = name
        for attempt in range(2):
            half = len(text) * size * CHAR_EM / 2
            centre = min(max((x0 + x1) / 2, bounds[0] + half), bounds[1] - half)
            row = next((r for r in range(max_rows)
                        if all(centre + half + 3 <= a or centre - half - 3 >= b for a, b in placed[r])), None)
            if row is not None:
                placed[row].append((centre - half, centre + half))
                out.append((text, centre, row))
                break
            if attempt == 0:   # no free row: shorten to the span's own width, then try again
                text = _clip(name, max(1, int((x1 - x0) / (size * CHAR_EM))))
    return out


def _floor(lowest_percent: float) -> float:
    for f in (99.9, 99.5, 99.0, 98.0, 95.0, 90.0, 80.0, 50.0):
        if lowest_percent >= f + 0.02 * (100 - f):
            return f
    return 0.0


def _nice(value: float) -> float:
    if value <= 0:
        return 1.0
    base = 10.0 ** math.floor(math.log10(value))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * base >= value:
            return m * base
    return 10.0 * base


def _ticks(a: int, b: int, tz: zoneinfo.ZoneInfo, lang: Lang, count: int = 6) -> list[tuple[int, str]]:
    span = b - a
    step = span / count
    out = []
    for i in range(count + 1):
        ms = int(a + i * step)
        d = dt.datetime.fromtimestamp(ms / 1000, tz)
        label = d.strftime("%d/%m %H:%M" if lang == "vi" else "%m-%d %H:%M") if span > 86400_000 else d.strftime("%H:%M")
        out.append((ms, label))
    return out


def _clip(text: str, n: int) -> str:
    n = max(n, 4)
    return text if len(text) <= n else text[:n - 1] + "…"


def all_charts(report: Report, lang: Lang) -> list[Chart]:
    charts = [c for c in (availability_chart(report, lang), timeline_chart(report, lang)) if c is not None]
    return charts + latency_charts(report, lang)
