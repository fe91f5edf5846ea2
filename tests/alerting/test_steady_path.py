"""The shortcuts for a result that changes nothing (the live view's skipped step, the decider's steady check)
give what the full path gives, run after run: states, transitions, decisions, pages, stored rows, /metrics."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.exposition import generate_latest

import netwatch.alerting.decide as decide_module
import netwatch.live as live_module
from netwatch.alerting.decide import FlapNotice
from netwatch.alerting.state import CheckState, step
from netwatch.app import Monitor
from netwatch.config import loads
from netwatch.live import LiveView
from netwatch.model import AlertPolicy, Check, Outcome, Result, State, Target
from netwatch.store import Store
from netwatch.web.metrics import NetwatchCollector, registry_for

START = 1767200000.0                  # 2026-01-01T00:00+07:00 is START + 400 (the window below)

CONFIG = """
store: "{store}"
zones: [{{id: hall, name: Hall}}]
channels:
  chat: {{urls: ["json://127.0.0.1:9/chat"]}}
  sms: {{urls: ["json://127.0.0.1:9/sms"]}}
escalation:
  warning: [{{after: 0s, notify: [chat]}}]
  critical:
    - {{after: 0s, notify: [chat, sms]}}
    - {{after: 5m, notify: [sms]}}
defaults:
  interval: 10s
  timeout: 5s
  alert: {{fail_after: 2, recover_after: 1}}
paging:
  flapping: {{window: {window}, high: 0.5, low: 0.25}}
{maintenance}
targets:
  - {{id: router, host: 127.0.0.1, zone: hall, checks: [{{kind: tcp, port: 1}}]}}
  - {{id: router2, host: 127.0.0.1, checks: [{{kind: tcp, port: 4}}]}}
  - id: sw
    host: 127.0.0.1
    zone: hall
    depends_on: [router, router2]
    checks:
      - {{kind: tcp, port: 2}}
      - {{kind: tcp, port: 3, id: sw-quiet, alert: {{notify: []}}}}
  - {{id: web, host: 127.0.0.1, checks: [{{kind: tcp, port: 5}}]}}
  - {{id: cam, host: 127.0.0.1, zone: hall, checks: [{{kind: tcp, port: 6, alert: {{recover_after: {recover}}}}}]}}
  - {{id: ups, host: 127.0.0.1, checks: [{{kind: tcp, port: 7, alert: {{flap_detection: false}}}}]}}
"""
CHECKS = ["router/tcp", "router2/tcp", "sw/tcp", "sw-quiet", "web/tcp", "cam/tcp", "ups/tcp"]


WINDOW = """maintenance:
  - {start: "2026-01-01T00:00+07:00", end: "2026-01-01T00:30+07:00", checks: [web/tcp]}"""


def config_text(tmp_path: Path, window: int = 6, recover: int = 3, maintenance: bool = True) -> str:
    return CONFIG.format(store=tmp_path / "nw.db", window=window, recover=recover,
                         maintenance=WINDOW if maintenance else "")


class Never(set):  # type: ignore[type-arg]
    """A `Decider.steady` that holds nothing: every result takes the decider's whole path."""

    def __contains__(self, item: object) -> bool:
        return False


def steady_by_definition(m: Monitor) -> set[str]:
    d = m.paging.decider
    return {c.id for c in m.config.checks if d.eff.get(c.id) is State.UP and d.flaps.get(c.id) is d.steady_flaps
            and c.target.id not in d.children}


def full_path(m: Monitor) -> Monitor:
    """`m` with both shortcuts off: every result through step() and the decider's whole path."""
    real_update = m.live.update

    def update(check: Check, result: Result, parent_id: str | None = None) -> Any:
        view = m.live.views.get(check.id)
        if view is not None:
            view.steady = None
        return real_update(check, result, parent_id)

    m.live.update = update  # type: ignore[method-assign]
    m.paging.decider.steady = Never()
    return m


