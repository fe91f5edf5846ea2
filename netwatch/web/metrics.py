"""A prometheus-client Collector that reads the live view on every scrape (no global metrics)."""

from __future__ import annotations

import platform
import re
import time
from typing import Callable, Iterator, Mapping

from prometheus_client.core import (CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily,
                                    Metric)
from prometheus_client.registry import Collector, CollectorRegistry

from netwatch import __version__
from netwatch.live import LiveView
from netwatch.model import State
from netwatch.probes import PROBES, SHARED_MEASUREMENTS, ProbeKind
from netwatch.scheduler import LAG_BOUNDS_SECONDS, Scheduler

CHECK_LABELS = ["check", "target", "kind"]
_LABEL_RE = re.compile(r"[^a-zA-Z0-9_]")
_MAX_LABEL_VALUE = 200


def label_name(key: str) -> str:
    """Prometheus label names are [a-zA-Z_][a-zA-Z0-9_]*; ours are snake_case."""
    name = _LABEL_RE.sub("_", re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key)).lower()
    return name if name and not name[0].isdigit() else f"_{name}"


def label_value(value: str) -> str:
    """Device-supplied text: drop control characters and cap the length."""
    return "".join(ch for ch in value if ch.isprintable())[:_MAX_LABEL_VALUE]


class NetwatchCollector(Collector):
    def __init__(self, live: Callable[[], LiveView], scheduler: Callable[[], Scheduler | None],
                 extra: Callable[[], Iterator[Metric]] | None = None,
                 probes: Mapping[str, ProbeKind] = PROBES, clock: Callable[[], float] = time.time) -> None:
        self.live = live
        self.scheduler = scheduler
        self.extra = extra
        self.probes = probes
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        live = self.live()
        success = GaugeMetricFamily("netwatch_probe_success", "1 if the last probe of the check succeeded.",
                                    labels=CHECK_LABELS)
        duration = GaugeMetricFamily("netwatch_probe_duration_seconds", "How long the last probe took.",
                                     labels=CHECK_LABELS)
        state = GaugeMetricFamily("netwatch_check_state", "1 for the check's current health state, 0 for the others.",
                                  labels=CHECK_LABELS + ["state"])
        last = GaugeMetricFamily("netwatch_check_last_result_timestamp_seconds",
                                 "Unix time of the check's last result.", labels=CHECK_LABELS)
        since = GaugeMetricFamily("netwatch_check_state_since_timestamp_seconds",
                                  "Unix time when the current state began (first failing result for down).",
                                  labels=CHECK_LABELS)
        interval = GaugeMetricFamily("netwatch_check_interval_seconds", "Configured interval of the check.",
                                     labels=CHECK_LABELS)
        error = GaugeMetricFamily("netwatch_check_error", "1 with the error class of a failing check.",
                                  labels=CHECK_LABELS + ["error"])
        measure: dict[str, GaugeMetricFamily] = {}
        for kind, p in self.probes.items():
            for name, help_text in p.measurements.items():
                metric = _measurement_metric(kind, name)
                measure[metric] = GaugeMetricFamily(metric, help_text, labels=CHECK_LABELS)
        for name, help_text in SHARED_MEASUREMENTS.items():
            measure[f"netwatch_{name}"] = GaugeMetricFamily(f"netwatch_{name}", help_text, labels=CHECK_LABELS)
        series: dict[str, GaugeMetricFamily] = {}
        for p in self.probes.values():
            for name, (help_text, extra_labels) in p.series.items():
                series[name] = GaugeMetricFamily(f"netwatch_{name}", help_text,
                                                 labels=CHECK_LABELS + list(extra_labels))

        for view in live.views.values():
            c = view.check
            labels = [c.id, c.target.id, c.kind]
            shown = live.display_state(view, now)
            for s in State:
                state.add_metric(labels + [s.value], 1.0 if s is shown else 0.0)
            interval.add_metric(labels, c.interval_seconds)
            since.add_metric(labels, view.state.since)
            r = view.result
            if r is None:
                continue
            o = r.outcome
            success.add_metric(labels, 1.0 if o.ok else 0.0)
            duration.add_metric(labels, r.duration_seconds)
            last.add_metric(labels, r.started_at)
            if not o.ok:
                error.add_metric(labels + [o.error or "unknown"], 1.0)
            for name, value in o.measurements.items():
                family = measure.get(f"netwatch_{name}" if name in SHARED_MEASUREMENTS
                                     else _measurement_metric(c.kind, name))
                if family is not None:
                    family.add_metric(labels, float(value))
            for sample in o.series:
                family = series.get(sample.name)
                if family is not None:
                    values = dict(sample.labels)
                    family.add_metric(labels + [label_value(values.get(k, "")) for k in family._labelnames[3:]],
                                      sample.value)
        yield from (success, duration, state, last, since, interval, error)
        yield from measure.values()
        yield from series.values()
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


def _measurement_metric(kind: str, name: str) -> str:
    return f"netwatch_{kind}_{name}"


def registry_for(collector: Collector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry
