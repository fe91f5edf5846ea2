"""The exposition text: parseable by prometheus-client, escaped, promtool-clean, all states present."""

from __future__ import annotations

import shutil
import time
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


def _lines(text: str) -> list[str]:
    return sorted(line for line in text.splitlines() if line)


def test_cached_lines_match_a_fresh_rendering_through_changes() -> None:
    """Lines are kept per check and rewritten only where a result changed: after every kind of
    change the output must hold exactly the lines a collector without memory writes."""
    clock = [1000.0]
    target = Target("sw1", "127.0.0.1", "hall", "Switch 1", (), {"role": "switch"})
    checks = [Check(f"sw{i}/dev", Target(f"sw{i}", "127.0.0.1", "hall", f"Switch {i}", (), {"role": "switch"}),
                    "dev", 10.0, 5.0, AlertPolicy(fail_after=1), S()) for i in range(1, 5)]
    checks[0] = Check("sw1/dev", target, "dev", 10.0, 5.0, AlertPolicy(fail_after=1), S())
    live = LiveView(checks)
    cached = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: clock[0])

    def same() -> None:
        fresh = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: clock[0])
        assert _lines(cached.render_checks()) == _lines(fresh.render_checks())
        assert cached.render_checks_bytes().decode() == cached.render_checks()

    def result(check: Check, outcome: Outcome, at: float, duration: float = 0.01) -> None:
        live.update(check, Result(check.id, check.target.id, "dev", at, duration, outcome))

    same()
    ports = (Series("if_oper_status", (("if_name", "Gi0/1"), ("if_alias", "a")), 1.0),)
    for c in checks:
        result(c, Outcome(ok=True, measurements={"uptime_seconds": 1.0}, series=ports), 1000.0)
    same()
    # Same values but a new timestamp; one measurement changes; one check fails; one loses its series.
    result(checks[0], Outcome(ok=True, measurements={"uptime_seconds": 1.0}, series=ports), 1001.0)
    result(checks[1], Outcome(ok=True, measurements={"uptime_seconds": 2.0}, series=ports), 1001.0, 0.02)
    result(checks[2], Outcome.fail("timeout", "no answer"), 1001.0)
    result(checks[3], Outcome(ok=True), 1001.0)
    same()
    # Another error class; recovery with a changed series value; skipped runs.
    result(checks[2], Outcome.fail("refused"), 1002.0)
    result(checks[3], Outcome(ok=True, series=(Series("if_oper_status", (("if_name", "Gi0/1"), ("if_alias", "a")),
                                                      2.0),)), 1002.0)
    live.note_skipped(checks[0].id, 3)
    same()
    result(checks[2], Outcome(ok=True, measurements={"uptime_seconds": 5.0}), 1003.0)
    same()
    # Results go stale (state unknown without a new result), then a reload: one check goes, one
    # is new, one target gets another label.
    clock[0] = 2000.0
    same()
    relabelled = Check("sw2/dev", Target("sw2", "127.0.0.1", "hall", "Switch 2", (), {"rack": "B"}),
                       "dev", 10.0, 5.0, AlertPolicy(fail_after=1), S())
    new = Check("sw9/dev", Target("sw9", "127.0.0.1", "core", "Switch 9"), "dev", 30.0, 5.0,
                AlertPolicy(fail_after=1), S())
    live.apply([checks[0], relabelled, checks[2], new])
    same()
    assert "sw4" not in cached.render_checks()
    assert 'rack="B"' in cached.render_checks()


async def test_the_rendering_gives_the_loop_back(monkeypatch) -> None:
    """50,000 checks take hundreds of ms to write: the loop must run between slices of it."""
    import asyncio

    from netwatch.web import metrics as metrics_module
    monkeypatch.setattr(metrics_module, "SLICE_SECONDS", 0.0)
    checks = [Check(f"t{i}/dev", Target(f"t{i}", "127.0.0.1"), "dev", 10.0, 5.0, AlertPolicy(), S())  # example
              for i in range(1000)]
    live = LiveView(checks)
    for c in checks:
        live.update(c, Result(c.id, c.target.id, "dev", 1000.0, 0.01, Outcome(ok=True)))
    collector = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)
    turns = 0
    done = False

    async def other() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    task = asyncio.ensure_future(other())
    await asyncio.sleep(0)
    parts = await collector.render_checks_async()
    done = True
    await task
    assert b"".join(parts) == collector.render_checks_bytes()
    assert turns >= 1000 // 16   # first writes of a check take ~100 us: the clock is read every 16 checks


