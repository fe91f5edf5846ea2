"""Table tests of the pure paging parts: topology, flap score, maintenance/shift windows, the step."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from netwatch.alerting.flapping import FlapState, observe, score
from netwatch.alerting.state import CheckState, step
from netwatch.alerting.topology import dependants, effective
from netwatch.windows import window
from netwatch.model import AlertPolicy, State, Target

D, U, UN, UR = State.DOWN, State.UP, State.UNKNOWN, State.UNREACHABLE


@pytest.mark.parametrize("raw, maint, parents, hold, expected", [
    (D, False, {}, False, (D, None)),
    (D, False, {"r1": "down"}, False, (UR, "r1")),
    (D, False, {"r1": "down", "r2": "up"}, False, (D, None)),        # dual uplinks: one still up
    (D, False, {"r1": "down", "r2": "down"}, False, (UR, "r1,r2")),
    (D, False, {"r1": "unknown"}, False, (D, None)),
    (D, False, {"r1": "up"}, False, (D, None)),                      # child failing alone pages
    (D, False, {"r1": "up"}, True, (UR, "r1")),                      # until it reports after the parent
    (U, False, {"r1": "down"}, False, (U, None)),
    (D, True, {"r1": "down"}, False, (State.MAINTENANCE, None)),
    (U, True, {}, False, (State.MAINTENANCE, None)),
])
def test_effective(raw: State, maint: bool, parents: dict[str, str], hold: bool,
                   expected: tuple[State, str | None]) -> None:
    assert effective(raw, maint, parents, hold) == expected  # type: ignore[arg-type]


def test_dependants_are_transitive() -> None:
    targets = [Target("core"), Target("dist", depends_on=("core",)), Target("sw1", depends_on=("dist",)),
               Target("sw2", depends_on=("dist", "core2")), Target("core2")]
    assert dependants(targets) == {"core": {"dist", "sw1", "sw2"}, "dist": {"sw1", "sw2"}, "core2": {"sw2"}}


@pytest.mark.parametrize("history, window_size, expected", [
    ((), 20, 0.0),
    ((True,) * 20, 20, 0.0),
    ((True, False) * 10, 20, 1.0),
    ((True, False), 3, 0.6),        # one change, oldest-but-one slot: weight 0.8 + 0.4 * 1 / 1 = 1.2 / 2
])
def test_flap_score(history: tuple[bool, ...], window_size: int, expected: float) -> None:
    assert score(history, window_size) == pytest.approx(expected)


def test_flapping_starts_once_and_stops_with_hysteresis() -> None:
    fs = FlapState()
    changes = []
    for i, ok in enumerate([True, False] * 8 + [True] * 20):
        fs, change = observe(fs, ok, 10, 0.5, 0.25)
        if change:
            changes.append((i, change))
    assert [c for _, c in changes] == ["start", "stop"]
    start, stop = changes[0][0], changes[1][0]
    assert start < 8 and stop > 16


TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def ts(text: str, tz: ZoneInfo = TZ) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=tz).timestamp()


@pytest.mark.parametrize("at, active", [
    ("2026-12-14T21:59:59", False),
    ("2026-12-14T22:00:00", True),
    ("2026-12-15T01:59:59", True),
    ("2026-12-15T02:00:00", False),
    ("2026-12-16T23:30:00", True),      # a later night
    ("2026-12-14T12:00:00", False),
    ("2026-12-13T23:00:00", False),     # before the first occurrence
    ("2026-12-19T23:00:00", False),     # past `until`
])
def test_daily_window_across_midnight(at: str, active: bool) -> None:
    w = window("2026-12-14T22:00", "2026-12-15T02:00", TZ, "daily", until="2026-12-18T00:00")
    assert w.active(ts(at)) is active


def test_window_with_explicit_offset_and_site_zone() -> None:
    w = window("2026-12-14T15:00+00:00", "2026-12-14T16:00+00:00", TZ)
    assert w.start.hour == 22                        # 15:00 UTC is 22:00 in Hanoi
    assert w.active(ts("2026-12-14T22:30")) and not w.active(ts("2026-12-14T15:30"))


def test_weekly_window_keeps_wall_time_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    w = window("2026-03-22T02:30", "2026-03-22T04:00", berlin, "weekly")
    # 29 March 2026 is the switch to summer time: the window still starts at 02:30 local... which
    # does not exist that night, so it begins at 03:30 CEST; a week later at 02:30 CEST again.
    assert w.active(ts("2026-04-05T02:45", berlin)) and not w.active(ts("2026-04-05T02:15", berlin))
    assert w.occurrence(ts("2026-04-05T03:00", berlin)) == (ts("2026-04-05T02:30", berlin),
                                                             ts("2026-04-05T04:00", berlin))


@pytest.mark.parametrize("start, end, repeat, message", [
    ("2026-12-14T22:00", "2026-12-14T21:00", "none", "end must be after start"),
    ("2026-12-14T22:00", "2026-12-16T22:00", "daily", "cannot be longer than its period"),
])
def test_bad_windows(start: str, end: str, repeat: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        window(start, end, TZ, repeat)  # type: ignore[arg-type]


@pytest.mark.parametrize("results, states", [
    ("ffff", [None, None, "down", None]),                 # fail_after 3
    ("ff.ff", [None, None, "up", None, None]),            # never 3 in a row: a blip
    ("...fff..", ["up", None, None, None, None, "down", None, "up"]),
])
def test_step_table_with_injected_clock(results: str, states: list[str | None]) -> None:
    cs = CheckState()
    policy = AlertPolicy(fail_after=3, recover_after=2)
    seen = []
    for i, r in enumerate(results):
        cs, changed = step(cs, r == ".", False, None if r == "." else "refused", 1000.0 + i, policy)
        seen.append(changed[0].value if changed else None)
    assert seen == states
