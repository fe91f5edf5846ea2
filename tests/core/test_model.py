"""The hot path's constructors build exactly what the frozen dataclasses build."""

from __future__ import annotations

import dataclasses

import pytest

from netwatch.model import NO_CHILDREN, Outcome, Result, build_ok_outcome, build_outcome, build_result


def test_build_outcome_equals_the_dataclass() -> None:
    measurements = {"rtt_avg_seconds": 0.001}
    fast = build_outcome(True, None, "", measurements)
    assert fast == Outcome(True, None, "", measurements)
    assert build_outcome(True, None, "x", measurements, "rtt") == Outcome(True, degraded="rtt", detail="x",
                                                                          measurements=measurements)
    assert build_outcome(False, "timeout", "no reply", {}) == Outcome(False, "timeout", "no reply", {})
    assert fast.children is NO_CHILDREN and fast.series == () and fast.events == ()
    ok = build_ok_outcome(measurements)
    assert ok == Outcome(True, measurements=measurements) and ok.measurements is measurements
    assert ok.children is NO_CHILDREN and vars(ok) is not vars(build_ok_outcome({}))   # no fields shared


def test_build_result_equals_the_dataclass() -> None:
    outcome = Outcome(True)
    assert (build_result("c", "t", "icmp", 10.0, 0.2, outcome, 0.01)
            == Result("c", "t", "icmp", 10.0, 0.2, outcome, 0.01))


@pytest.mark.parametrize("cls, built", [
    (Outcome, lambda: build_outcome(True, None, "", {})),
    (Outcome, lambda: build_ok_outcome({})),
    (Result, lambda: build_result("c", "t", "icmp", 1.0, 0.1, Outcome(True), 0.0)),
])
def test_every_field_is_set_and_the_object_stays_frozen(cls: type, built: object) -> None:
    # A field added to the dataclass must be added to its builder too: its attribute would be missing here.
    obj = built()  # type: ignore[operator]
    assert set(vars(obj)) == {f.name for f in dataclasses.fields(cls)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.kind = "x"  # type: ignore[attr-defined]