def outcome_in(regime: str, rng: random.Random) -> Outcome:
    if regime == "steady":
        return Outcome(ok=True, measurements={"rtt_avg_seconds": 0.001})
    if regime == "lossy":
        return (Outcome(ok=True, degraded="packet_loss", detail="2 of 3 echoes lost") if rng.random() < 0.3
                else Outcome(ok=True))
    if regime == "flapping":
        return Outcome(ok=True) if rng.random() < 0.5 else Outcome.fail("timeout", "no reply")
    return Outcome.fail("refused", "no")


def history(m: Monitor, now: float) -> dict[str, object]:
    def rows(sql: str) -> list[tuple[object, ...]]:
        with m.store.lock:
            return m.store.conn.execute(sql).fetchall()
    collector = NetwatchCollector(lambda: m.live, lambda: None, clock=lambda: now)
    return {
        "transitions": rows("SELECT check_id, ts, since, from_state, to_state, error, detail, cause FROM transitions "
                            "ORDER BY id"),
        "incidents": rows("SELECT check_id, state, since FROM incidents ORDER BY id"),
        "outbox": rows("SELECT i.check_id, o.channel, o.kind FROM outbox o JOIN incidents i ON i.id = o.incident_id "
                       "ORDER BY o.id"),
        "held": rows("SELECT * FROM held_pages ORDER BY check_id"),
        "results": rows("SELECT check_id, ts, ok, degraded, error, latency_seconds FROM results "
                        "ORDER BY check_id, ts"),
        "shown": {cid: (v.state, v.overlay, v.result) for cid, v in m.live.views.items()},
        "decider": (dict(m.paging.decider.eff), m.paging.decider.flaps, set(m.paging.decider.held),
                    m.paging.decider.quiet),
        "metrics": generate_latest(registry_for(collector)).decode().splitlines(),
    }


