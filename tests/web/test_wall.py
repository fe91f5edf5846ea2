"""The wall's pure helpers: suspect/recovering counts, site time, cause words and the security mark."""

from __future__ import annotations

import zoneinfo

import pytest

from netwatch.alerting.state import CheckState
from netwatch.model import AlertPolicy, State
from netwatch.web import wording
from netwatch.web.wall import progress, site_clock

POLICY = AlertPolicy(fail_after=3, recover_after=2)


@pytest.mark.parametrize("state, shown, expected", [
    (CheckState(State.UP, fail_streak=1), "up", {"phase": "suspect", "count": 1, "of": 3}),
    (CheckState(State.UP, fail_streak=2), "up", {"phase": "suspect", "count": 2, "of": 3}),
    (CheckState(State.UNKNOWN, fail_streak=1), "unknown", {"phase": "suspect", "count": 1, "of": 3}),
    (CheckState(State.DOWN, fail_streak=3), "down", None),
    (CheckState(State.DOWN, ok_streak=1), "down", {"phase": "recovering", "count": 1, "of": 2}),
    (CheckState(State.UP, ok_streak=5), "up", None),
    (CheckState(State.DOWN, ok_streak=1), "maintenance", None),
])
def test_suspect_and_recovering(state: CheckState, shown: str, expected: dict[str, object] | None) -> None:
    assert progress(state, POLICY, shown) == expected


def test_times_are_in_the_site_time_zone_whatever_the_host_says() -> None:
    ts = 1_796_000_000.0   # 2026-11-30 00:53:20 UTC
    assert site_clock(ts, zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")) == "07:53:20 30/11"
    assert site_clock(ts, zoneinfo.ZoneInfo("UTC"), with_date=False) == "00:53:20"
    assert site_clock(None, zoneinfo.ZoneInfo("UTC")) == ""


def test_cause_words_and_security() -> None:
    assert wording.cause(None) is None
    words = wording.cause("timeout", None, "banner not done within 4s")
    assert words is not None and words["vi"] and words["en"] and words["vi"] != words["en"]
    assert wording.is_security("forbidden_content") and wording.is_security("config_drift")
    assert not wording.is_security("timeout") and not wording.is_security(None)
