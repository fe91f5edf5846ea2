"""Reads the history store (read-only) and the config into a `History` for the report maths."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from netwatch.cluster.slots import slot_of
from netwatch.config import Config
from netwatch.model import State
from netwatch.report.summary import (AuditRow, CheckInfo, EventRow, History, Incident, Latency, Page, Period)
from netwatch.report.timeline import Change, Coverage, LeaseEvent, lease_spans, to_ms
from netwatch.store.db import DB_ERRORS
from netwatch.store.reports import ReportReader
from netwatch.store.rollup import BUCKET_SECONDS, decode_hist

# Transitions older than this before the window are not read one by one; the last one before it
# still anchors each check's state, so only the start of a very old ongoing outage is approximated.
LOOKBACK_SECONDS = 30 * 86400.0
# The latency-over-time chart has at most this many points per line.
MAX_SLOTS = 180
ROLLUP_WORKERS = 2

Progress = Callable[[str, int, int], None]


class ReportError(Exception):
    """The report cannot be made (no store, bad window, nothing selected)."""


@dataclass(frozen=True)
class Scope:
    from_seconds: float
    to_seconds: float
    periods: tuple[Period, ...]
    zones: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    recorded_window: bool = False   # chosen as the whole recorded history (no phases, no --from)


def recorded_span(store: Any) -> tuple[float, float] | None:
    """First and last instant netwatch was running, from the store's run records; None for an empty store."""
    reader = open_readonly(store)
    try:
        return reader.recorded_span()
    except DB_ERRORS as exc:
        raise ReportError(f"cannot read history store {store}: {exc}") from exc
    finally:
        reader.close()


def open_readonly(store: Any) -> ReportReader:
    """`store`: a SQLite path or the config's StoreSpec (a PostgreSQL one too)."""
    path = store if isinstance(store, str) else store.path
    if path is not None and not os.path.exists(path):
        raise ReportError(f"history store {path} does not exist (is `store:` in the config right?)")
    try:
        return ReportReader(store)
    except DB_ERRORS as exc:
        raise ReportError(f"cannot read history store {store}: {_line(exc)}") from None


def _line(exc: BaseException) -> str:
    # A StoreError already names the store and never holds a password; keep only its reason.
    text = " ".join(str(exc).split())
    return text.split(": ", 1)[1] if text.startswith(("cannot open history store", "history store")) else text


def collect(config: Config, store: Any, scope: Scope, progress: Progress | None = None) -> History:
    reader = open_readonly(store)
    try:
        return _collect(reader, config, scope, progress or (lambda *_: None))
    except DB_ERRORS as exc:
        raise ReportError(f"cannot read history store {store}: {_line(exc)}") from None
    finally:
        reader.close()


def _collect(conn: ReportReader, config: Config, scope: Scope, progress: Progress) -> History:
    tables = conn.tables
    checks = _checks(conn, config, scope)
    if not checks:
        raise ReportError("no check matches the chosen zone/target")
    wanted = {c.id for c in checks}
    changes = _changes(conn, scope.from_seconds - LOOKBACK_SECONDS, wanted, config.redact)
    runs = conn.runs(scope.from_seconds, scope.to_seconds)
    coverage = Coverage((to_ms(a), to_ms(b)) for a, b in runs)
    history = History(
        site=config.site.name, timezone=config.site.timezone, event=config.event.name,
        from_ms=to_ms(scope.from_seconds), to_ms=to_ms(scope.to_seconds), periods=list(scope.periods),
        zone_names={z.id: z.name or z.id for z in config.zones}, checks=checks, changes=changes,
        coverage=coverage, zone_sla_percent=dict(config.report.zones),
        default_sla_percent=config.report.sla_target, document=config.report.document,
        recorded_window=scope.recorded_window)
    history.check_coverage = _lease_coverage(conn, config, checks, coverage, history.to_ms)
    _rollups(conn, history, progress)
    targets = {c.target for c in checks}
    filtered = bool(scope.zones or scope.targets)
    history.events = [
        EventRow(to_ms(ts), cid, tid, kind, config.redact(str(summary)))
        for ts, cid, tid, kind, summary in conn.events(scope.from_seconds, scope.to_seconds)
        if (cid in wanted or tid in targets or (not filtered and cid is None))]
    if {"incidents", "outbox"} <= tables:
        history.paging_tables = True
        history.incidents = _incidents(conn, config, scope, wanted, targets, "incident_checks" in tables)
    history.audit = _audit(conn, config, scope, targets if filtered else None)
    return history


