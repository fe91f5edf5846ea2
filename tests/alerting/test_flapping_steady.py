"""observe() keeps a steady check's FlapState object and still decides exactly as the full rule."""

from __future__ import annotations

import random

from netwatch.alerting.flapping import FlapState, observe, score


def reference(fs: FlapState, ok: bool, window: int, high: float, low: float,
              degraded: bool) -> tuple[FlapState, str | None]:
    kind = "fail" if not ok else "degraded" if degraded else "up"
    history = (fs.history + (kind,))[-window:]
    value = score(history, window)
    if not fs.flapping and value >= high:
        return FlapState(history, True), "start"
    if fs.flapping and value < low:
        return FlapState(history, False), "stop"
    return FlapState(history, fs.flapping), None


def test_same_decisions_as_the_full_rule_on_random_runs() -> None:
    rng = random.Random(18)
    for _ in range(200):
        window = rng.choice([2, 5, 21])
        fs = ref = FlapState()
        steady = rng.random()
        for _ in range(120):
            ok = rng.random() < steady or rng.random() < 0.5
            degraded = ok and rng.random() < 0.05
            fs, change = observe(fs, ok, window, 0.5, 0.25, degraded=degraded)
            ref, ref_change = reference(ref, ok, window, 0.5, 0.25, degraded)
            assert (fs, change) == (ref, ref_change)


def test_a_steady_check_keeps_its_state_object() -> None:
    fs = FlapState()
    for _ in range(21):
        fs, _ = observe(fs, True, 21, 0.5, 0.25)
    again, change = observe(fs, True, 21, 0.5, 0.25)
    assert again is fs and change is None
    moved, _ = observe(fs, False, 21, 0.5, 0.25)
    assert moved is not fs and moved.history[-1] == "fail"


def test_a_steady_check_filling_its_window_shares_its_history() -> None:
    """Until the window is full, a check that never changed holds a history tuple shared with every other
    such check: 50,000 checks' RSS no longer rises for their first `window` results."""
    a = b = FlapState()
    for n in range(1, 31):
        a, change_a = observe(a, True, 30, 0.2, 0.1)
        b, change_b = observe(b, True, 30, 0.2, 0.1)
        assert change_a is change_b is None and len(a.history) == n
        assert a.history is b.history
    assert observe(a, True, 30, 0.2, 0.1)[0] is a
    c, _ = observe(a, False, 30, 0.2, 0.1)
    assert c.history is not a.history and c.history[-1] == "fail"
