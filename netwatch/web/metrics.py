"""A prometheus-client Collector that reads the live view on every scrape (no global metrics)."""

from __future__ import annotations

import platform
import re
import time
from typing import Callable, Iterable, Iterator, Mapping

from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily,
                                    Metric)
from prometheus_client.registry import Collector, CollectorRegistry

from netwatch import __version__
from netwatch.live import LiveView
from netwatch.model import State
from netwatch.probes import PROBES, SHARED_MEASUREMENTS, ProbeKind
from netwatch.scheduler import LAG_BOUNDS_SECONDS, Scheduler
from netwatch.text import clean as text_clean

CHECK_LABELS = ["check", "target", "kind"]
_LABEL_RE = re.compile(r"[^a-zA-Z0-9_]")
_MAX_LABEL_VALUE = 200


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


def number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


_STATE_FAMILY = "netwatch_check_state"
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


class NetwatchCollector(Collector):
    """Per-check families are written straight to exposition text (`render_checks`): at 10,000
    checks prometheus-client's Metric objects cost seconds per scrape. The few process-wide
    families go through the ordinary `collect()`."""

    def __init__(self, live: Callable[[], LiveView], scheduler: Callable[[], Scheduler | None],
                 extra: Callable[[], Iterator[Metric]] | None = None,
                 probes: Mapping[str, ProbeKind] = PROBES, clock: Callable[[], float] = time.time,
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
        self._state_blocks: dict[tuple[str, State], str] = {}
        self._help = self._family_help()

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
        now = self.clock()
        live = self.live()
        lines: dict[str, list[str]] = {name: [] for name, _ in _CHECK_FAMILIES}
        states = [(s, f',state="{s.value}"}} ') for s in State]
        shared = {name: f"netwatch_{name}" for name in SHARED_MEASUREMENTS}
        state_lines = lines[_STATE_FAMILY]
        if len(self._state_blocks) > 12 * len(live.views) + 1000:
            self._state_blocks.clear()  # checks were removed or renamed: drop their cached lines
        for view in list(live.views.values()):
            c = view.check
            lbl = self._check_labels(c, c.id, c.target.id, c.kind)
            shown = live.display_state(view, now)
            block = self._state_blocks.get((lbl, shown))
            if block is None:
                block = "\n".join(f"{_STATE_FAMILY}{{{lbl}{suffix}{'1.0' if s is shown else '0.0'}"
                                  for s, suffix in states)
                self._state_blocks[(lbl, shown)] = block
            state_lines.append(block)
            lines["netwatch_check_interval_seconds"].append(
                f"netwatch_check_interval_seconds{{{lbl}}} {number(c.interval_seconds)}")
            lines["netwatch_check_state_since_timestamp_seconds"].append(
                f"netwatch_check_state_since_timestamp_seconds{{{lbl}}} {number(view.state.since)}")
            if view.skipped_runs:
                lines["netwatch_check_skipped_runs"].append(
                    f"netwatch_check_skipped_runs{{{lbl}}} {number(view.skipped_runs)}")
            r = view.result
            if r is None:
                continue
            o = r.outcome
            lines["netwatch_probe_success"].append(f"netwatch_probe_success{{{lbl}}} {'1.0' if o.ok else '0.0'}")
            lines["netwatch_probe_duration_seconds"].append(
                f"netwatch_probe_duration_seconds{{{lbl}}} {number(r.duration_seconds)}")
            lines["netwatch_check_last_result_timestamp_seconds"].append(
                f"netwatch_check_last_result_timestamp_seconds{{{lbl}}} {number(r.started_at)}")
            if not o.ok:
                lines["netwatch_check_error"].append(
                    f'netwatch_check_error{{{lbl},error="{escape(o.error or "unknown")}"}} 1.0')
            for name, value in o.measurements.items():
                family = shared.get(name) or _measurement_metric(c.kind, name)
                if family in self._help:
                    lines.setdefault(family, []).append(f"{family}{{{lbl}}} {number(value)}")
            for sample in o.series:
                family = f"netwatch_{sample.name}"
                if family in self._help:
                    extra = "".join(f',{label_name(k)}="{escape(label_value(v))}"' for k, v in sample.labels)
                    lines.setdefault(family, []).append(f"{family}{{{lbl}{extra}}} {number(sample.value)}")
        out: list[str] = []
        for family, help_text in self._help.items():
            out.append(f"# HELP {family} {help_text}\n# TYPE {family} gauge\n")
            samples = lines.get(family)
            if samples:
                out.append("\n".join(samples))
                out.append("\n")
        return "".join(out)

    def collect(self) -> Iterator[Metric]:
        live = self.live()
        yield from self._targets(live)
        yield from self._scheduler(live)
        yield from self._build()
        if self.extra is not None:
            yield from self.extra()

    def _targets(self, live: LiveView) -> Iterator[Metric]:
        rows: dict[str, tuple[list[str], dict[str, str]]] = {}
        for view in live.views.values():
            t = view.check.target
            if t.id not in rows:
                rows[t.id] = ([t.id, t.zone, label_value(t.name or t.id)],
                              {label_name(k): label_value(v) for k, v in t.labels.items()})
        extra_keys = sorted({k for _, extra in rows.values() for k in extra} - {"target", "zone", "name"})
        info = GaugeMetricFamily("netwatch_target_info", "Metadata of a monitored target (always 1).",
                                 labels=["target", "zone", "name"] + extra_keys)
        for base, extra in rows.values():
            info.add_metric(base + [extra.get(k, "") for k in extra_keys], 1.0)
        yield info

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


def zone_info(zones: Iterable[tuple[str, str]]) -> Metric:
    """Display names of the venue's zones, so dashboards can show "Hội trường" rather than `hall`."""
    info = GaugeMetricFamily("netwatch_zone_info", "Display name of a venue zone (always 1).", labels=["zone", "name"])
    for zone_id, name in zones:
        info.add_metric([zone_id, label_value(name or zone_id)], 1.0)
    return info


def _measurement_metric(kind: str, name: str) -> str:
    return f"netwatch_{kind}_{name}"


def registry_for(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
