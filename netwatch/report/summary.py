"""The report's numbers (pure): per check, zone and phase, built from a collected history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from netwatch.model import State
from netwatch.report.timeline import (Change, Coverage, Outage, Segment, availability, outage_ms_within,
                                      outages, overlaps, segments, state_ms)
from netwatch.store.rollup import BOUNDS_SECONDS, quantile

if TYPE_CHECKING:
    from netwatch.config import ReportDocument

STATES: tuple[State, ...] = (State.UP, State.DEGRADED, State.DOWN, State.UNREACHABLE, State.MAINTENANCE,
                             State.UNKNOWN)


@dataclass(frozen=True)
class Period:
    """A span the report is cut into: an event phase clipped to the window, or the whole window."""

    id: str
    name: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class CheckInfo:
    id: str
    target: str
    target_name: str
    zone: str
    kind: str
    sla_target_percent: float
    derived: bool = False


@dataclass
class Latency:
    """A mergeable latency histogram (from rollups)."""

    count: int = 0
    hist: list[int] = field(default_factory=lambda: [0] * (len(BOUNDS_SECONDS) + 1))

    def merge(self, other: "Latency") -> None:
        self.count += other.count
        for i, n in enumerate(other.hist):
            if n:
                self.hist[i] += n

    def p(self, q: float) -> float | None:
        return quantile(self.hist, q) if self.count else None


@dataclass(frozen=True)
class Page:
    """One notification about an incident: which channel, what kind, when it went out."""

    at_ms: int
    channel: str
    kind: str
    state: str


@dataclass(frozen=True)
class Incident:
    check_id: str | None
    target_id: str | None
    since_ms: int
    resolved_ms: int | None
    acked_ms: int | None
    acked_by: str | None
    ack_note: str | None
    pages: tuple[Page, ...] = ()


@dataclass(frozen=True)
class EventRow:
    at_ms: int
    check_id: str | None
    target_id: str | None
    kind: str
    summary: str


@dataclass(frozen=True)
class AuditRow:
    at_ms: int
    who: str
    action: str
    what: str
    source: str


@dataclass
class History:
    """Everything the report needs, read from the store and config (see collect.py)."""

    site: str
    timezone: str
    event: str
    from_ms: int
    to_ms: int
    periods: list[Period]
    zone_names: dict[str, str]
    checks: list[CheckInfo]
    changes: dict[str, list[Change]]
    coverage: Coverage
    latency: dict[tuple[str, str], Latency] = field(default_factory=dict)
    # "kind|zone" -> [(slot start, latency sum, latency count)], slot_ms apart
    series: dict[str, list[tuple[int, float, int]]] = field(default_factory=dict)
    slot_ms: int = 300_000
    events: list[EventRow] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    audit: list[AuditRow] = field(default_factory=list)
    zone_sla_percent: dict[str, float] = field(default_factory=dict)
    default_sla_percent: float = 99.9
    paging_tables: bool = False
    document: "ReportDocument | None" = None   # issuer, number, recipients, signer (None: placeholders)
    recorded_window: bool = False              # no phase and no --from: the window is the whole recorded history
    # Cluster mode: per check, when netwatch ran AND a lease of its slot was live; time outside is unknown,
    # never up. Checks not listed use `coverage`.
    check_coverage: dict[str, Coverage] = field(default_factory=dict)


@dataclass
class Numbers:
    """Time per state and what follows from it, for one check/zone/phase in one period."""

    ms: dict[State, int]
    sla_target_percent: float | None
    outages: int = 0
    outage_ms: int = 0
    longest_ms: int = 0
    mttr_ms: int | None = None
    mtta_ms: int | None = None
    latency: Latency | None = None

    @property
    def availability(self) -> float | None:
        return availability(self.ms)

    @property
    def window_ms(self) -> int:
        return sum(self.ms.values())

    @property
    def sla_met(self) -> bool | None:
        a = self.availability
        if a is None or self.sla_target_percent is None:
            return None
        return a * 100 >= self.sla_target_percent - 1e-9


@dataclass(frozen=True)
class OutageRow:
    check: CheckInfo
    start_ms: int
    end_ms: int | None
    duration_ms: int          # first failing result to first good result (to the window end if ongoing)
    error: str | None
    detail: str
    cause: str | None
    states: tuple[State, ...]
    pages: tuple[Page, ...]
    acked_ms: int | None
    acked_by: str | None
    ack_note: str | None


@dataclass
class CheckRow:
    check: CheckInfo
    period: Period
    numbers: Numbers
    outages: list[tuple[OutageRow, int]]   # each with its known down/unreachable time in the period


@dataclass
class GroupRow:
    key: str                  # zone id, or "" for all checks
    name: str
    period: Period
    numbers: Numbers
    checks: int
    checks_meeting_sla: int
    checks_without_data: int


@dataclass
class Report:
    history: History
    rows: list[CheckRow]
    zones: list[GroupRow]
    phases: list[GroupRow]
    outages: list[OutageRow]
    gaps: list[tuple[int, int]]


def build(history: History, progress: Callable[[int, int], None] | None = None) -> Report:
    """Compute every number of the report; deterministic for a given history."""
    h = history
    rows: list[CheckRow] = []
    all_outages: list[OutageRow] = []
    incidents = _index_incidents(h.incidents)
    for n, info in enumerate(h.checks):
        segs = segments(h.changes.get(info.id, []))
        found = [o for o in outages(segs) if overlaps(o.start_ms, o.end_ms, h.from_ms, h.to_ms)]
        outage_rows = [_outage_row(info, o, incidents, h.to_ms) for o in found]
        all_outages.extend(outage_rows)
        for period in h.periods:
            rows.append(_check_row(info, period, segs, found, outage_rows, h))
        if progress is not None:
            progress(n + 1, len(h.checks))
    all_outages.sort(key=lambda o: (o.start_ms, o.check.id))
    zones = []
    zone_ids = sorted({c.zone for c in h.checks})
    for zone in zone_ids:
        target = h.zone_sla_percent.get(zone, h.default_sla_percent)
        for period in h.periods:
            members = [r for r in rows if r.check.zone == zone and r.period.id == period.id]
            zones.append(_group(zone, h.zone_names.get(zone, zone), period, members, target))
    phases = [_group("", "", period, [r for r in rows if r.period.id == period.id], h.default_sla_percent)
              for period in h.periods]
    return Report(h, rows, zones, phases, all_outages, h.coverage.gaps(h.from_ms, h.to_ms))


def _check_row(info: CheckInfo, period: Period, segs: Sequence[Segment], found: Sequence[Outage],
               outage_rows: Sequence[OutageRow], h: History) -> CheckRow:
    a, b = period.start_ms, period.end_ms
    coverage = h.check_coverage.get(info.id, h.coverage)
    ms = state_ms(segs, coverage, a, b)
    mine: list[tuple[OutageRow, int]] = []
    for o, row in zip(found, outage_rows):
        if overlaps(o.start_ms, o.end_ms, a, b):
            mine.append((row, outage_ms_within(o, coverage, a, b)))
    repaired = [r.duration_ms for r, _ in mine if r.end_ms is not None and a < r.end_ms <= b]
    acked = [r.acked_ms - r.start_ms for r, _ in mine if r.acked_ms is not None and a <= r.start_ms < b]
    numbers = Numbers(
        ms=ms, sla_target_percent=info.sla_target_percent, outages=len(mine),
        outage_ms=ms[State.DOWN] + ms[State.UNREACHABLE],
        longest_ms=max((w for _, w in mine), default=0),
        mttr_ms=sum(repaired) // len(repaired) if repaired else None,
        mtta_ms=sum(acked) // len(acked) if acked else None,
        latency=h.latency.get((info.id, period.id)))
    return CheckRow(info, period, numbers, mine)


def _group(key: str, name: str, period: Period, members: Sequence[CheckRow], target: float) -> GroupRow:
    ms = {s: 0 for s in State}
    latency = Latency()
    repaired: list[int] = []
    acked: list[int] = []
    outages_n = 0
    longest = 0
    for r in members:
        for s, v in r.numbers.ms.items():
            ms[s] += v
        if r.numbers.latency is not None:
            latency.merge(r.numbers.latency)
        outages_n += r.numbers.outages
        longest = max(longest, r.numbers.longest_ms)
        for o, _ in r.outages:
            if o.end_ms is not None and period.start_ms < o.end_ms <= period.end_ms:
                repaired.append(o.duration_ms)
            if o.acked_ms is not None and period.start_ms <= o.start_ms < period.end_ms:
                acked.append(o.acked_ms - o.start_ms)
    numbers = Numbers(ms=ms, sla_target_percent=target, outages=outages_n,
                      outage_ms=ms[State.DOWN] + ms[State.UNREACHABLE], longest_ms=longest,
                      mttr_ms=sum(repaired) // len(repaired) if repaired else None,
                      mtta_ms=sum(acked) // len(acked) if acked else None,
                      latency=latency if latency.count else None)
    return GroupRow(key, name, period, numbers, len(members),
                    sum(1 for r in members if r.numbers.sla_met),
                    sum(1 for r in members if r.numbers.availability is None))


def _index_incidents(incidents: Sequence[Incident]) -> dict[str, list[Incident]]:
    out: dict[str, list[Incident]] = {}
    for inc in incidents:
        for key in (inc.check_id, f"target:{inc.target_id}" if inc.target_id and not inc.check_id else None):
            if key:
                out.setdefault(key, []).append(inc)
    return out


def _outage_row(info: CheckInfo, o: Outage, incidents: Mapping[str, list[Incident]], to_ms: int) -> OutageRow:
    """Join an outage with the incidents that paged about it (same check, overlapping in time)."""
    mine = [inc for inc in incidents.get(info.id, []) + incidents.get(f"target:{info.target}", [])
            if overlaps(inc.since_ms, inc.resolved_ms, o.start_ms, o.end_ms if o.end_ms is not None else 2 ** 62)
            or (o.end_ms is None and inc.resolved_ms is None)]
    mine.sort(key=lambda i: (i.since_ms, i.acked_ms or 0))
    acks = sorted((inc for inc in mine if inc.acked_ms is not None), key=lambda i: i.acked_ms or 0)
    first_ack = acks[0] if acks else None
    pages = tuple(sorted({p for inc in mine for p in inc.pages}, key=lambda p: (p.at_ms, p.channel, p.kind)))
    end = o.end_ms if o.end_ms is not None else max(to_ms, o.start_ms)
    return OutageRow(info, o.start_ms, o.end_ms, end - o.start_ms, o.error, o.detail, o.cause, o.states, pages,
                     first_ack.acked_ms if first_ack else None, first_ack.acked_by if first_ack else None,
                     first_ack.ack_note if first_ack else None)
