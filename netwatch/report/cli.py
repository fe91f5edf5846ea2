"""`netwatch report`: the post-event uptime report as PDF, HTML, CSV, JSON or Markdown."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import zoneinfo
from typing import Any, Callable, Sequence

from netwatch.config import Config, load
from netwatch.i18n import Lang
from netwatch.report.collect import ReportError, Scope, collect, selected
from netwatch.report.summary import Period, Report, build
from netwatch.report.timeline import to_ms

FORMATS = ("pdf", "html", "csv", "json", "md")
EXIT_OK, EXIT_CONFIG = 0, 2


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("report", help="write the uptime report (PDF, HTML, CSV, JSON, Markdown)")
    p.add_argument("-c", "--config", required=True, help="venue config file (YAML)")
    p.add_argument("--phase", default="all", help="an event phase id, or 'all' (default)")
    p.add_argument("--from", dest="from_time", metavar="T", help="window start, ISO 8601 (site time zone)")
    p.add_argument("--to", dest="to_time", metavar="T", help="window end, ISO 8601 (default: the phases' end, or now)")
    p.add_argument("--zone", action="append", default=[], metavar="Z", help="only this zone (repeatable)")
    p.add_argument("--target", action="append", default=[], metavar="T", help="only this target (repeatable)")
    p.add_argument("--format", choices=FORMATS, help="default: from the output file's extension, else pdf")
    p.add_argument("--lang", dest="report_lang", choices=["vi", "en"], help="report language (default: vi)")
    p.add_argument("--store", help="history store file (default: `store:` from the config)")
    p.add_argument("-o", "--output", required=True, help="output file, or '-' for standard output (text formats)")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    config = load(args.config)
    lang: Lang = args.report_lang or getattr(args, "lang", None) or "vi"
    fmt = args.format or ("json" if args.output == "-" else _format_of(args.output))
    if args.output == "-" and fmt == "pdf":
        print("netwatch report: a PDF needs an output file (-o report.pdf)", file=sys.stderr)
        return EXIT_CONFIG
    progress = Progress(sys.stderr)
    try:
        scope = make_scope(config, args.phase, args.from_time, args.to_time, args.zone, args.target, time.time())
        report = make_report(config, args.store or config.store, scope, progress)
        data = render(report, fmt, lang, progress)
    except ReportError as exc:
        progress.finish()
        print(f"netwatch report: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    progress.finish()
    write_output(args.output, data)
    return EXIT_OK


def make_report(config: Config, store: Any, scope: Scope,
                progress: Callable[[str, int, int], None] | None = None) -> Report:
    history = collect(config, store, scope, progress)
    return build(history, (lambda done, total: progress("checks", done, total)) if progress else None)


def render(report: Report, fmt: str, lang: Lang, progress: Callable[[str, int, int], None] | None = None) -> bytes:
    if fmt == "json":
        from netwatch.report.csv_json import render_json
        return render_json(report)
    if fmt == "csv":
        from netwatch.report.csv_json import render_csv
        return render_csv(report)
    if fmt == "md":
        from netwatch.report.md import render_md
        return render_md(report, lang)
    if fmt == "html":
        from netwatch.report.html import render_html
        return render_html(report, lang)
    from netwatch.report.pdf import render_pdf
    return render_pdf(report, lang, progress)


def _format_of(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    return {"htm": "html", "markdown": "md"}.get(ext, ext) if ext in (*FORMATS, "htm", "markdown") else "pdf"


def parse_time(text: str, tz: zoneinfo.ZoneInfo, what: str) -> float:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReportError(f"bad {what} time {text!r}: use ISO 8601, e.g. 2026-12-14T07:00") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.timestamp()


def make_scope(config: Config, phase: str, from_time: str | None, to_time: str | None, zones: Sequence[str],
               targets: Sequence[str], now: float) -> Scope:
    """The window and its periods: the chosen phase(s) clipped to --from/--to and to now."""
    tz = config.site.tz
    phases = list(config.event.phases)
    if phase != "all":
        phases = [p for p in phases if p.id == phase]
        if not phases:
            known = ", ".join(p.id for p in config.event.phases) or "none configured"
            raise ReportError(f"unknown phase {phase!r} (phases: {known})")
    start = parse_time(from_time, tz, "--from") if from_time else (phases[0].start if phases else None)
    end = parse_time(to_time, tz, "--to") if to_time else (phases[-1].end if phases else now)
    if start is None:
        raise ReportError("bad window: give --from (and --to), or configure event phases")
    end = min(end, now)
    if end <= start:
        raise ReportError("bad window: it ends before it starts (or starts in the future)")
    for z in zones:
        if z not in {zz.id for zz in config.zones}:
            raise ReportError(f"unknown zone {z!r} (zones: {', '.join(zz.id for zz in config.zones) or 'none'})")
    for t in targets:
        if config.target(t) is None:
            raise ReportError(f"unknown target {t!r}")
    a, b = to_ms(start), to_ms(end)
    periods = [Period(p.id, p.name, max(a, to_ms(p.start)), min(b, to_ms(p.end)))
               for p in phases if to_ms(p.start) < b and to_ms(p.end) > a]
    if len(periods) != 1 or (periods[0].start_ms, periods[0].end_ms) != (a, b):
        periods.append(Period("all", "", a, b))
    return Scope(start, end, tuple(periods), selected(zones), selected(targets))


def write_output(path: str, data: bytes) -> None:
    if path == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".report-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Progress:
    """A one-line progress bar on a terminal; silent when stderr is a file or a pipe."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.last = 0.0
        self.shown = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        width = 30
        filled = width * done // max(total, 1)
        self.stream.write(f"\r{stage:<8} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} ")
        self.stream.flush()
        self.shown = True

    def finish(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
            self.shown = False