@pytest.mark.parametrize("maintenance", [True, False], ids=["with-a-window", "no-window"])
async def test_the_shortcuts_decide_store_and_show_what_the_full_path_does(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch,
                                                                           maintenance: bool) -> None:
    """With a maintenance window set, no result skips the decider; with none, a batch's quiet results skip both
    update() and the decider (LiveView.update_quiet): either way what is decided, stored and shown is the same."""
    calls = {"step": 0, "observe": 0, "update": 0}

    def counted(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(live_module, "step", counted("step", live_module.step))
    monkeypatch.setattr(decide_module, "observe", counted("observe", decide_module.observe))
    now = [START]
    monitors = []
    for name in ("fast", "full"):
        (tmp_path / name).mkdir()
        config = loads(config_text(tmp_path / name, maintenance=maintenance))
        monitors.append((Monitor(config, Store.open(config.store), clock=lambda: now[0]), tmp_path / name))
    (fast, fast_dir), (full, full_dir) = monitors
    fast.live.update = counted("update", fast.live.update)  # type: ignore[method-assign]
    full_path(full)
    submitted: dict[str, list[object]] = {"fast": [], "full": []}
    for name, m in (("fast", fast), ("full", full)):
        real_submit = m.recorder.submit

        def submit(decision: Any, fence: Any = None, real: Any = real_submit, seen: list[object] = submitted[name]
                   ) -> None:
            if decision:
                seen.append(decision)
            real(decision, fence)
        m.recorder.submit = submit  # type: ignore[method-assign]

    rng = random.Random(18)
    regimes = {cid: "steady" for cid in CHECKS}
    results = 0
    were_steady: set[str] = set()
    for n in range(360):
        ts = START + 10.0 * n
        now[0] = ts + 0.5
        if n == 200:   # a reload (its paging and live view part): another flapping window and recover_after
            for m, work in ((fast, fast_dir), (full, full_dir)):
                m.config = loads(config_text(work, window=9, recover=1, maintenance=maintenance))
                m.live.apply(m.config.checks)
                m.paging.decider.reload(m.config)
            full_path(full)
        for cid in CHECKS:
            if rng.random() < 0.04:
                regimes[cid] = rng.choice(["steady", "steady", "steady", "lossy", "flapping", "down"])
        outcomes = {cid: outcome_in(regimes[cid], rng) for cid in CHECKS}
        one_by_one = rng.random() < 0.2   # the probe() path hands results over one at a time
        for m in (fast, full):
            pairs = [(c, Result(c.id, c.target.id, c.kind, ts, 0.01, outcomes[c.id]))
                     for c in (m.config.check(cid) for cid in CHECKS) if c is not None]
            if one_by_one:
                for check, result in pairs:
                    m.path.handle(check, result)
            else:
                m.path.handle_batch(pairs)
        results += len(CHECKS)
        if n % 20 == 19:
            for m in (fast, full):
                await m.paging.tick()
                await m.recorder.flush()
            expected, got = history(full, now[0]), history(fast, now[0])
            assert got == expected, f"after {n + 1} rounds"
            assert submitted["fast"] == submitted["full"]
            assert fast.paging.decider.steady == steady_by_definition(fast)
            were_steady |= fast.paging.decider.steady
    transitions: Any = history(full, now[0])["transitions"]
    assert {t[4] for t in transitions} >= {"down", "up", "degraded", "unreachable"} | (
        {"maintenance"} if maintenance else set())
    items = [item for d in submitted["full"] for item in d.items]  # type: ignore[attr-defined]
    assert any(isinstance(item, FlapNotice) for item in items)
    # the shortcuts were taken: the fast monitor skipped step() and observe() for many results
    assert were_steady >= {"sw/tcp", "web/tcp", "cam/tcp"}
    assert calls["step"] < 2 * results - results // 4
    # without a window, many of the fast monitor's batched results never reached update() (update_quiet took them)
    if maintenance:
        assert calls["update"] >= results
    else:
        assert calls["update"] < results - results // 10
    assert calls["observe"] < 2 * results - results // 4
    for m in (fast, full):
        m.store.close()


def test_the_live_views_shortcut_keeps_steps_state_and_its_policy() -> None:
    """Run after run, whatever the policy of the check object the result comes with."""
    target = Target("t", "127.0.0.1")
    lenient = Check("t/x", target, "tcp", 10.0, 5.0, AlertPolicy(fail_after=2, recover_after=1), None)
    strict = replace(lenient, alert=AlertPolicy(fail_after=3, recover_after=4))
    live = LiveView([lenient])
    rng = random.Random(7)
    expected = CheckState()
    skipped = 0
    for n in range(3000):
        check = lenient if (n // 50) % 3 else strict   # the same check id, a stricter policy now and then
        if n % 700 == 699:
            live.apply([check])                         # a reload: a new view for the check
        r = rng.random()
        outcome = (Outcome(ok=True) if r < 0.85 else Outcome(ok=True, degraded="rtt") if r < 0.93
                   else Outcome.fail("timeout"))
        result = Result("t/x", "t", "tcp", float(n), 0.01, outcome)
        view = live.views["t/x"]
        skipped += view.state is view.steady and check is view.check
        expected, changed = step(expected, outcome.ok, outcome.degraded is not None, outcome.error, float(n),
                                 check.alert)
        transition = live.update(check, result)
        assert live.views["t/x"].state == expected, n
        assert (transition.to_state, transition.since) == changed if transition else changed is None
        assert live.views["t/x"].result is result
    assert skipped > 1000


def test_an_up_check_on_a_full_window_decides_nothing_without_observing(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    config = loads(config_text(tmp_path))
    m = Monitor(config, Store.open(config.store), clock=lambda: START)
    check = config.check("web/tcp")
    assert check is not None
    for n in range(6):
        m.path.handle(check, Result(check.id, "web", "tcp", START - 100 + n, 0.01, Outcome(ok=True)))
    decider = m.paging.decider
    assert decider.flaps[check.id] is decider.steady_flaps and check.id in decider.steady

    def observe(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("observe() called for a result that changes nothing")

    monkeypatch.setattr(decide_module, "observe", observe)
    result = Result(check.id, "web", "tcp", START - 50, 0.01, Outcome(ok=True))
    assert not m.paging.decide(check, result, m.live.update(check, result))
    m.store.close()
