"""A prometheus-client Collector that reads the live view on every scrape (no global metrics)."""

from __future__ import annotations

import asyncio
import functools
import platform
import re
import time
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping, TypeVar

from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily,
                                    Metric)
from prometheus_client.registry import Collector, CollectorRegistry

from netwatch import __version__
from netwatch.clock import RUN_CLOCK
from netwatch.heap import PAUSES, Pauses
from netwatch.live import CheckView, LiveView
from netwatch.model import Result, State, Target
from netwatch.probes import PROBES, SHARED_MEASUREMENTS, ProbeKind
from netwatch.scheduler import LAG_BOUNDS_SECONDS, Scheduler
from netwatch.text import clean as text_clean

if TYPE_CHECKING:
    from netwatch.config import Config

CHECK_LABELS = ["check", "target", "kind"]
_LABEL_RE = re.compile(r"[^a-zA-Z0-9_]")
_MAX_LABEL_VALUE = 200


@functools.lru_cache(maxsize=4096)
def label_name(key: str) -> str:
    """Prometheus label names are [a-zA-Z_][a-zA-Z0-9_]*; ours are snake_case."""
    name = _LABEL_RE.sub("_", re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key)).lower()
    return name if name and not name[0].isdigit() else f"_{name}"


def label_value(value: str) -> str:
    """Device-supplied text: drop control characters and cap the length."""
    return text_clean(value, _MAX_LABEL_VALUE, replacement="")


def escape(value: str) -> str:
    """Label value escaping of the text exposition format."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


_SPECIAL_NUMBERS = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}


def number(value: float) -> str:
    # Almost every value is already a float: skip the conversion (repr itself is most of the cost).
    text = repr(value) if value.__class__ is float else repr(float(value))
    # Only nan, inf and -inf end in a letter; the exposition format spells them NaN, +Inf, -Inf.
    return _SPECIAL_NUMBERS[text] if text[-1] in "nf" else text


_STATE_FAMILY = "netwatch_check_state"
_SHARED = {name: f"netwatch_{name}" for name in SHARED_MEASUREMENTS}
_NO_MEASUREMENTS: Mapping[str, float] = {}
_TARGET_INFO = "netwatch_target_info"
_TARGET_INFO_HEADER = (b"# HELP netwatch_target_info Metadata of a monitored target (always 1).\n"
                       b"# TYPE netwatch_target_info gauge\n")
_CHECK_FAMILIES: tuple[tuple[str, str], ...] = (
    ("netwatch_probe_success", "1 if the last probe of the check succeeded."),
    ("netwatch_probe_duration_seconds", "How long the last probe took."),
    (_STATE_FAMILY, "1 for the check's current health state, 0 for the others."),
    ("netwatch_check_last_result_timestamp_seconds", "Unix time of the check's last result."),
    ("netwatch_check_state_since_timestamp_seconds",
     "Unix time when the current state began (first failing result for down)."),
    ("netwatch_check_interval_seconds", "Configured interval of the check."),
    ("netwatch_check_error", "1 with the error class of a failing check."),
    ("netwatch_check_skipped_runs", "Runs of the check skipped since start because its kind's probe pool was full."),
)


# Where each measurement of a result goes, in the order of its outcome's measurements: (family, that
# family's lines) or (None, None) for a measurement its kind does not declare (not exported).
_Slots = tuple[tuple[str, dict[str, bytes]] | tuple[None, None], ...]


class _Entry:
    """What a check's cached lines were built from, and the families they sit in. `names` and `slots`
    (the measurement names of `result` and where their lines go) let a new result with the same names
    be written by position, without a lookup per measurement; None when the result has series."""

    __slots__ = ("check", "result", "shown", "since", "skipped", "families", "labels", "names", "slots")

    def __init__(self, check: object, result: object, shown: State, since: float, skipped: int,
                 families: tuple[str, ...], labels: str, names: tuple[str, ...] | None,
                 slots: _Slots | None) -> None:
        self.check, self.result, self.shown, self.since, self.skipped = check, result, shown, since, skipped
        self.families, self.labels, self.names, self.slots = families, labels, names, slots


# A rendering pass gives the event loop back after this much work (`render_checks_async`).
SLICE_SECONDS = 0.005
# Lines written ahead of the scrapes (NetwatchCollector.keep_current): every line this long after the web side
# starts; then those of the checks with a new result, every AHEAD_EVERY_SECONDS, until the first scrape (for
# at most WARM_FOR_SECONDS) and while scrapes come (the last one at most AHEAD_IDLE_SECONDS ago).
WARM_DELAY_SECONDS = 1.0
AHEAD_EVERY_SECONDS = 5.0
WARM_FOR_SECONDS = 300.0
AHEAD_IDLE_SECONDS = 300.0
# ... and only with at least this many checks. A pass writes a check's lines for ~16 us against ~13 us inside a
# render, and its bookkeeping and garbage count against every result: at 5,000 checks a scrape's render is
# ~0.05 s (a cold one ~0.2 s) and passes only add CPU; at 50,000 a render is 0.4-0.7 s (a cold one ~2 s) and the
# passes keep the scrape near 0.3 s. (A threshold on the measured render cost fed on itself: the passes'
# own CPU counted as the scrape's.)
AHEAD_MIN_CHECKS = 20_000

_T = TypeVar("_T")


class RenderTimer:
    """One render's account: its start, the CPU of this thread inside its own steps (not the loop's other
    work between slices) and its longest step, which is how long it held the event loop at once."""

    __slots__ = ("started", "cpu_seconds", "longest_step_seconds")

    def __init__(self, started: float) -> None:
        self.started = started
        self.cpu_seconds = 0.0
        self.longest_step_seconds = 0.0

    def timed(self, steps: Iterator[_T]) -> Iterator[_T]:
        """`steps`, each one's CPU and wall counted (a step is a slice or an exposition part: ms, not lines)."""
        while True:
            wall, cpu = time.perf_counter(), time.thread_time()
            item = next(steps, _DONE)
            self.cpu_seconds += time.thread_time() - cpu
            self.longest_step_seconds = max(self.longest_step_seconds, time.perf_counter() - wall)
            if item is _DONE:
                return
            yield item   # type: ignore[misc]