def test_series_lines_follow_their_labels_and_values_between_scrapes() -> None:
    """Each sample's line up to its value is kept between scrapes; a renamed interface or a new
    value shows at once, and lines of samples that went away are not kept for ever."""
    live = view_with(Outcome(ok=True, series=(Series("if_oper_status", (("if_name", "Gi0/1"), ("if_alias", "a")), 1.0),)))
    collector = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)
    first = parse_metrics(collector.render_checks())
    assert first["netwatch_if_oper_status"] == [({"check": "sw1/dev", "target": "sw1", "kind": "dev",
                                                  "if_name": "Gi0/1", "if_alias": "a"}, 1.0)]
    check = next(iter(live.views.values())).check
    for n in range(3):
        live.update(check, Result("sw1/dev", "sw1", "dev", 1000.0, 0.01, Outcome(ok=True, series=(
            Series("if_oper_status", (("if_name", f"Gi0/{n + 2}"), ("if_alias", 'b"')), 2.0),
            Series("undeclared_series", (("x", "y"),), 1.0)))))
        m = parse_metrics(collector.render_checks())
        assert m["netwatch_if_oper_status"] == [({"check": "sw1/dev", "target": "sw1", "kind": "dev",
                                                  "if_name": f"Gi0/{n + 2}", "if_alias": 'b"'}, 2.0)]
        assert "netwatch_undeclared_series" not in m
    assert len(collector._series_lines) <= 2 * 2 + 10_000
    assert collector.render_checks() == NetwatchCollector(lambda: live, lambda: None, probes=KINDS,
                                                          clock=lambda: 1001.0).render_checks()


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


TWO = {"dev": ProbeKind(kind="dev", settings=S, measurements={"uptime_seconds": "Agent uptime.", "cpu_ratio": "CPU."},
                        probe=_probe, concurrency=1)}


def test_a_new_result_is_written_by_measurement_name_whatever_their_order() -> None:
    """A result with the same measurement names is written by position, for speed: names in another order
    (or another set, an undeclared one among them) must still put each value on its own line."""
    live = view_with(Outcome(ok=True, measurements={"uptime_seconds": 1.0, "cpu_ratio": 0.5, "undeclared": 3.0}))
    check = next(iter(live.views.values())).check
    cached = NetwatchCollector(lambda: live, lambda: None, probes=TWO, clock=lambda: 1001.0)
    for at, measurements in ((1000.5, {"cpu_ratio": 0.25, "undeclared": 4.0, "uptime_seconds": 2.0}),
                             (1000.6, {"cpu_ratio": 0.75, "undeclared": 4.0, "uptime_seconds": 3.0}),
                             (1000.7, {"uptime_seconds": 4, "cpu_ratio": 0.75}),
                             (1000.8, {"uptime_seconds": 5.0, "cpu_ratio": float("nan")}),
                             (1000.9, {"uptime_seconds": 5.0, "cpu_ratio": float("inf")})):
        cached.render_checks()
        live.update(check, Result("sw1/dev", "sw1", "dev", at, at - 1000, Outcome(ok=True, measurements=measurements)))
        text = cached.render_checks()
        fresh = NetwatchCollector(lambda: live, lambda: None, probes=TWO, clock=lambda: 1001.0).render_checks()
        assert _lines(text) == _lines(fresh)
        m = parse_metrics(text)
        assert metric_value(m, "netwatch_dev_uptime_seconds", check="sw1/dev") == measurements["uptime_seconds"]
        assert str(metric_value(m, "netwatch_dev_cpu_ratio", check="sw1/dev")) == str(measurements["cpu_ratio"])
        assert "netwatch_dev_undeclared" not in m
    assert "netwatch_dev_uptime_seconds{" in text and "} 5.0\n" in text and "} +Inf\n" in text