def _lease_coverage(conn: ReportReader, config: Config, checks: Sequence[CheckInfo], runs: Coverage,
                    end_ms: int) -> dict[str, Coverage]:
    """Cluster mode: per check, the time netwatch ran AND a lease of one of its (check, site) slots was live.

    A check without `vantage` is probed from every site, so any site's lease covers it; a voted check
    is covered while one of its vantages held its slot (too few fresh votes is an UNKNOWN transition).
    """
    found = conn.lease_history()
    if found is None:
        return {}
    slots, rows, live = found
    events = [LeaseEvent(str(site), int(slot), node, to_ms(at), to_ms(prev) if prev is not None else None)
              for site, slot, node, at, prev in rows]
    expires = {(str(site), int(slot)): (to_ms(e) if e is not None else None) for site, slot, e in live}
    spans = lease_spans(events, expires, end_ms)
    sites = sorted({site for site, _ in spans} | set(config.cluster.sites if config.cluster is not None else ()))
    vantage = {c.id: c.vantage for c in config.checks}
    out = {}
    for c in checks:
        if c.id not in vantage:
            continue   # a derived check (SNMP interface): its parent's slot is not known here
        check_sites = vantage[c.id] or sites
        lease = Coverage(span for site in check_sites
                         for span in spans.get((site, slot_of(c.id, site, slots)), ()))
        out[c.id] = runs.intersect(lease)
    return out


def _audit(conn: ReportReader, config: Config, scope: Scope, targets: set[str] | None) -> list[AuditRow]:
    """The operators' log, plus baseline approvals and config freezes kept in their own tables."""
    window = (scope.from_seconds, scope.to_seconds)
    rows: list[AuditRow] = []
    rows += [AuditRow(to_ms(ts), str(who), str(action), config.redact(str(what)), str(source))
             for ts, who, action, what, source in conn.audit(*window)]
    rows += [AuditRow(to_ms(ts), str(who or ""), "baseline_approve", config.redact(f"{tid} {url}"), "baselines")
             for tid, url, ts, who in conn.baseline_approvals(*window)
             if targets is None or tid in targets]
    rows += [AuditRow(to_ms(ts), "", "config_freeze" if version is not None else "config_unfreeze",
                      config.redact(f"{tid}: {reason}"), "config_freezes")
             for tid, ts, version, reason in conn.config_freezes(*window)
             if targets is None or tid in targets]
    return sorted(rows, key=lambda a: (a.at_ms, a.source, a.action, a.what))


def _checks(conn: ReportReader, config: Config, scope: Scope) -> list[CheckInfo]:
    """Configured checks, plus derived ones (SNMP interfaces) seen in history, in scope."""
    rs = config.report
    by_target = {t.id: t for t in config.targets}

    def in_scope(target_id: str, zone: str) -> bool:
        return ((not scope.targets or target_id in scope.targets) and (not scope.zones or zone in scope.zones))

    def info(check_id: str, target_id: str, kind: str, derived: bool) -> CheckInfo:
        t = by_target.get(target_id)
        zone = t.zone if t is not None else ""
        target_pct = rs.checks.get(check_id, rs.zones.get(zone, rs.sla_target))
        return CheckInfo(check_id, target_id, (t.name if t is not None else "") or target_id, zone, kind,
                         float(target_pct), derived)

    out = {c.id: info(c.id, c.target.id, c.kind, False) for c in config.checks if in_scope(c.target.id, c.target.zone)}
    configured = {c.id for c in config.checks}
    # A derived check (`<target>/if/<name>`) takes its kind from the target's check that yields children.
    parent_kind: dict[str, str] = {}
    for c in config.checks:
        if parent_kind.get(c.target.id) != "snmp":
            parent_kind[c.target.id] = c.kind
    for check_id, target_id in conn.transition_checks():
        if check_id in configured or target_id not in by_target or not check_id.startswith(f"{target_id}/"):
            continue
        if in_scope(target_id, by_target[target_id].zone):
            out[check_id] = info(check_id, target_id, parent_kind.get(target_id, ""), True)
    return sorted(out.values(), key=lambda c: (c.zone, c.target, c.id))


def _changes(conn: ReportReader, since: float, wanted: set[str],
             redact: Callable[[str], str]) -> dict[str, list[Change]]:
    out: dict[str, list[Change]] = {}
    for cid, ts, since_s, to_state, error, detail, cause in conn.transitions_since(since):
        if cid not in wanted:
            continue
        try:
            state = State(to_state)
        except ValueError:
            state = State.UNKNOWN
        out.setdefault(cid, []).append(Change(to_ms(since_s), to_ms(ts), state, error, redact(detail or ""),
                                              cause))
    return out


