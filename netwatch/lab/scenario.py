"""The fault script a trainer edits: timed steps that break and repair lab endpoints, with expected states."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Awaitable, Callable, Mapping

import yaml

from netwatch.lab.venue import Lab

DEFAULT = "congress.yaml"
STATES = frozenset({"up", "down", "degraded", "unreachable", "maintenance", "unknown"})
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# action -> (required keys, optional keys)
ACTIONS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    "isolate": (frozenset({"device"}), frozenset()),
    "restore": (frozenset({"device"}), frozenset()),
    "reboot": (frozenset({"device"}), frozenset({"down"})),
    "flap": (frozenset({"device", "interface"}), frozenset({"times", "every"})),
    "web_error": (frozenset({"site"}), frozenset({"status", "reason"})),
    "deface": (frozenset({"site"}), frozenset()),
    "web_slow": (frozenset({"site", "delay"}), frozenset()),
    "web_ok": (frozenset({"site"}), frozenset()),
    "mail_slow": (frozenset({"delay"}), frozenset()),
    "mail_ok": (frozenset(), frozenset()),
}
_COMMON = frozenset({"at", "do", "say", "expect"})


class ScenarioError(ValueError):
    """A scenario file problem, worded `file: steps[i].key: message`."""


def parse_duration(text: Any, where: str) -> float:
    """`90s`, `1m30s`, `500ms` or a number of seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool) and text >= 0:
        return float(text)
    if isinstance(text, str):
        compact = text.replace(" ", "")
        parts = _DURATION_PART.findall(compact)
        if parts and "".join(n + u for n, u in parts) == compact:
            return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    raise ScenarioError(f"{where}: bad duration {text!r} (write e.g. 90s, 1m30s or 500ms)")


@dataclass(frozen=True)
class Step:
    at_seconds: float
    action: str
    args: Mapping[str, Any]
    say: str = ""
    expect: Mapping[str, tuple[str, ...]] = field(default_factory=dict)   # target id -> acceptable states


@dataclass(frozen=True)
class Scenario:
    name: str
    duration_seconds: float
    steps: tuple[Step, ...]
    path: str = ""

    def scaled(self, factor: float) -> "Scenario":
        """The same script run `factor` times as fast; durations inside actions shrink too, except the
        delays that must stay above a check's timeout (web_slow, mail_slow)."""
        steps = []
        for s in self.steps:
            args = dict(s.args)
            for key in ("every", "down"):
                if key in args:
                    args[key] = args[key] * factor
            steps.append(Step(s.at_seconds * factor, s.action, args, s.say, s.expect))
        return Scenario(self.name, self.duration_seconds * factor, tuple(steps), self.path)


def default_path() -> str:
    return str(resources.files("netwatch.lab").joinpath("scenarios", DEFAULT))


def load(path: str | None = None) -> Scenario:
    path = path or default_path()
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read scenario: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from None
    return parse(raw, path)