def test_the_collector_accounts_for_its_renders_and_exports_them() -> None:
    checks = [Check(f"t{i}/dev", Target(f"t{i}", "127.0.0.1"), "dev", 10.0, 5.0, AlertPolicy(), S()) for i in range(200)]
    live = LiveView(checks)
    for c in checks:
        live.update(c, Result(c.id, c.target.id, "dev", 1000.0, 0.01, Outcome(ok=True)))
    collector = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)
    before = parse_metrics(generate_latest(registry_for(collector)).decode())
    assert metric_value(before, "netwatch_metrics_renders_total") == 0.0
    assert metric_value(before, "netwatch_metrics_render_seconds") == 0.0
    collector.render_checks()
    collector.render_checks()
    renders = collector.renders
    assert renders.count == 2 and 0 < renders.last_cpu_seconds < renders.cpu_seconds_total
    assert 0 < renders.last_longest_step_seconds <= renders.last_seconds
    m = parse_metrics(generate_latest(registry_for(collector)).decode())
    assert metric_value(m, "netwatch_metrics_renders_total") == 2.0
    assert metric_value(m, "netwatch_metrics_render_cpu_seconds_total") == renders.cpu_seconds_total
    assert metric_value(m, "netwatch_metrics_last_render_cpu_seconds") == renders.last_cpu_seconds
    assert metric_value(m, "netwatch_metrics_render_seconds") == renders.last_seconds
    assert metric_value(m, "netwatch_metrics_render_longest_slice_seconds") == renders.last_longest_step_seconds


async def test_a_render_counts_its_own_slices_not_the_loop_work_between_them(monkeypatch) -> None:
    """The render's CPU is the loop thread's inside its slices; its wall runs from start to end and its
    longest slice is how long it held the loop at once."""
    import asyncio

    from netwatch.web import metrics as metrics_module
    monkeypatch.setattr(metrics_module, "SLICE_SECONDS", 0.0)
    checks = [Check(f"t{i}/dev", Target(f"t{i}", "127.0.0.1"), "dev", 10.0, 5.0, AlertPolicy(), S()) for i in range(1000)]
    live = LiveView(checks)
    for c in checks:
        live.update(c, Result(c.id, c.target.id, "dev", 1000.0, 0.01, Outcome(ok=True)))
    collector = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)

    async def busy_once() -> None:
        await asyncio.sleep(0)   # between two of the render's slices
        spin_until = time.thread_time() + 0.05
        while time.thread_time() < spin_until:
            pass

    task = asyncio.ensure_future(busy_once())
    await collector.render_checks_async()
    await task
    renders = collector.renders
    assert renders.last_seconds >= 0.05
    assert renders.last_cpu_seconds <= renders.last_seconds - 0.04
    assert renders.last_longest_step_seconds < renders.last_seconds - 0.04


def test_a_check_dropped_by_a_reload_leaves_every_family_with_nothing_else_changed() -> None:
    """Families nobody's line changed in are served as last joined: a removal alone must count as a change."""
    checks = [Check(f"sw{i}/dev", Target(f"sw{i}", "127.0.0.1", "hall", f"Switch {i}"), "dev", 10.0, 5.0,
                    AlertPolicy(fail_after=1), S()) for i in (1, 2)]
    live = LiveView(checks)
    for c in checks:
        live.update(c, Result(c.id, c.target.id, "dev", 1000.0, 0.01, Outcome(ok=True, measurements={"uptime_seconds": 1.0})))
    collector = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)
    assert "sw2" in collector.render_checks()
    live.apply(checks[:1])
    text = collector.render_checks()
    assert "sw2" not in text
    assert text == NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0).render_checks()


def test_a_render_finishing_after_a_newer_one_does_not_leave_its_older_parts_behind() -> None:
    """Renders interleave on the loop (an async one between its slices, another one meanwhile): the parts a
    family is served from afterwards must be the newest joined, whichever render finishes last."""
    live = view_with(Outcome(ok=True, measurements={"uptime_seconds": 1.0}))
    check = next(iter(live.views.values())).check
    collector = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)
    collector.render_checks()
    live.update(check, Result("sw1/dev", "sw1", "dev", 1000.5, 0.01, Outcome(ok=True, measurements={"uptime_seconds": 2.0})))
    slow = collector._refresh(None)
    for _ in slow:
        pass
    older = collector._assemble()
    for part in older:   # into the uptime family: its lines are snapshotted, not yet stored
        if part.startswith(b"# HELP netwatch_dev_uptime_seconds"):
            next(older)
            break
    live.update(check, Result("sw1/dev", "sw1", "dev", 1000.7, 0.01, Outcome(ok=True, measurements={"uptime_seconds": 3.0})))
    assert "} 3.0" in collector.render_checks()   # the newer render, whole
    for _ in older:   # the older one finishes last
        pass
    m = parse_metrics(collector.render_checks())
    assert metric_value(m, "netwatch_dev_uptime_seconds", check="sw1/dev") == 3.0


