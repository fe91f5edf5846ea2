"""The exposition text: parseable by prometheus-client, escaped, promtool-clean, all states present."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import pytest
from prometheus_client.exposition import generate_latest

from netwatch.live import LiveView
from netwatch.model import AlertPolicy, Check, Outcome, Result, Series, State, Target
from netwatch.probes import ProbeKind
from netwatch.web.metrics import NetwatchCollector, registry_for
from tests.support import metric_value, parse_metrics


@dataclass(frozen=True)
class S:
    pass


async def _probe(target: Target, settings: S, timeout_seconds: float, context: object = None) -> Outcome:
    return Outcome(ok=True)


KINDS = {"dev": ProbeKind(kind="dev", settings=S, measurements={"uptime_seconds": "Agent uptime."}, probe=_probe,
                          concurrency=1,
                          series={"if_oper_status": ("Operational status (1 up, 2 down).", ("if_name", "if_alias"))})}


def view_with(outcome: Outcome) -> LiveView:
    target = Target("sw1", "127.0.0.1", "hall", "Switch 1", (), {"role": "switch", "rack-no": "A1"})
    check = Check("sw1/dev", target, "dev", 10.0, 5.0, AlertPolicy(fail_after=1), S())
    live = LiveView([check])
    live.update(check, Result("sw1/dev", "sw1", "dev", 1000.0, 0.01, outcome))
    return live


def render(live: LiveView) -> str:
    collector = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)
    return collector.render_checks() + generate_latest(registry_for(collector)).decode()


def test_hostile_device_labels_are_escaped_and_parse_back() -> None:
    alias = 'uplink "VNPT"\\ \n<script>alert(1)</script>\x07'
    live = view_with(Outcome(ok=True, measurements={"uptime_seconds": 42.0},
                             series=(Series("if_oper_status", (("if_name", "Gi0/1"), ("if_alias", alias)), 1.0),)))
    m = parse_metrics(render(live))
    assert metric_value(m, "netwatch_dev_uptime_seconds", check="sw1/dev") == 42.0
    (labels, value), = m["netwatch_if_oper_status"]
    assert value == 1.0 and labels["if_name"] == "Gi0/1"
    assert labels["if_alias"] == 'uplink "VNPT"\\ <script>alert(1)</script>'  # control chars dropped
    assert metric_value(m, "netwatch_target_info", target="sw1", zone="hall", role="switch", rack_no="A1") == 1.0


def test_every_state_is_present_and_one_is_set() -> None:
    m = parse_metrics(render(view_with(Outcome.fail("timeout", "no answer"))))
    states = {labels["state"]: v for labels, v in m["netwatch_check_state"]}
    assert states == {s.value: (1.0 if s is State.DOWN else 0.0) for s in State}
    assert metric_value(m, "netwatch_check_error", check="sw1/dev", error="timeout") == 1.0
    assert metric_value(m, "netwatch_probe_success", check="sw1/dev") == 0.0


def test_stale_result_shows_unknown() -> None:
    live = view_with(Outcome(ok=True))
    collector = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1000.0 + 60)
    m = parse_metrics(collector.render_checks())
    assert metric_value(m, "netwatch_check_state", check="sw1/dev", state="unknown") == 1.0


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian prometheus) not installed")
def test_promtool_accepts_the_output() -> None:
    text = render(view_with(Outcome(ok=True, measurements={"uptime_seconds": 1.0},
                                    series=(Series("if_oper_status", (("if_name", "x"), ("if_alias", "")), 2.0),))))
    out = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_cluster_node_names_its_site_on_every_check_series_and_a_single_node_does_not() -> None:
    live = view_with(Outcome(ok=False, error="timeout", measurements={"uptime_seconds": 1.0},
                             series=(Series("if_oper_status", (("if_name", "x"), ("if_alias", "")), 2.0),)))
    single = parse_metrics(NetwatchCollector(lambda: live, lambda: None, probes=KINDS,
                                             clock=lambda: 1001.0).render_checks())
    clustered = parse_metrics(NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0,
                                                site="venue").render_checks())
    assert set(single) == set(clustered)
    for family, samples in single.items():
        assert all("site" not in labels for labels, _ in samples), family
        assert [({**labels, "site": "venue"}, v) for labels, v in samples] == clustered[family], family