def parse(raw: Any, path: str = "<scenario>") -> Scenario:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping with name, duration and steps")
    unknown = set(raw) - {"name", "duration", "steps"}
    if unknown:
        raise ScenarioError(f"{path}: unknown key {sorted(unknown)[0]!r} (keys: name, duration, steps)")
    if "duration" not in raw:
        raise ScenarioError(f"{path}: duration: required (how long the whole script runs, e.g. 6m)")
    duration = parse_duration(raw["duration"], f"{path}: duration")
    raw_steps = raw.get("steps") or []
    if not isinstance(raw_steps, list):
        raise ScenarioError(f"{path}: steps: must be a list")
    steps: list[Step] = []
    for i, item in enumerate(raw_steps):
        where = f"{path}: steps[{i}]"
        if not isinstance(item, dict):
            raise ScenarioError(f"{where}: a step is a mapping with at and do")
        action = item.get("do")
        if not isinstance(action, str) or action not in ACTIONS:
            raise ScenarioError(f"{where}.do: unknown action {action!r} (actions: {', '.join(sorted(ACTIONS))})")
        required, optional = ACTIONS[action]
        for key in required - set(item):
            raise ScenarioError(f"{where}.{key}: required for {action}")
        for key in set(item) - required - optional - _COMMON:
            raise ScenarioError(f"{where}.{key}: unknown key for {action} "
                                f"(keys: {', '.join(sorted(required | optional | _COMMON))})")
        if "at" not in item:
            raise ScenarioError(f"{where}.at: required (seconds from the start, e.g. 40s)")
        at = parse_duration(item["at"], f"{where}.at")
        if at > duration:
            raise ScenarioError(f"{where}.at: {item['at']} is after the end of the scenario ({raw['duration']})")
        args: dict[str, Any] = {}
        for key in required | optional:
            if key not in item:
                continue
            value = item[key]
            if key in ("every", "down", "delay"):
                value = parse_duration(value, f"{where}.{key}")
            elif key in ("times", "status"):
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ScenarioError(f"{where}.{key}: must be a positive whole number")
                if key == "status" and not 100 <= value <= 599:
                    raise ScenarioError(f"{where}.status: {value} is not an HTTP status code")
            else:
                value = str(value)
            args[key] = value
        expect: dict[str, tuple[str, ...]] = {}
        raw_expect = item.get("expect") or {}
        if not isinstance(raw_expect, dict):
            raise ScenarioError(f"{where}.expect: must map target ids to states (e.g. press-sw: down)")
        for target, states_text in raw_expect.items():
            states = tuple(s.strip() for s in str(states_text).split("|"))
            for s in states:
                if s not in STATES:
                    raise ScenarioError(f"{where}.expect.{target}: unknown state {s!r} "
                                        f"(states: {', '.join(sorted(STATES))}; a|b for either)")
            expect[str(target)] = states
        steps.append(Step(at, action, args, str(item.get("say", "")), expect))
    steps.sort(key=lambda s: s.at_seconds)
    return Scenario(str(raw.get("name", "")), duration, tuple(steps), path)


async def perform(lab: Lab, step: Step) -> None:
    """Apply one step to the lab; long actions (flap, reboot) run on in the background."""
    a = step.args
    if step.action == "isolate":
        await lab.isolate(a["device"], True)
    elif step.action == "restore":
        await lab.isolate(a["device"], False)
    elif step.action == "reboot":
        lab.spawn(lab.reboot(a["device"], a.get("down", 10.0)))
    elif step.action == "flap":
        lab.spawn(lab.flap(a["device"], a["interface"], a.get("times", 3), a.get("every", 10.0)))
    elif step.action == "web_error":
        lab.website(a["site"], "error", a.get("status", 500), a.get("reason", ""))
    elif step.action == "deface":
        lab.website(a["site"], "defaced")
    elif step.action == "web_slow":
        lab.website(a["site"], "ok", delay_seconds=a["delay"])
    elif step.action == "web_ok":
        lab.website(a["site"], "ok")
    elif step.action == "mail_slow":
        lab.mail_delay(a["delay"])
    elif step.action == "mail_ok":
        lab.mail_delay(0.0)


def check_targets(scenario: Scenario, lab_ids: set[str]) -> None:
    """Fail early when a step names a device, site or expected target the lab does not have."""
    for i, s in enumerate(scenario.steps):
        for key in ("device", "site"):
            if key in s.args and s.args[key] not in lab_ids:
                raise ScenarioError(f"{scenario.path}: steps[{i}].{key}: the lab has no {s.args[key]!r}")
        for target in s.expect:
            if target not in lab_ids:
                raise ScenarioError(f"{scenario.path}: steps[{i}].expect: the lab has no target {target!r}")


async def run(scenario: Scenario, lab: Lab, on_step: Callable[[Step], Awaitable[None] | None] | None = None,
              clock: Callable[[], float] = time.monotonic) -> None:
    """Play the steps at their times (from now) and return when the scenario's duration is over."""
    start = clock()
    for step in scenario.steps:
        delay = start + step.at_seconds - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        if on_step is not None:
            maybe = on_step(step)
            if maybe is not None:
                await maybe
        await perform(lab, step)
    rest = start + scenario.duration_seconds - clock()
    if rest > 0:
        await asyncio.sleep(rest)