def test_a_render_given_up_halfway_leaves_nothing_stale() -> None:
    """A render cancelled in the middle of a family (the scrape's task at the daemon's stop, or a scrape
    that is never finished) must not leave the next render serving the parts from before its changes."""
    live = view_with(Outcome(ok=True, measurements={"uptime_seconds": 1.0}))
    check = next(iter(live.views.values())).check
    collector = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)
    collector.render_checks()
    live.update(check, Result("sw1/dev", "sw1", "dev", 1000.5, 0.01, Outcome(ok=True, measurements={"uptime_seconds": 2.0})))
    for _ in collector._refresh(None):
        pass
    halfway = collector._assemble()
    for part in halfway:
        if part.startswith(b"# HELP netwatch_dev_uptime_seconds"):
            next(halfway)
            break
    halfway.close()
    m = parse_metrics(collector.render_checks())
    assert metric_value(m, "netwatch_dev_uptime_seconds", check="sw1/dev") == 2.0


async def test_exposition_parts_stay_under_the_mmap_threshold() -> None:
    """Parts of 0.5 MB were mmap'd afresh by every render (~23,000 page faults, ~50 ms of kernel time at
    50,000 checks): each part stays under glibc's default 128 KiB threshold, and together they are the text."""
    checks = [Check(f"t{i}/dev", Target(f"t{i}", "127.0.0.1"), "dev", 10.0, 5.0, AlertPolicy(), S()) for i in range(3000)]
    live = LiveView(checks)
    for c in checks:
        live.update(c, Result(c.id, c.target.id, "dev", 1000.0, 0.01, Outcome(ok=True, measurements={"uptime_seconds": 1.0})))
    collector = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)
    parts = await collector.render_checks_async()
    assert max(len(p) for p in parts) < 128 * 1024
    assert b"".join(parts) == collector.render_checks_bytes()
    assert len([line for line in b"".join(parts).split(b"\n") if line.startswith(b"netwatch_check_state{")]) == 6 * 3000


def _dev_view(n: int, at: float = 1000.0) -> tuple[LiveView, list[Check]]:
    checks = [Check(f"t{i}/dev", Target(f"t{i}", "127.0.0.1", "hall", f"Thiết bị {i}"), "dev", 10.0, 5.0,
                    AlertPolicy(), S()) for i in range(n)]
    live = LiveView(checks)
    for c in checks[: n // 2]:   # half have a result yet, as shortly after start
        live.update(c, Result(c.id, c.target.id, "dev", at, 0.01, Outcome(ok=True, measurements={"uptime_seconds": 1.0})))
    return live, checks


async def test_lines_written_ahead_give_the_cold_text_and_leave_the_scrape_only_what_came_since(monkeypatch) -> None:
    """keep_current: every line soon after start, then the checks the live view names as having a new result;
    the scrape's text is a cold render's, and it rewrites only what came after the last pass ahead."""
    import asyncio

    from netwatch.web import metrics as metrics_module
    monkeypatch.setattr(metrics_module, "SLICE_SECONDS", 0.0)
    monkeypatch.setattr(metrics_module, "WARM_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(metrics_module, "AHEAD_MIN_CHECKS", 0)
    monkeypatch.setattr(metrics_module, "AHEAD_EVERY_SECONDS", 0.01)
    live, checks = _dev_view(400)
    ahead = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)
    task = asyncio.ensure_future(ahead.keep_current())

    async def passes(n: int) -> None:
        target = ahead.renders.ahead_passes + n
        while ahead.renders.ahead_passes < target:
            await asyncio.sleep(0.005)

    await passes(1)   # every line, before any scrape
    assert ahead.renders.count == 0 and ahead.renders.ahead_cpu_seconds_total > 0
    assert live.on_result is not None
    for c in checks[100:150]:   # new values of checks written already, and first results: by the pass ahead
        live.update(c, Result(c.id, c.target.id, "dev", 1000.4, 0.03, Outcome(ok=True, measurements={"uptime_seconds": 3.0})))
    for c in checks[200:220]:
        live.update(c, Result(c.id, c.target.id, "dev", 1000.4, 0.03, Outcome(ok=True, measurements={"uptime_seconds": 3.0})))
    await passes(2)
    for c in checks[190:210]:   # after the last pass ahead: the scrape's
        live.update(c, Result(c.id, c.target.id, "dev", 1000.5, 0.02, Outcome(ok=True, measurements={"uptime_seconds": 2.0})))
    rebuilt: list[str] = []
    written: list[str] = []
    real_rebuild, real_new = NetwatchCollector._rebuild, NetwatchCollector._new_values

    def rebuild(self, cid, *args):  # type: ignore[no-untyped-def]
        rebuilt.append(cid)
        return real_rebuild(self, cid, *args)

    def new_values(self, cid, *args):  # type: ignore[no-untyped-def]
        written.append(cid)
        return real_new(self, cid, *args)

    monkeypatch.setattr(NetwatchCollector, "_rebuild", rebuild)
    monkeypatch.setattr(NetwatchCollector, "_new_values", new_values)
    task.cancel()
    first = b"".join(await ahead.render_checks_async())
    assert sorted(written) == sorted(c.id for c in checks[190:210])
    assert rebuilt == []   # 200-219 had their first result written ahead, as 100-149 their new values
    assert live.on_result is None   # the passes ahead stopped: nobody is told of results any more
    cold = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)
    assert first == b"".join(await cold.render_checks_async())
    assert ahead.renders.count == 1


