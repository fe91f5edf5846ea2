"""The health state machine, driven by tables of results with explicit times."""

from __future__ import annotations

import pytest

from netwatch.alerting.state import CheckState, step
from netwatch.model import AlertPolicy, State

POLICY = AlertPolicy(fail_after=3, recover_after=2)


def run(results: str, policy: AlertPolicy = POLICY, start: CheckState | None = None
        ) -> tuple[CheckState, list[tuple[float, State, float]]]:
    """results: one char per result at t=10,20,...: '.' ok, 'w' warn (degraded), 'x' fail."""
    cs = start or CheckState()
    changes = []
    for i, ch in enumerate(results):
        ts = 10.0 * (i + 1)
        cs, changed = step(cs, ch != "x", ch == "w", "timeout" if ch == "x" else None, ts, policy)
        if changed:
            changes.append((ts, changed[0], changed[1]))
    return cs, changes


@pytest.mark.parametrize("results, expected", [
    # first result decides up/degraded at once
    (".", [(10, State.UP, 10)]),
    ("w", [(10, State.DEGRADED, 10)]),
    # a blip shorter than fail_after is not an outage
    (".xx.", [(10, State.UP, 10)]),
    # down is confirmed at the 3rd failure and dated from the 1st
    (".xxx", [(10, State.UP, 10), (40, State.DOWN, 20)]),
    # recovery needs 2 oks and is dated from the first of them
    (".xxx..", [(10, State.UP, 10), (40, State.DOWN, 20), (60, State.UP, 50)]),
    # a single ok inside an outage does not end it
    (".xxx.x.", [(10, State.UP, 10), (40, State.DOWN, 20)]),
    # never-up target: unknown until fail_after, then down dated from the first failure
    ("xxx", [(30, State.DOWN, 10)]),
    ("xx", []),
    # warnings: degraded after fail_after warnings, up after recover_after clean results
    (".www", [(10, State.UP, 10), (40, State.DEGRADED, 20)]),
    (".ww.w", [(10, State.UP, 10)]),
    (".www.w..", [(10, State.UP, 10), (40, State.DEGRADED, 20), (80, State.UP, 70)]),
    # recovering from down into a degraded state
    ("xxxww", [(30, State.DOWN, 10), (50, State.DEGRADED, 40)]),
])
def test_truth_table(results: str, expected: list[tuple[float, State, float]]) -> None:
    assert run(results)[1] == expected


def test_fail_after_one_pages_on_first_failure() -> None:
    assert run(".x", AlertPolicy(fail_after=1, recover_after=1))[1] == [(10, State.UP, 10), (20, State.DOWN, 20)]


def test_restored_down_state_needs_no_new_down() -> None:
    cs, changes = run("xxxx", start=CheckState(state=State.DOWN, since=1.0))
    assert changes == [] and cs.state is State.DOWN and cs.since == 1.0


def test_error_of_last_failure_is_kept() -> None:
    cs, _ = run(".xxx")
    assert cs.error == "timeout" and cs.fail_streak == 3


def test_an_up_check_staying_up_keeps_its_state_object_and_every_later_change() -> None:
    # The common case costs no new state: the same object comes back once the streaks passed their bars.
    cs, _ = run("...")
    again, changed = step(cs, True, False, None, 100.0, POLICY)
    assert again is cs and changed is None
    # ...and nothing after a long quiet spell differs from the table: a blip, an outage dated from its first
    # failure, a recovery dated from its first ok, a warning spell and its clearing.
    cs, changes = run("." * 50 + "xx." + "xxx" + ".." + "www" + "..")
    assert changes == [(10, State.UP, 10), (560, State.DOWN, 540), (580, State.UP, 570),
                       (610, State.DEGRADED, 590), (630, State.UP, 620)]
    # a reload raising recover_after while up: the outage after it still needs that many oks to end
    cs, _ = run("." * 20)
    _, changes = run("xxx.....", AlertPolicy(fail_after=3, recover_after=5), cs)
    assert changes == [(30, State.DOWN, 10), (80, State.UP, 40)]