_DONE = object()


class Renders:
    """The renders of the per-check families since start, for netwatch's own metrics: what a scrape of
    50,000 checks costs, read by the scrape itself (its figures are those of the render it is served from)."""

    def __init__(self) -> None:
        self.count = 0
        self.cpu_seconds_total = 0.0
        self.last_seconds = 0.0          # wall, from the start to the last part (other tasks' turns included)
        self.last_cpu_seconds = 0.0
        self.last_longest_step_seconds = 0.0

        self.last_ended = 0.0            # perf_counter at the end of the last render
        # Passes between scrapes (NetwatchCollector.keep_current): lines written ahead, not part of a render.
        self.ahead_passes = 0
        self.ahead_cpu_seconds_total = 0.0
        self.ahead_longest_step_seconds = 0.0
        self.ahead_first_ended = 0.0     # perf_counter at the end of the first pass (every line built)

    def add(self, render: RenderTimer, ended: float) -> None:
        self.count += 1
        self.cpu_seconds_total += render.cpu_seconds
        self.last_seconds = ended - render.started
        self.last_cpu_seconds = render.cpu_seconds
        self.last_longest_step_seconds = render.longest_step_seconds
        self.last_ended = ended

    def add_ahead(self, render: RenderTimer, ended: float) -> None:
        if not self.ahead_passes:
            self.ahead_first_ended = ended
        self.ahead_passes += 1
        self.ahead_cpu_seconds_total += render.cpu_seconds
        self.ahead_longest_step_seconds = max(self.ahead_longest_step_seconds, render.longest_step_seconds)


