"""The fault script: parsing with exact errors, scaling, and playing it against the real lab."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

from netwatch.lab import scenario
from netwatch.lab.venue import Lab


def test_default_scenario_covers_every_fault() -> None:
    s = scenario.load()
    assert s.duration_seconds == 380
    actions = {step.action for step in s.steps}
    assert {"isolate", "restore", "web_error", "deface", "mail_slow", "flap", "reboot"} <= actions
    assert [step.at_seconds for step in s.steps] == sorted(step.at_seconds for step in s.steps)
    assert s.steps[0].expect["press-ap1"] == ("unreachable", "down")


def test_scaled_shrinks_times_but_not_delays() -> None:
    s = scenario.parse({"duration": "2m", "steps": [
        {"at": "1m", "do": "reboot", "device": "core-router", "down": "20s"},
        {"at": "1m30s", "do": "mail_slow", "delay": "6s"}]}, "x.yaml")
    fast = s.scaled(0.5)
    assert fast.duration_seconds == 60
    assert [(st.at_seconds, dict(st.args)) for st in fast.steps] == [
        (30.0, {"device": "core-router", "down": 10.0}), (45.0, {"delay": 6.0})]


@pytest.mark.parametrize("raw, message", [
    ([], "x.yaml: a scenario is a mapping with name, duration and steps"),
    ({"steps": []}, "x.yaml: duration: required (how long the whole script runs, e.g. 6m)"),
    ({"duration": "soon"}, "x.yaml: duration: bad duration 'soon' (write e.g. 90s, 1m30s or 500ms)"),
    ({"duration": "1m", "colour": 1}, "x.yaml: unknown key 'colour' (keys: name, duration, steps)"),
    ({"duration": "1m", "steps": [{"at": "1s", "do": "explode"}]},
     "x.yaml: steps[0].do: unknown action 'explode' (actions: deface, flap, isolate, mail_ok, mail_slow, reboot, "
     "restore, web_error, web_ok, web_slow)"),
    ({"duration": "1m", "steps": [{"at": "1s", "do": "isolate"}]}, "x.yaml: steps[0].device: required for isolate"),
    ({"duration": "1m", "steps": [{"at": "2m", "do": "mail_ok"}]},
     "x.yaml: steps[0].at: 2m is after the end of the scenario (1m)"),
    ({"duration": "1m", "steps": [{"do": "mail_ok"}]},
     "x.yaml: steps[0].at: required (seconds from the start, e.g. 40s)"),
    ({"duration": "1m", "steps": [{"at": "1s", "do": "web_error", "site": "portal", "status": 700}]},
     "x.yaml: steps[0].status: 700 is not an HTTP status code"),
    ({"duration": "1m", "steps": [{"at": "1s", "do": "mail_ok", "device": "x"}]},
     "x.yaml: steps[0].device: unknown key for mail_ok (keys: at, do, expect, say)"),
    ({"duration": "1m", "steps": [{"at": "1s", "do": "mail_ok", "expect": {"portal": "broken"}}]},
     "x.yaml: steps[0].expect.portal: unknown state 'broken' (states: degraded, down, maintenance, unknown, "
     "unreachable, up; a|b for either)"),
])
def test_errors_name_the_step_and_key(raw: object, message: str) -> None:
    with pytest.raises(scenario.ScenarioError) as err:
        scenario.parse(raw, "x.yaml")
    assert str(err.value) == message


def test_unknown_lab_names_are_refused() -> None:
    s = scenario.parse({"duration": "1m", "steps": [{"at": "1s", "do": "isolate", "device": "toaster"}]}, "x.yaml")
    with pytest.raises(scenario.ScenarioError, match=r"steps\[0\]\.device: the lab has no 'toaster'"):
        scenario.check_targets(s, {"press-sw"})


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback lab
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_run_plays_steps_on_time_against_the_lab() -> None:
    import asyncio

    lab = await Lab().start()
    try:
        s = scenario.parse({"duration": "600ms", "steps": [
            {"at": "0s", "do": "web_error", "site": "motcua", "status": 503},
            {"at": "300ms", "do": "web_ok", "site": "motcua"}]}, "x.yaml")
        seen: list[tuple[float, str]] = []
        started = time.monotonic()
        task = asyncio.create_task(scenario.run(s, lab, lambda st: seen.append((time.monotonic(), st.action))))
        await asyncio.sleep(0.1)
        assert await asyncio.to_thread(_status, lab.sites["motcua"].url) == 503
        await task
        assert await asyncio.to_thread(_status, lab.sites["motcua"].url) == 200
        assert [a for _, a in seen] == ["web_error", "web_ok"]
        assert 0.25 <= seen[1][0] - started <= 0.6
        assert time.monotonic() - started >= 0.6
    finally:
        await lab.close()
