"""The result path's batch hand-over (the icmp batch path) decides, shows and records what one-by-one does."""

from __future__ import annotations

from pathlib import Path

from netwatch.app import Monitor
from netwatch.model import Outcome, Result
from tests.alerting.test_engine import monitor, rows

STEPS: list[tuple[float, dict[str, bool]]] = [
    (1.0, {"router/tcp": True, "router2/tcp": True, "sw/tcp": True, "sw-quiet": True}),
    (2.0, {"router/tcp": True, "router2/tcp": True, "sw/tcp": True, "sw-quiet": True}),
    (3.0, {"router2/tcp": True, "router/tcp": False, "sw/tcp": False, "sw-quiet": False}),
    (4.0, {"router2/tcp": True, "router/tcp": False, "sw/tcp": False, "sw-quiet": False}),
    (5.0, {"router2/tcp": False, "router/tcp": False, "sw/tcp": False, "sw-quiet": False}),
    (6.0, {"router2/tcp": True, "router/tcp": True, "sw/tcp": True, "sw-quiet": True}),
]


def results_at(m: Monitor, ts: float, oks: dict[str, bool]) -> list[tuple[object, Result]]:
    out = []
    for cid, ok in oks.items():
        check = m.config.check(cid)
        assert check is not None
        outcome = Outcome(ok=True) if ok else Outcome.fail("refused", "no")
        out.append((check, Result(check.id, check.target.id, check.kind, ts, 0.01, outcome)))
    return out


async def history(m: Monitor) -> dict[str, object]:
    await m.recorder.flush()
    return {
        "transitions": rows(m, "SELECT check_id, from_state, to_state, since, cause FROM transitions ORDER BY id"),
        "outbox": rows(m, "SELECT i.check_id, o.channel, o.kind FROM outbox o JOIN incidents i ON i.id = o.incident_id "
                          "ORDER BY o.id"),
        "results": rows(m, "SELECT check_id, ts, ok FROM results ORDER BY check_id, ts"),
        "shown": {cid: (v.state.state, v.overlay, v.result.started_at if v.result else None)
                  for cid, v in m.live.views.items()},
    }


async def test_a_batch_is_handled_as_its_results_one_by_one(tmp_path: Path) -> None:
    one_by_one, batched = monitor(tmp_path / "a"), monitor(tmp_path / "b")
    for ts, oks in STEPS:
        for check, result in results_at(one_by_one, ts, oks):
            one_by_one.path.handle(check, result)  # type: ignore[arg-type]
        batched.path.handle_batch(results_at(batched, ts, oks))  # type: ignore[arg-type]
    expected, got = await history(one_by_one), await history(batched)
    assert got == expected
    assert any(t[2] == "down" for t in expected["transitions"])  # type: ignore[union-attr]
    assert expected["outbox"], "the scenario pages, so the comparison covers decisions"


async def test_a_bug_in_one_result_does_not_stop_the_others(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    m = monitor(tmp_path)
    pairs = results_at(m, 1.0, STEPS[0][1])
    real = m.live.update

    def broken(check, result, parent_id=None):  # type: ignore[no-untyped-def]
        if check.id == "router/tcp":
            raise RuntimeError("bug")
        return real(check, result, parent_id)

    m.live.update = broken  # type: ignore[method-assign]
    m.path.handle_batch(pairs)  # type: ignore[arg-type]
    assert {cid for cid, v in m.live.views.items() if v.result is not None} == set(STEPS[0][1]) - {"router/tcp"}
    assert "handling the result of router/tcp failed" in caplog.text