async def test_passes_ahead_stop_without_scrapes_and_resume_with_them(monkeypatch) -> None:
    import asyncio

    from netwatch.web import metrics as metrics_module
    monkeypatch.setattr(metrics_module, "WARM_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(metrics_module, "AHEAD_MIN_CHECKS", 0)
    monkeypatch.setattr(metrics_module, "AHEAD_EVERY_SECONDS", 0.01)
    monkeypatch.setattr(metrics_module, "WARM_FOR_SECONDS", 0.05)
    monkeypatch.setattr(metrics_module, "AHEAD_IDLE_SECONDS", 0.2)
    live, checks = _dev_view(50)
    collector = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)
    task = asyncio.ensure_future(collector.keep_current())
    try:
        await asyncio.sleep(0.15)   # nobody scrapes: the passes stop once WARM_FOR_SECONDS is up
        idle = collector.renders.ahead_passes
        assert 1 <= idle <= 8
        await asyncio.sleep(0.1)
        assert collector.renders.ahead_passes == idle
        collector.render_checks()   # scrapes come: the passes resume
        await asyncio.sleep(0.1)
        assert collector.renders.ahead_passes > idle
        await asyncio.sleep(0.3)   # and stop again when they stop coming
        stopped = collector.renders.ahead_passes
        await asyncio.sleep(0.1)
        assert collector.renders.ahead_passes == stopped
    finally:
        task.cancel()



async def test_passes_ahead_run_only_for_enough_checks(monkeypatch) -> None:
    """A small site's scrape writes its own lines (passes would only add CPU to every result): below
    AHEAD_MIN_CHECKS no pass at all and results cost no bookkeeping, scraped or not."""
    import asyncio

    from netwatch.web import metrics as metrics_module
    monkeypatch.setattr(metrics_module, "SLICE_SECONDS", 0.0)
    monkeypatch.setattr(metrics_module, "WARM_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(metrics_module, "AHEAD_EVERY_SECONDS", 0.01)
    monkeypatch.setattr(metrics_module, "AHEAD_MIN_CHECKS", 51)
    live, checks = _dev_view(50)
    collector = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)
    task = asyncio.ensure_future(collector.keep_current())
    try:
        await asyncio.sleep(0.1)
        assert collector.renders.ahead_passes == 0 and live.on_result is None
        collector.render_checks()
        await asyncio.sleep(0.1)
        assert collector.renders.ahead_passes == 0 and live.on_result is None
        monkeypatch.setattr(metrics_module, "AHEAD_MIN_CHECKS", 50)   # as many checks as the threshold
        await asyncio.sleep(0.1)
        assert collector.renders.ahead_passes >= 1 and live.on_result is not None
    finally:
        task.cancel()


def test_target_info_of_a_cold_render_is_written_in_short_slices() -> None:
    """50,000 new targets (the first render, the warm-up after start): by 512 targets a step held the loop
    ~50 ms; now the target lines yield by time like the check lines (every 32 targets at most, here)."""
    live, _ = _dev_view(1000)
    collector = NetwatchCollector(lambda: live, lambda: None, probes=KINDS, clock=lambda: 1001.0)
    steps = sum(1 for _ in collector._refresh_targets(list(live.views.values()), 0.0))
    assert steps >= 1000 // 32
    assert len(collector._target_lines) == 1000
    assert sum(1 for _ in collector._refresh_targets(list(live.views.values()), None)) == 0
