"""Table tests of topology: parent status against a child's outage, the page hold and its bound."""

from __future__ import annotations

import pytest

from netwatch.alerting.topology import ParentCheck, effective, hold_page, hold_seconds, hold_verdict, target_status
from netwatch.model import State

D, U, UN, UR, DG = State.DOWN, State.UP, State.UNKNOWN, State.UNREACHABLE, State.DEGRADED


@pytest.mark.parametrize("checks, since, status", [
    ([], None, "unknown"),                                     # unmonitored or disabled parent never suppresses
    ([], 10.0, "unknown"),
    ([ParentCheck(UN)], None, "unknown"),                      # never reported
    ([ParentCheck(UN)], 10.0, "suspect"),                      # not reported since a restart: wait (bounded)
    ([ParentCheck(D, 3, 9.0)], 10.0, "down"),
    ([ParentCheck(UR, 0, 9.0), ParentCheck(D, 3, 9.0)], None, "down"),
    ([ParentCheck(U, 1, 9.5)], None, "suspect"),               # failing now, not yet confirmed
    ([ParentCheck(UN, 1, 9.5)], 10.0, "suspect"),              # first results after a start, failing
    ([ParentCheck(U, 0, 9.5)], None, "up"),
    ([ParentCheck(U, 0, 9.5)], 10.0, "suspect"),               # last answer predates the child's outage
    ([ParentCheck(U, 0, 10.0)], 10.0, "up"),                   # answered since: proven up
    ([ParentCheck(DG, 0, 11.0)], 10.0, "up"),                  # slow is up
    ([ParentCheck(D, 3, 11.0), ParentCheck(U, 0, 11.0)], 10.0, "up"),   # one of its checks still answers
    ([ParentCheck(D, 3, 11.0), ParentCheck(U, 2, 11.0)], 10.0, "suspect"),
    ([ParentCheck(D, 3, 11.0), ParentCheck(U, 0, 9.0)], 10.0, "suspect"),
])
def test_target_status(checks: list[ParentCheck], since: float | None, status: str) -> None:
    assert target_status(checks, since) == status


@pytest.mark.parametrize("state, parents, held", [
    (D, {}, False),                                            # no parents: page at once
    (D, {"r": "suspect"}, True),
    (D, {"r": "down"}, False),                                 # effective() already made it unreachable
    (D, {"r1": "down", "r2": "suspect"}, True),
    (D, {"r1": "suspect", "r2": "up"}, False),                 # dual uplinks: one up, can never be suppressed
    (D, {"r1": "suspect", "r2": "unknown"}, False),            # an unknown parent never suppresses, so no wait
    (D, {"r": "up"}, False),
    (DG, {"r": "suspect"}, False),                             # only outages wait
    (UR, {"r": "suspect"}, False),
])
def test_hold_page(state: State, parents: dict[str, str], held: bool) -> None:
    assert hold_page(state, parents) is held  # type: ignore[arg-type]


@pytest.mark.parametrize("parents, now, verdict", [
    ({"r": "suspect"}, 100.0, "hold"),
    ({"r": "suspect"}, 103.4, "hold"),
    ({"r": "suspect"}, 103.5, "page"),                        # bound reached: a real outage of its own
    ({"r": "down"}, 100.5, "unreachable"),                    # parent confirmed: the root cause pages
    ({"r": "down"}, 200.0, "unreachable"),
    ({"r": "up"}, 100.5, "page"),                             # parent answered: page now
    ({"r1": "down", "r2": "suspect"}, 101.0, "hold"),
    ({"r1": "down", "r2": "down"}, 101.0, "unreachable"),
    ({"r1": "down", "r2": "up"}, 101.0, "page"),              # dual uplinks: one up
    ({"r": "unknown"}, 100.5, "page"),                        # parent disabled meanwhile
    ({}, 100.5, "page"),
])
def test_hold_verdict_with_clock(parents: dict[str, str], now: float, verdict: str) -> None:
    deadline = 100.0 + hold_seconds([(1.0, 3, 0.5)])
    assert hold_verdict(parents, now, deadline) == verdict  # type: ignore[arg-type]


@pytest.mark.parametrize("checks, bound", [
    ([], 0.0),                                                 # no parent checks: nothing to wait for
    ([(1.0, 3, 0.5)], 3.5),
    ([(60.0, 3, 5.0), (10.0, 2, 2.0)], 185.0),                # the slowest parent check sets the bound
    ([(1.0, 1, 0.8)], 1.8),
])
def test_hold_seconds(checks: list[tuple[float, int, float]], bound: float) -> None:
    assert hold_seconds(checks) == pytest.approx(bound)


@pytest.mark.parametrize("parents, hold, expected", [
    ({"r": "suspect"}, False, (D, None)),                      # recorded down at once; only the page waits
    ({"r1": "down", "r2": "suspect"}, False, (D, None)),
    ({"r": "suspect"}, True, (UR, "r")),                      # already unreachable: stays so while suspect
])
def test_effective_with_suspect_parents(parents: dict[str, str], hold: bool,
                                         expected: tuple[State, str | None]) -> None:
    assert effective(D, False, parents, hold) == expected  # type: ignore[arg-type]
