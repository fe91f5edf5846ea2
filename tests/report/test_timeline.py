"""Uptime maths on hand-built timelines with exact expected numbers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netwatch.alerting.state import CheckState, step
from netwatch.model import AlertPolicy, State
from netwatch.report.timeline import (Change, Coverage, availability, outage_ms_within, outages, segments,
                                      state_ms)

S = 1000  # ms per second: the tests speak seconds


def ch(since: float, state: State, cause: str | None = None, error: str | None = None) -> Change:
    return Change(int(since * S), int(since * S), state, error or ("timeout" if state is State.DOWN else None),
                  "", cause)


def secs(ms: dict[State, int]) -> dict[str, float]:
    return {s.value: v / S for s, v in ms.items() if v}


ALWAYS = Coverage([(0, 10_000 * S)])


def test_simple_outage() -> None:
    segs = segments([ch(0, State.UP), ch(100, State.DOWN), ch(400, State.UP)])
    ms = state_ms(segs, ALWAYS, 0, 1000 * S)
    assert secs(ms) == {"up": 700, "down": 300}
    assert availability(ms) == pytest.approx(0.7)
    [o] = outages(segs)
    assert (o.start_ms, o.end_ms, o.error) == (100 * S, 400 * S, "timeout")


def test_window_starts_mid_outage() -> None:
    segs = segments([ch(0, State.UP), ch(100, State.DOWN), ch(400, State.UP)])
    ms = state_ms(segs, ALWAYS, 200 * S, 1000 * S)
    assert secs(ms) == {"up": 600, "down": 200}
    [o] = outages(segs)
    assert o.start_ms == 100 * S  # the real start, before the window
    assert outage_ms_within(o, ALWAYS, 200 * S, 1000 * S) == 200 * S


def test_window_ends_mid_outage() -> None:
    segs = segments([ch(0, State.UP), ch(100, State.DOWN), ch(400, State.UP)])
    ms = state_ms(segs, ALWAYS, 0, 300 * S)
    assert secs(ms) == {"up": 100, "down": 200}
    [o] = outages(segs)
    assert o.end_ms == 400 * S  # known from history after the window
    assert outage_ms_within(o, ALWAYS, 0, 300 * S) == 200 * S


def test_ongoing_outage_has_no_end() -> None:
    segs = segments([ch(0, State.UP), ch(100, State.DOWN)])
    [o] = outages(segs)
    assert o.end_ms is None
    assert secs(state_ms(segs, ALWAYS, 0, 1000 * S)) == {"up": 100, "down": 900}


def test_maintenance_overlapping_an_outage() -> None:
    """Down at 100, maintenance declared 200-300 while still failing, recovered at 500."""
    segs = segments([ch(0, State.UP), ch(100, State.DOWN), ch(200, State.MAINTENANCE), ch(300, State.DOWN),
                     ch(500, State.UP)])
    ms = state_ms(segs, ALWAYS, 0, 1000 * S)
    assert secs(ms) == {"up": 600, "down": 300, "maintenance": 100}
    assert availability(ms) == pytest.approx(600 / 900)
    [o] = outages(segs)  # one outage, bridged over the maintenance
    assert (o.start_ms, o.end_ms) == (100 * S, 500 * S)
    assert outage_ms_within(o, ALWAYS, 0, 1000 * S) == 300 * S


def test_maintenance_ending_an_outage_closes_it() -> None:
    segs = segments([ch(0, State.UP), ch(100, State.DOWN), ch(200, State.MAINTENANCE), ch(300, State.UP)])
    [o] = outages(segs)
    assert (o.start_ms, o.end_ms) == (100 * S, 200 * S)


def test_monitoring_gap_is_unknown_never_up() -> None:
    runs = Coverage([(0, 400 * S), (600 * S, 1000 * S)])
    segs = segments([ch(0, State.UP), ch(300, State.DOWN), ch(700, State.UP)])
    ms = state_ms(segs, runs, 0, 1000 * S)
    assert secs(ms) == {"up": 600, "down": 200, "unknown": 200}
    assert availability(ms) == pytest.approx(600 / 800)
    [o] = outages(segs)
    assert (o.start_ms, o.end_ms) == (300 * S, 700 * S)
    assert outage_ms_within(o, runs, 0, 1000 * S) == 200 * S
    assert runs.gaps(0, 1000 * S) == [(400 * S, 600 * S)]


def test_phase_boundary_inside_an_outage() -> None:
    segs = segments([ch(0, State.UP), ch(400, State.DOWN), ch(600, State.UP)])
    first = state_ms(segs, ALWAYS, 0, 500 * S)
    second = state_ms(segs, ALWAYS, 500 * S, 1000 * S)
    assert secs(first) == {"up": 400, "down": 100}
    assert secs(second) == {"up": 400, "down": 100}
    [o] = outages(segs)
    assert outage_ms_within(o, ALWAYS, 0, 500 * S) == outage_ms_within(o, ALWAYS, 500 * S, 1000 * S) == 100 * S


def test_unreachable_counts_against_the_child_and_names_the_parent() -> None:
    segs = segments([ch(0, State.UP), ch(100, State.UNREACHABLE, cause="core-router"), ch(300, State.UP)])
    ms = state_ms(segs, ALWAYS, 0, 1000 * S)
    assert secs(ms) == {"up": 800, "unreachable": 200}
    assert availability(ms) == pytest.approx(0.8)
    [o] = outages(segs)
    assert o.cause == "core-router"


def test_down_then_unreachable_is_one_outage() -> None:
    segs = segments([ch(0, State.UP), ch(100, State.DOWN), ch(150, State.UNREACHABLE, cause="sw1"),
                     ch(300, State.UP)])
    [o] = outages(segs)
    assert (o.start_ms, o.end_ms, o.cause, o.error) == (100 * S, 300 * S, "sw1", "timeout")


def test_time_before_the_first_result_is_unknown() -> None:
    segs = segments([ch(100, State.UP)])
    assert secs(state_ms(segs, ALWAYS, 0, 1000 * S)) == {"up": 900, "unknown": 100}
    assert availability(state_ms(segments([]), ALWAYS, 0, 1000 * S)) is None


def test_degraded_counts_as_available() -> None:
    segs = segments([ch(0, State.UP), ch(100, State.DEGRADED), ch(200, State.UP)])
    ms = state_ms(segs, ALWAYS, 0, 1000 * S)
    assert secs(ms) == {"up": 900, "degraded": 100}
    assert availability(ms) == 1.0
    assert outages(segs) == []


def test_a_blip_shorter_than_fail_after_is_not_an_outage() -> None:
    """Feed real results through the state machine: two failures with fail_after 3 change nothing."""
    policy = AlertPolicy(fail_after=3, recover_after=2)
    cs = CheckState()
    changes = []
    for t, ok in [(0, True), (30, True), (60, False), (90, False), (120, True), (150, True), (180, False),
                  (210, False), (240, False), (270, True), (300, True), (330, True)]:
        cs, changed = step(cs, ok, False, None if ok else "timeout", float(t), policy)
        if changed:
            changes.append(Change(int(changed[1] * S), t * S, changed[0], None if ok else "timeout"))
    segs = segments(changes)
    [o] = outages(segs)
    assert (o.start_ms, o.end_ms) == (180 * S, 270 * S)  # dated from the first failing result
    assert secs(state_ms(segs, ALWAYS, 0, 360 * S)) == {"up": 270, "down": 90}


def test_since_running_backwards_is_clamped() -> None:
    segs = segments([Change(100 * S, 100 * S, State.UP), Change(50 * S, 200 * S, State.DOWN),
                     Change(300 * S, 300 * S, State.UP)])
    assert secs(state_ms(segs, ALWAYS, 0, 400 * S)) == {"unknown": 100, "down": 200, "up": 100}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2000), st.sampled_from(list(State))), max_size=30),
       st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 500)), max_size=6),
       st.integers(0, 1500), st.integers(1, 1500))
def test_states_add_up_to_the_window_exactly(changes: list[tuple[int, State]], runs: list[tuple[int, int]],
                                             a: int, length: int) -> None:
    segs = segments([Change(t, t, s) for t, s in changes])
    cov = Coverage([(s, s + n) for s, n in runs])
    ms = state_ms(segs, cov, a, a + length)
    assert sum(ms.values()) == length
    assert all(v >= 0 for v in ms.values())
    down = ms[State.DOWN] + ms[State.UNREACHABLE]
    assert sum(outage_ms_within(o, cov, a, a + length) for o in outages(segs)) == down


def test_lifting_maintenance_does_not_rewrite_it() -> None:
    """The engine dates the state under an overlay from when it began, even inside the overlay."""
    segs = segments([ch(0, State.UP), Change(100 * S, 160 * S, State.DOWN, "timeout"),
                     Change(200 * S, 200 * S, State.MAINTENANCE),
                     Change(100 * S, 300 * S, State.DOWN, "timeout"),   # maintenance ends, still down since 100
                     Change(500 * S, 530 * S, State.UP)])
    ms = state_ms(segs, ALWAYS, 0, 1000 * S)
    assert secs(ms) == {"up": 600, "down": 300, "maintenance": 100}
    [o] = outages(segs)
    assert (o.start_ms, o.end_ms) == (100 * S, 500 * S)


def test_lifting_unreachable_back_to_an_old_up() -> None:
    """Parent back: the child returns to the `up` its own streak never left; unreachable still counts."""
    segs = segments([ch(0, State.UP), Change(100 * S, 100 * S, State.UNREACHABLE, "timeout", "", "core"),
                     Change(0, 300 * S, State.UP)])
    ms = state_ms(segs, ALWAYS, 0, 1000 * S)
    assert secs(ms) == {"up": 800, "unreachable": 200}
    [o] = outages(segs)
    assert (o.start_ms, o.end_ms, o.cause) == (100 * S, 300 * S, "core")