class NetwatchCollector(Collector):
    """Per-check families are written straight to exposition text (`render_checks`): at 10,000
    checks prometheus-client's Metric objects cost seconds per scrape. Each check's lines are kept
    as bytes per family and rebuilt only when the check's result, shown state, state start or
    skipped-run count changed, so a scrape costs a pass of identity comparisons plus a join per
    ~1,000 lines. `netwatch_target_info` (one line per target) is written the same way. In the daemon
    the lines of new results are mostly written between scrapes (`keep_current`), so a scrape pays for
    its walk, the joins and the last few seconds' results. The few process-wide families go through the
    ordinary `collect()`."""

    def __init__(self, live: Callable[[], LiveView], scheduler: Callable[[], Scheduler | None],
                 extra: Callable[[], Iterator[Metric]] | None = None,
                 probes: Mapping[str, ProbeKind] = PROBES, clock: Callable[[], float] = RUN_CLOCK,
                 site: str | None = None) -> None:
        self.live = live
        # Cluster mode: every check series names the site that probed it (a multi-vantage check is exported
        # once per site); None on a single node, whose output stays as it was.
        self._site_label = f',site="{escape(site)}"' if site is not None else ""
        self.scheduler = scheduler
        self.extra = extra
        self.probes = probes
        self.clock = clock
        self._labels: dict[str, tuple[object, str]] = {}
        # The six state lines of a check change only with its state: keep them per (labels, state).
        self._state_blocks: dict[tuple[str, State], bytes] = {}
        # A probe's Series keep their label tuples from poll to poll (an SNMP device: ~550 of them);
        # cleaning, naming and escaping those labels cost ~6 us per sample, 4x the device's poll. Keep
        # each sample's line up to its value per (check labels, name, labels).
        self._series_lines: dict[tuple[str, str, tuple[tuple[str, str], ...]], str] = {}
        self._help = self._family_help()
        self._headers = {family: f"# HELP {family} {help_text}\n# TYPE {family} gauge\n".encode()
                         for family, help_text in self._help.items()}
        # family -> check id -> that check's line(s) of the family; insertion order is output order.
        self._lines: dict[str, dict[str, bytes]] = {family: {} for family in self._help}
        # family -> its exposition parts as last joined, with the family's count of line changes when they were:
        # a family nobody's line changed in since (state, interval, target_info between state changes) is not
        # joined again. The parts are those the server keeps for its last scrape anyway: no second copy.
        self._parts: dict[str, tuple[int, list[bytes]]] = {}
        self._changes: dict[str, int] = {family: 0 for family in [*self._help, _TARGET_INFO]}
        self._duration_lines = self._lines["netwatch_probe_duration_seconds"]
        self._timestamp_lines = self._lines["netwatch_check_last_result_timestamp_seconds"]
        self._entries: dict[str, _Entry] = {}
        # kind -> measurement name -> its family (None: not declared, not exported)
        self._measurement_families: dict[str, dict[str, str | None]] = {}
        # netwatch_target_info: target id -> (target, line), rebuilt when the set of label keys changes.
        self._target_lines: dict[str, tuple[object, bytes]] = {}
        self._target_keys: tuple[str, ...] | None = None
        # (kind, measurement names in their order) -> where each goes (_Entry.slots), shared by the checks.
        self._slots: dict[tuple[str, tuple[str, ...]], tuple[tuple[str, ...], _Slots]] = {}
        self.renders = Renders()
        # Checks with a new result since the last pass ahead (keep_current), told by the live view.
        self._dirty: set[str] = set()
        self._mark = self._dirty.add
        # The live view's checks (its dict, as long as no check was added) -> their positions in it.
        self._positions: tuple[dict[str, CheckView], dict[str, int]] | None = None

    def _family_help(self) -> dict[str, str]:
        help_by_family = dict(_CHECK_FAMILIES)
        for kind, p in self.probes.items():
            for name, help_text in p.measurements.items():
                help_by_family[_measurement_metric(kind, name)] = help_text
            for name, (help_text, _) in p.series.items():
                help_by_family[f"netwatch_{name}"] = help_text
        for name, help_text in SHARED_MEASUREMENTS.items():
            help_by_family[f"netwatch_{name}"] = help_text
        return help_by_family

    def _check_labels(self, check: object, check_id: str, target_id: str, kind: str) -> str:
        cached = self._labels.get(check_id)
        if cached is not None and cached[0] is check:
            return cached[1]
        text = f'check="{escape(check_id)}",target="{escape(target_id)}",kind="{escape(kind)}"{self._site_label}'
        self._labels[check_id] = (check, text)
        return text

    def render_checks(self) -> str:
        """The per-check families as exposition text, built from the live view."""
        return self.render_checks_bytes().decode()

    def render_checks_bytes(self) -> bytes:
        """`render_checks` in one go, as UTF-8 bytes."""
        render = RenderTimer(time.perf_counter())
        for _ in render.timed(self._refresh(None)):
            pass
        body = b"".join(render.timed(self._assemble()))
        self.renders.add(render, time.perf_counter())
        return body

    async def render_checks_async(self) -> list[bytes]:
        """`render_checks_bytes` as a list of parts (about _PART_BYTES each: a 90 MB exposition
        is not copied into one buffer), giving the event loop back every SLICE_SECONDS of work: the
        probes keep their timing while 50,000 checks are written. (A thread would not help: it
        holds the GIL the loop needs after each of its system calls.)"""
        render = RenderTimer(time.perf_counter())
        for _ in render.timed(self._refresh(SLICE_SECONDS)):
            await asyncio.sleep(0)
        parts: list[bytes] = []
        started = time.perf_counter()
        for part in render.timed(self._assemble()):
            parts.append(part)
            if time.perf_counter() - started > SLICE_SECONDS:
                await asyncio.sleep(0)
                started = time.perf_counter()
        self.renders.add(render, time.perf_counter())
        return parts

    async def keep_current(self) -> None:
        """Write lines ahead of the scrapes, on the loop in the render's slices: WARM_DELAY_SECONDS after start
        every line of every check (a cold render wrote them all inside the first scrape: ~2 s of CPU, 4 s
        of wall at 50,000 checks), then every AHEAD_EVERY_SECONDS the lines of the checks with a new result
        since (the live view names them: LiveView.on_result), so a scrape finds only the last few seconds'
        results to write. The scrape's own walk over every check stays what makes it right (state, overlays,
        skipped runs, staleness, checks that came or went); this only moves work out of it. Passes run
        until the first scrape (for at most WARM_FOR_SECONDS) and while scrapes come (the last one at most
        AHEAD_IDLE_SECONDS ago): a node nobody scrapes does not write lines for nobody; and only with
        AHEAD_MIN_CHECKS checks or more (a small site's scrape writes its own lines, cheaply)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        dirty = self._dirty
        live = self.live()
        try:
            await asyncio.sleep(WARM_DELAY_SECONDS)
            live = self.live()
            if len(live.views) >= AHEAD_MIN_CHECKS:
                live.on_result = self._mark
                await self._ahead(self._refresh(SLICE_SECONDS))
            while True:
                await asyncio.sleep(AHEAD_EVERY_SECONDS)
                live = self.live()
                if self._ahead_worth(self.renders, loop.time() - started, len(live.views)):
                    if live.on_result is not self._mark:   # off until now, or a collector made later took it over
                        live.on_result = self._mark
                    cids = list(dirty)
                    dirty.clear()
                    await self._ahead(self._refresh_some(cids, SLICE_SECONDS))
                else:
                    # Not worth it (yet): results cost no bookkeeping. Results missed while off are written by the
                    # next scrape's walk, as without passes.
                    if live.on_result is self._mark:
                        live.on_result = None
                    dirty.clear()
        finally:
            if live.on_result is self._mark:
                live.on_result = None

    @staticmethod
    def _ahead_worth(renders: Renders, since_start_seconds: float, checks: int) -> bool:
        """Whether to write lines ahead now: enough checks for a scrape's lines to be worth moving out of it, and
        scrapes expected (none yet, shortly after start; or the last one recently)."""
        if checks < AHEAD_MIN_CHECKS:
            return False
        if renders.count == 0:
            return since_start_seconds < WARM_FOR_SECONDS
        return time.perf_counter() - renders.last_ended < AHEAD_IDLE_SECONDS

    async def _ahead(self, steps: Iterator[None]) -> None:
        render = RenderTimer(time.perf_counter())
        for _ in render.timed(steps):
            await asyncio.sleep(0)
        self.renders.add_ahead(render, time.perf_counter())

    def _refresh_some(self, cids: list[str], slice_seconds: float | None) -> Iterator[None]:
        """The lines of these checks brought up to date, as the walk of `_refresh` would, for checks already
        written under the same Check object; new, reloaded or removed ones are left to the next render's walk
        (it keeps the lines in the live view's order and drops those of removed checks)."""
        live = self.live()
        now = self.clock()
        views, entries, display_state = live.views, self._entries, live.display_state
        started = time.perf_counter()
        rebuild: list[str] = []
        for i, cid in enumerate(cids):
            if slice_seconds is not None and not i & 127 and time.perf_counter() - started > slice_seconds:
                yield None
                started = time.perf_counter()
            view = views.get(cid)
            e = entries.get(cid)
            if view is None or e is None or e.check is not view.check:
                continue
            if e.shown is display_state(view, now) and e.since == view.state.since and e.skipped == view.skipped_runs:
                r = view.result
                if e.result is r or (r is not None and self._new_values(cid, r, e)):
                    continue
            rebuild.append(cid)
        if not rebuild:
            return
        # The rest may add lines to families (a first result, a failure), at their end: in the live view's order,
        # as the walk of a render goes.
        known = self._positions
        if known is None or known[0] is not views or len(known[1]) != len(views):
            known = self._positions = (views, dict(zip(views, range(len(views)))))   # C-level: ~3 ms at 50,000
        order = known[1]
        rebuild.sort(key=lambda cid: order.get(cid, -1))
        for i, cid in enumerate(rebuild):
            if slice_seconds is not None and not i & 15 and time.perf_counter() - started > slice_seconds:
                yield None
                started = time.perf_counter()
            view = views.get(cid)
            e = entries.get(cid)
            if view is not None and e is not None and e.check is view.check:
                self._rebuild(cid, view, display_state(view, now), e)

    def _refresh(self, slice_seconds: float | None) -> Iterator[None]:
        """Bring every check's cached lines up to date; yields when a time slice is spent."""
        now = self.clock()
        live = self.live()
        # The checks of this scrape, whatever a reload does meanwhile: ids and views apart (no tuple per check
        # for the collector to count).
        cids, views = list(live.views), list(live.views.values())
        entries = self._entries
        display_state = live.display_state
        started = time.perf_counter()
        checks_changed = self._target_keys is None
        # The clock is read every 16 checks: a check written for the first time takes ~100 us (after start, a
        # reload), and by 128 of them a step held the loop 13-19 ms.
        for i, (cid, view) in enumerate(zip(cids, views)):
            if slice_seconds is not None and not i & 15 and time.perf_counter() - started > slice_seconds:
                yield None
                started = time.perf_counter()
            shown = display_state(view, now)
            e = entries.get(cid)
            if (e is not None and e.check is view.check and e.shown is shown and e.since == view.state.since
                    and e.skipped == view.skipped_runs):
                r = view.result
                if e.result is r or (r is not None and self._new_values(cid, r, e)):
                    continue
            elif e is None or e.check is not view.check:
                checks_changed = True
            self._rebuild(cid, view, shown, e)
        if len(entries) > len(views):   # checks left the live view (reload): drop their lines
            checks_changed = True
            for cid in set(entries).difference(cids):
                for family in entries.pop(cid).families:
                    self._lines[family].pop(cid, None)
                    self._changes[family] += 1
            self._labels = {cid: self._labels[cid] for cid in entries if cid in self._labels}
        if len(self._state_blocks) > 12 * len(views) + 1000:
            self._state_blocks.clear()  # checks were removed or renamed: drop their cached lines
        if len(self._slots) > 1000:
            self._slots.clear()   # measurement sets come and go with results: do not keep them all for ever
        if checks_changed:   # targets come with checks: a new Check object may carry a new Target
            yield from self._refresh_targets(views, slice_seconds)

    def _rebuild(self, cid: str, view: CheckView, shown: State, old: _Entry | None) -> None:
        """Rewrite the lines of one check whose inputs changed. Lines whose value is the same as in
        the check's previous result (interval, loss, packets, ...) are kept: most of a new result
        changes only its timings."""
        c = view.check
        lbl = self._check_labels(c, cid, c.target.id, c.kind)
        prev = old if old is not None and old.check is c else None   # a new Check: every line anew
        prev_r = prev.result if prev is not None else None
        prev_o = prev_r.outcome if prev_r is not None else None
        out: dict[str, str | bytes] = {}       # the lines that change
        present: list[str] = [_STATE_FAMILY, "netwatch_check_interval_seconds",
                              "netwatch_check_state_since_timestamp_seconds"]
        if prev is None or prev.shown is not shown:
            block = self._state_blocks.get((lbl, shown))
            if block is None:
                block = "".join(f"{_STATE_FAMILY}{{{lbl},state=\"{s.value}\"}} {'1.0' if s is shown else '0.0'}\n"
                                for s in State).encode()
                self._state_blocks[(lbl, shown)] = block
            out[_STATE_FAMILY] = block
        if prev is None:
            out["netwatch_check_interval_seconds"] = (
                f"netwatch_check_interval_seconds{{{lbl}}} {number(c.interval_seconds)}\n")
        since = view.state.since
        if prev is None or prev.since != since:
            out["netwatch_check_state_since_timestamp_seconds"] = (
                f"netwatch_check_state_since_timestamp_seconds{{{lbl}}} {number(since)}\n")
        if view.skipped_runs:
            present.append("netwatch_check_skipped_runs")
            if prev is None or prev.skipped != view.skipped_runs:
                out["netwatch_check_skipped_runs"] = f"netwatch_check_skipped_runs{{{lbl}}} {number(view.skipped_runs)}\n"
        r = view.result
        if r is not None:
            o = r.outcome
            present += ("netwatch_probe_success", "netwatch_probe_duration_seconds",
                        "netwatch_check_last_result_timestamp_seconds")
            if prev_o is None or prev_o.ok is not o.ok:
                out["netwatch_probe_success"] = f"netwatch_probe_success{{{lbl}}} {'1.0' if o.ok else '0.0'}\n"
            if prev_r is None or prev_r.duration_seconds != r.duration_seconds:
                out["netwatch_probe_duration_seconds"] = (
                    f"netwatch_probe_duration_seconds{{{lbl}}} {number(r.duration_seconds)}\n")
            if prev_r is None or prev_r.started_at != r.started_at:
                out["netwatch_check_last_result_timestamp_seconds"] = (
                    f"netwatch_check_last_result_timestamp_seconds{{{lbl}}} {number(r.started_at)}\n")
            if not o.ok:
                present.append("netwatch_check_error")
                if prev_o is None or prev_o.ok or prev_o.error != o.error:
                    out["netwatch_check_error"] = (
                        f'netwatch_check_error{{{lbl},error="{escape(o.error or "unknown")}"}} 1.0\n')
            families_of = self._measurement_families.get(c.kind)
            if families_of is None:
                families_of = self._measurement_families[c.kind] = {}
            prev_m = prev_o.measurements if prev_o is not None else _NO_MEASUREMENTS
            for name, value in o.measurements.items():
                family = families_of.get(name, "")
                if family == "":
                    family = _SHARED.get(name) or _measurement_metric(c.kind, name)
                    family = families_of[name] = family if family in self._help else None
                if family is not None:
                    present.append(family)
                    if prev_m.get(name) != value:   # None (absent before) or another value
                        out[family] = f"{family}{{{lbl}}} {number(value)}\n"
            if o.series:
                series: dict[str, list[str]] = {}
                for sample in o.series:
                    family = f"netwatch_{sample.name}"
                    if family in self._help:
                        series.setdefault(family, []).append("")
                present += series
                if prev_o is None or prev_o.series != o.series:
                    series = {}
                    prefixes = self._series_lines
                    if len(prefixes) > 2 * len(o.series) + 10_000:
                        prefixes.clear()   # interfaces renamed or gone: do not keep their lines for ever
                    for sample in o.series:
                        family = f"netwatch_{sample.name}"
                        if family in self._help:
                            key = (lbl, sample.name, sample.labels)
                            prefix = prefixes.get(key)
                            if prefix is None:
                                extra = "".join(f',{label_name(k)}="{escape(label_value(v))}"'
                                                for k, v in sample.labels)
                                prefix = prefixes[key] = f"{family}{{{lbl}{extra}}} "
                            series.setdefault(family, []).append(f"{prefix}{number(sample.value)}\n")
                    for family, lines in series.items():
                        out[family] = "".join(lines)
        all_lines = self._lines
        families = tuple(present)
        if old is not None and old.families != families:
            for family in set(old.families).difference(families):
                all_lines[family].pop(cid, None)
                self._changes[family] += 1
        for family, text in out.items():
            all_lines[family][cid] = text if isinstance(text, bytes) else text.encode()
        changes = self._changes
        for family in out:
            changes[family] += 1
        names = slots = None
        if r is not None and not r.outcome.series:
            names, slots = self._slots_of(c.kind, tuple(r.outcome.measurements))
        self._entries[cid] = _Entry(c, r, shown, since, view.skipped_runs, families, lbl, names, slots)

    def _slots_of(self, kind: str, names: tuple[str, ...]) -> tuple[tuple[str, ...], _Slots]:
        """Where the lines of these measurements go, and one copy of the names for every check that has them."""
        known = self._slots.get((kind, names))
        if known is None:
            families_of = self._measurement_families[kind]   # filled for these names by _rebuild
            known = self._slots[(kind, names)] = names, tuple(
                (family, self._lines[family]) if (family := families_of[name]) is not None else (None, None)
                for name in names)
        return known

    def _new_values(self, cid: str, r: Result, old: _Entry) -> bool:
        """The common case, cheaply: a new result of the same check with the same verdict, error and
        measurement names (in the same order) as the one its lines were built from, the check's state
        unchanged (the caller saw to that). Rewrites the lines whose value changed and returns True;
        False (nothing touched) when the general path is needed."""
        prev_r = old.result
        slots = old.slots
        if prev_r is None or slots is None:
            return False
        o, prev_o = r.outcome, prev_r.outcome   # type: ignore[attr-defined]
        measurements = o.measurements
        if o.ok is not prev_o.ok or o.error != prev_o.error or o.series or tuple(measurements) != old.names:
            return False
        lbl = old.labels
        changes = self._changes
        # number() inline for the finite floats (~140,000 values a scrape at 50,000 checks): repr is most of its
        # cost, the call a sixth. (x - x is 0.0 for finite x only; only nan and the infinities end in a letter.)
        value = r.duration_seconds
        if value != prev_r.duration_seconds:   # type: ignore[attr-defined]
            text = repr(value) if value.__class__ is float and value - value == 0.0 else number(value)
            self._duration_lines[cid] = f"netwatch_probe_duration_seconds{{{lbl}}} {text}\n".encode()
            changes["netwatch_probe_duration_seconds"] += 1
        value = r.started_at
        if value != prev_r.started_at:   # type: ignore[attr-defined]
            text = repr(value) if value.__class__ is float and value - value == 0.0 else number(value)
            self._timestamp_lines[cid] = f"netwatch_check_last_result_timestamp_seconds{{{lbl}}} {text}\n".encode()
            changes["netwatch_check_last_result_timestamp_seconds"] += 1
        # By position: the names are those of the previous result, in the same order.
        for (family, lines), value, before in zip(slots, measurements.values(), prev_o.measurements.values()):
            if value != before and family is not None:
                text = repr(value) if value.__class__ is float else number(value)
                if text[-1] in "nf":
                    text = number(value)
                lines[cid] = f"{family}{{{lbl}}} {text}\n".encode()
                changes[family] += 1
        old.result = r
        return True

    def _refresh_targets(self, views: list[CheckView], slice_seconds: float | None) -> Iterator[None]:
        """Rewrite the target_info lines of new or changed targets; yields when a time slice is spent (50,000
        targets at the first render take ~2 s: by 512 targets a step held the loop ~50 ms)."""
        self._changes[_TARGET_INFO] += 1   # rarely here (checks changed): not worth finding out whether a line did
        started = time.perf_counter()
        targets: dict[str, Target] = {}
        for i, view in enumerate(views):
            if slice_seconds is not None and not i & 1023 and time.perf_counter() - started > slice_seconds:
                yield None
                started = time.perf_counter()
            t = view.check.target
            if t.id not in targets:
                targets[t.id] = t
        keys: set[str] = set()
        for i, t in enumerate(targets.values()):
            if slice_seconds is not None and not i & 1023 and time.perf_counter() - started > slice_seconds:
                yield None
                started = time.perf_counter()
            keys.update(t.labels)
        extra_keys = tuple(sorted({label_name(k) for k in keys} - {"target", "zone", "name"}))
        if extra_keys != self._target_keys:
            self._target_lines, self._target_keys = {}, extra_keys
        lines = self._target_lines
        if len(lines) > len(targets):
            self._target_lines = lines = {tid: v for tid, v in lines.items() if tid in targets}
        for i, (tid, t) in enumerate(targets.items()):
            if slice_seconds is not None and not i & 31 and time.perf_counter() - started > slice_seconds:
                yield None
                started = time.perf_counter()
            cached = lines.get(tid)
            if cached is not None and cached[0] is t:
                continue
            extra = {label_name(k): label_value(v) for k, v in t.labels.items()}
            values = [t.id, t.zone, label_value(t.name or t.id)] + [extra.get(k, "") for k in extra_keys]
            text = ",".join(f'{k}="{escape(v)}"' for k, v in zip(("target", "zone", "name") + extra_keys, values))
            lines[tid] = (t, f"netwatch_target_info{{{text}{self._site_label}}} 1.0\n".encode())

    def _assemble(self) -> Iterator[bytes]:
        """The exposition in parts of about _PART_BYTES: each join is a short step."""
        for family, header in self._headers.items():
            yield header
            yield from self._family_parts(family, self._lines[family].values())
        yield _TARGET_INFO_HEADER
        yield from self._family_parts(_TARGET_INFO, (line for _, line in self._target_lines.values()))

    def _family_parts(self, family: str, lines: Iterable[bytes]) -> Iterator[bytes]:
        """A family's parts: as last joined unless one of its lines changed since. Renders can interleave (an
        async one gives the loop back between parts, and may be cancelled): the parts kept are those of the
        latest snapshot of the lines, whichever render finishes last, and are used only while no line changed."""
        kept = self._parts.get(family)
        snapshot = self._changes[family]
        if kept is not None and kept[0] == snapshot:
            yield from kept[1]
            return
        parts = []
        for part in _joined(list(lines)):   # the lines as they are now: a snapshot, joined part by part
            parts.append(part)
            yield part
        kept = self._parts.get(family)
        if kept is None or kept[0] < snapshot:
            self._parts[family] = (snapshot, parts)

    def _series_line(self, lbl: str, name: str, labels: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
        family = f"netwatch_{name}"
        if family not in self._help:
            return None
        extra = "".join(f',{label_name(k)}="{escape(label_value(v))}"' for k, v in labels)
        return family, f"{family}{{{lbl}{extra}}} "

    def collect(self) -> Iterator[Metric]:
        yield from self._scheduler(self.live())
        yield from self._build()
        yield from render_metrics(self.renders)
        if self.extra is not None:
            yield from self.extra()

    def _scheduler(self, live: LiveView) -> Iterator[Metric]:
        sched = self.scheduler()
        checks = GaugeMetricFamily("netwatch_checks", "Number of checks scheduled, by kind.", labels=["kind"])
        counts: dict[str, int] = {}
        for view in live.views.values():
            counts[view.check.kind] = counts.get(view.check.kind, 0) + 1
        for kind, n in sorted(counts.items()):
            checks.add_metric([kind], n)
        yield checks
        lag = HistogramMetricFamily("netwatch_scheduler_lag_seconds",
                                    "Delay between when a check was due and when its probe started.",
                                    labels=["kind"])
        skipped = CounterMetricFamily("netwatch_scheduler_skipped_runs",
                                      "Runs skipped because a check fell a whole interval behind.",
                                      labels=["kind"])
        in_flight = GaugeMetricFamily("netwatch_probes_in_flight", "Probes running right now.", labels=["kind"])
        if sched is not None:
            for kind, stats in sched.lag.items():
                cumulative, buckets = 0, []
                for bound, n in zip(list(LAG_BOUNDS_SECONDS) + [float("inf")], stats.buckets):
                    cumulative += n
                    buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
                lag.add_metric([kind], buckets, stats.total_seconds)
                skipped.add_metric([kind], stats.skipped)
                in_flight.add_metric([kind], sched.in_flight[kind])
        yield lag
        yield skipped
        yield in_flight

    def _build(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("netwatch_build_info", "netwatch version (always 1).",
                                 labels=["version", "python_version"])
        info.add_metric([__version__, platform.python_version()], 1.0)
        yield info


# Bytes per exposition part, about: under glibc's default mmap threshold (128 KiB), so a render's parts come
# from the heap the previous render's parts went back to. Parts of 0.5 MB were mmap'd afresh by every render:
# ~23,000 page faults and ~50 ms of kernel time at 50,000 checks, more than the joins themselves.
_PART_BYTES = 96_000


def _joined(lines: list[bytes]) -> Iterator[bytes]:
    """`lines` (each ending in a newline) joined in parts of about _PART_BYTES."""
    if not lines:
        return
    step = max(1, _PART_BYTES // max(len(lines[0]), 1))   # a family's lines are of much the same length
    for start in range(0, len(lines), step):
        yield b"".join(lines[start:start + step])


def render_metrics(renders: Renders) -> Iterator[Metric]:
    """What the renders of the per-check families cost (all zero before the first scrape)."""
    yield GaugeMetricFamily("netwatch_metrics_render_seconds",
                            "Wall time of the last /metrics render of the per-check families, start to end "
                            "(the event loop's other work between its slices included).", value=renders.last_seconds)
    yield GaugeMetricFamily("netwatch_metrics_last_render_cpu_seconds",
                            "CPU time of the event-loop thread spent in the last /metrics render.",
                            value=renders.last_cpu_seconds)
    yield GaugeMetricFamily("netwatch_metrics_render_longest_slice_seconds",
                            "The longest time the last /metrics render held the event loop at once.",
                            value=renders.last_longest_step_seconds)
    yield CounterMetricFamily("netwatch_metrics_render_cpu_seconds",
                              "CPU time of the event-loop thread spent rendering /metrics since start.",
                              value=renders.cpu_seconds_total)
    yield CounterMetricFamily("netwatch_metrics_renders", "Renders of the per-check families since start "
                              "(scrapes within a second share one).", value=renders.count)


def zone_info(zones: Iterable[tuple[str, str]]) -> Metric:
    """Display names of the venue's zones, so dashboards can show "Hội trường" rather than `hall`."""
    info = GaugeMetricFamily("netwatch_zone_info", "Display name of a venue zone (always 1).", labels=["zone", "name"])
    for zone_id, name in zones:
        info.add_metric([zone_id, label_value(name or zone_id)], 1.0)
    return info


def gc_metrics(pauses: Pauses) -> Iterator[Metric]:
    """The cyclic collector's pauses (netwatch.heap): each one stops the event loop, probes included."""
    collections = CounterMetricFamily("netwatch_gc_collections", "Cyclic garbage collections, by generation.",
                                      labels=["generation"])
    seconds = CounterMetricFamily("netwatch_gc_pause_seconds", "Time spent in cyclic garbage collections.",
                                  labels=["generation"])
    cpu = CounterMetricFamily("netwatch_gc_cpu_seconds", "CPU time of the thread running cyclic garbage collections.",
                              labels=["generation"])
    longest = GaugeMetricFamily("netwatch_gc_longest_pause_seconds",
                                "The longest cyclic garbage collection since start, by generation.", labels=["generation"])
    for generation in range(3):
        collections.add_metric([str(generation)], pauses.collections[generation])
        seconds.add_metric([str(generation)], pauses.seconds[generation])
        cpu.add_metric([str(generation)], pauses.cpu_seconds[generation])
        longest.add_metric([str(generation)], pauses.longest_seconds[generation])
    yield collections
    yield seconds
    yield cpu
    yield longest


def reloads_metric(counts: Mapping[str, int]) -> Metric:
    """netwatch_config_reloads{result="ok"|"refused"}."""
    family = CounterMetricFamily("netwatch_config_reloads", "Config reloads (SIGHUP), by result.", labels=["result"])
    for result, count in counts.items():
        family.add_metric([result], count)
    return family


def _measurement_metric(kind: str, name: str) -> str:
    return f"netwatch_{kind}_{name}"


def daemon_families(parts: Iterable[Callable[[], Iterable[Metric]]], config: "Config",
                    reloads: Mapping[str, int]) -> Iterator[Metric]:
    """The process-wide families: each part's own (paging, writer, traps, cluster node), zone names, reloads,
    and the garbage collector's pauses."""
    for metrics_of in parts:
        yield from metrics_of()
    yield zone_info((z.id, z.name) for z in config.zones)
    yield reloads_metric(reloads)
    yield from gc_metrics(PAUSES)


def registry_for(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