def _pieces(periods: Sequence[Period]) -> list[tuple[int, int, list[str]]]:
    """Cut the periods into disjoint pieces, each with the ids of the periods that contain it."""
    cuts = sorted({p.start_ms for p in periods} | {p.end_ms for p in periods})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        ids = [p.id for p in periods if p.start_ms <= a and b <= p.end_ms]
        if ids:
            out.append((a, b, ids))
    return out


def _rollups(reader: ReportReader, h: History, progress: Progress) -> None:
    """Latency per check and period, and latency over time per (kind, zone), from 5-minute rollups.

    One range query per check and piece, grouped by histogram text in the database: the rollups of
    30 days of 1,000 checks are 8.6 M rows, too many to bring into Python one by one.
    Rollups are attributed to a period by their bucket start.
    """
    pieces = _pieces(h.periods)
    span_ms = h.to_ms - h.from_ms
    slot_ms = int(max(BUCKET_SECONDS, -(-span_ms // MAX_SLOTS // 300_000) * BUCKET_SECONDS) * 1000)
    slot_ms = max(slot_ms, 300_000)
    h.slot_ms = slot_ms
    first_slot = h.from_ms - h.from_ms % slot_ms
    slots = [(s / 1000, (s + slot_ms) / 1000) for s in range(first_slot, h.to_ms, slot_ms)]
    lock = threading.Lock()
    done = [0]
    series: dict[str, dict[int, list[float]]] = {}

    cache: dict[str, list[tuple[int, int]]] = {}

    def decoded(text: str) -> list[tuple[int, int]]:
        """The non-zero bins of a histogram text; the same few texts recur across buckets."""
        bins = cache.get(text)
        if bins is None:
            bins = [(i, k) for i, k in enumerate(decode_hist(text)) if k]
            cache[text] = bins
        return bins

    def work(checks: list[CheckInfo]) -> None:
        conn = reader.another()
        try:
            for c in checks:
                lat_by_period: dict[str, Latency] = {}
                for a, b, ids in pieces:
                    rows = conn.latency_histograms(c.id, a / 1000, b / 1000)
                    piece = Latency()
                    for hist_text, rows_n in rows:
                        for i, k in decoded(hist_text):
                            piece.hist[i] += k * rows_n
                            piece.count += k * rows_n
                    for pid in ids:
                        lat_by_period.setdefault(pid, Latency()).merge(piece)
                points = conn.latency_slots(c.id, slots)
                with lock:
                    for pid, lat in lat_by_period.items():
                        if lat.count:
                            h.latency[(c.id, pid)] = lat
                    key = f"{c.kind}|{c.zone}"
                    line = series.setdefault(key, {})
                    for s, total, n in points:
                        if n:
                            acc = line.setdefault(to_ms(s), [0.0, 0])
                            acc[0] += total
                            acc[1] += n
                    done[0] += 1
                    progress("rollups", done[0], len(h.checks))
        finally:
            conn.close()

    chunks = [h.checks[i::ROLLUP_WORKERS] for i in range(ROLLUP_WORKERS)]
    with ThreadPoolExecutor(ROLLUP_WORKERS) as pool:
        for f in [pool.submit(work, chunk) for chunk in chunks if chunk]:
            f.result()
    h.series = {k: [(s, v[0], int(v[1])) for s, v in sorted(line.items())] for k, line in sorted(series.items())}


def _incidents(conn: ReportReader, config: Config, scope: Scope, wanted: set[str],
               targets: set[str], members: bool = False) -> list[Incident]:
    rows = conn.incidents(scope.to_seconds, scope.from_seconds - LOOKBACK_SECONDS)
    if members:
        # A fault's incident also belongs to the other checks folded into it: their outages show its pages and ack.
        by_id = {r[0]: r for r in rows}
        rows = rows + [(iid, cid, *by_id[iid][2:]) for iid, cid in conn.incident_members(list(by_id))
                       if cid != by_id[iid][1]]
    rows = [r for r in rows if r[1] in wanted or (r[1] is None and r[2] in targets)]
    pages: dict[int, list[Page]] = {}
    for inc_id, channel, kind, created_at, sent_at, state in conn.pages_of([r[0] for r in rows]):
        pages.setdefault(inc_id, []).append(
            Page(to_ms(sent_at if sent_at is not None else created_at), str(channel), str(kind), str(state)))
    return [Incident(cid, tid, to_ms(since), None if resolved is None else to_ms(resolved),
                     None if acked is None else to_ms(acked), config.redact(acked_by) if acked_by else None,
                     config.redact(note) if note else None, tuple(pages.get(inc_id, ())))
            for inc_id, cid, tid, since, resolved, acked, acked_by, note in rows]


def selected(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({i for i in items if i}))
