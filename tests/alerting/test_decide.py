"""Table tests of the paging decision core and its clocks: results and `now` in, decisions out (no store)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from netwatch.alerting.decide import OVERLAYS, Change, Decider, Decision, FlapNotice, Release
from netwatch.alerting.timers import Escalation, Reminder, follow_ups, is_due
from netwatch.config import Config, loads
from netwatch.live import LiveView
from netwatch.model import Outcome, Result, State
from netwatch.store import StoredState

VENUE = """
store: /nonexistent/nw.db
zones: [{{id: hall, name: Hội trường}}]
channels:
  chat: {{urls: ["json://127.0.0.1:9/chat"]}}
  sms: {{urls: ["json://127.0.0.1:9/sms"]}}
escalation:
  warning: [{{after: 0s, notify: [chat]}}]
  critical:
    - {{after: 0s, notify: [chat, sms]}}
    - {{after: 5m, notify: [sms]}}
defaults:
  interval: 10s
  timeout: 5s
  alert: {{fail_after: 2, recover_after: 1, remind_every: 30m}}
paging:
  flapping: {{window: 6, high: 0.5, low: 0.25}}
{maintenance}
targets:
  - {{id: router, host: 127.0.0.1, zone: hall, checks: [{{kind: tcp, port: 1}}]}}
  - {{id: router2, host: 127.0.0.1, checks: [{{kind: tcp, port: 4}}]}}
  - id: sw
    host: 127.0.0.1
    zone: hall
    depends_on: [router]
    checks: [{{kind: tcp, port: 2, alert: {{fail_after: 1}}}}]
  - id: ap
    host: 127.0.0.1
    depends_on: [router, router2]
    checks: [{{kind: tcp, port: 3}}]
  - id: web
    host: 127.0.0.1
    checks: [{{kind: tcp, port: 5, alert: {{flap_detection: true}}}}]
"""
WINDOW = '  - {start: "2026-01-01T00:00+07:00", end: "2026-01-01T01:00+07:00", checks: [web/tcp]}'
WINDOW_START = 1767200400.0       # 2026-01-01T00:00+07:00


def venue(maintenance: str = "") -> Config:
    return loads(VENUE.format(maintenance=f"maintenance:\n{maintenance}" if maintenance else ""))


@dataclass
class Run:
    """A decider and its live view, fed results by hand; every decision is kept."""

    config: Config
    decider: Decider
    live: LiveView
    decisions: list[Decision]

    def feed(self, check_id: str, ts: float, ok: bool, now: float | None = None, error: str = "refused",
             degraded: str | None = None) -> Decision:
        check = self.config.check(check_id)
        assert check is not None
        outcome = Outcome(ok=True, degraded=degraded) if ok else Outcome.fail(error, "no answer")
        result = Result(check.id, check.target.id, check.kind, ts, 0.01, outcome)
        raw = self.live.update(check, result)
        d = self.decider.on_result(check, result, raw, self.live.views, ts + 0.2 if now is None else now)
        self.live.set_overlays(d.overlays)
        self.decisions.append(d)
        return d

    def clock(self, now: float) -> Decision:
        d = self.decider.on_clock(now, self.live.views, ())
        self.live.set_overlays(d.overlays)
        self.decisions.append(d)
        return d


def run(config: Config | None = None, stored: dict[str, StoredState] | None = None) -> Run:
    config = config or venue()
    stored = stored or {}
    return Run(config, Decider(config, {cid: s.state for cid, s in stored.items()}),
               LiveView(config.checks, stored), [])


def changes(d: Decision) -> list[tuple[str, str, str | None, bool]]:
    """(check, to_state, cause, paged) of each recorded transition."""
    return [(i.transition.check_id, i.transition.to_state.value, i.transition.cause,
             i.page is not None and i.hold_until is None) for i in d.items if isinstance(i, Change)]


def test_a_confirmed_outage_is_one_change_with_its_page() -> None:
    r = run()
    assert changes(r.feed("router/tcp", 100.0, True)) == [("router/tcp", "up", None, True)]
    assert changes(r.feed("router/tcp", 110.0, False)) == []          # one failure is a blip
    d = r.feed("router/tcp", 120.0, False, now=120.3)
    assert changes(d) == [("router/tcp", "down", None, True)]
    change = d.items[0]
    assert isinstance(change, Change) and change.page is not None
    page = change.page
    assert (page.severity, page.category, page.channels) == ("critical", "availability", ("chat", "sms"))
    assert page.facts["since"] == 110.0 and page.facts["zone_name"] == "Hội trường"
    assert page.facts["dependants"] == 2                              # sw and ap depend on it
    assert page.next_escalation_at == 120.3 + 300 and page.next_remind_at == 120.3 + 1800


@pytest.mark.parametrize("error, degraded, severity, category, channels", [
    ("refused", None, "critical", "availability", ("chat", "sms")),
    ("snmp_auth", None, "critical", "security", ("chat", "sms")),      # someone guessing credentials
    ("host_key_changed", None, "critical", "security", ("chat", "sms")),
    (None, "rtt above 50ms", "warning", "performance", ("chat",)),
])
def test_severity_category_and_channels_by_error_class(error: str | None, degraded: str | None, severity: str,
                                                       category: str, channels: tuple[str, ...]) -> None:
    r = run()
    r.feed("router2/tcp", 100.0, True)
    for ts in (110.0, 120.0):
        d = r.feed("router2/tcp", ts, error is None, error=error or "", degraded=degraded)
    (change,) = [i for i in d.items if isinstance(i, Change)]
    assert change.page is not None
    assert (change.page.severity, change.page.category, change.page.channels) == (severity, category, channels)


def test_both_parents_confirmed_down_make_the_child_unreachable() -> None:
    r = run()
    for cid in ("router/tcp", "router2/tcp", "ap/tcp"):
        r.feed(cid, 100.0, True)
    for ts in (110.0, 120.0):
        for cid in ("router/tcp", "router2/tcp"):
            r.feed(cid, ts, False)
    d = r.feed("ap/tcp", 110.0, False)
    d2 = r.feed("ap/tcp", 120.0, False)
    assert changes(d) == [] and changes(d2) == [("ap/tcp", "unreachable", "router,router2", True)]
    assert dict(d2.overlays)["ap/tcp"] is State.UNREACHABLE
    assert "ap/tcp" in r.decider.quiet_checks()                       # its reminders wait


def test_one_uplink_still_up_means_the_child_pages() -> None:
    r = run()
    for cid in ("router/tcp", "router2/tcp", "ap/tcp"):
        r.feed(cid, 100.0, True)
    for ts in (110.0, 120.0):
        r.feed("router/tcp", ts, False)
        r.feed("router2/tcp", ts + 1, True)
        d = r.feed("ap/tcp", ts + 2, False)
    assert changes(d) == [("ap/tcp", "down", None, True)]


# (step, check, result ts, ok, now) -> what the decision holds: "hold", "release", "unreachable", or nothing
HOLD_CASES = {
    "parent answers after the child broke: release": [
        ("sw/tcp", 110.0, False, 110.2, "hold"),
        ("router/tcp", 111.0, True, 111.2, "release"),
    ],
    "parent confirmed down: unreachable, never paged": [
        ("sw/tcp", 110.0, False, 110.2, "hold"),
        ("router/tcp", 110.0, False, 115.0, ""),
        ("router/tcp", 120.0, False, 125.0, "unreachable"),
    ],
    "parent failing but never confirmed: released at the bound": [
        ("sw/tcp", 110.0, False, 110.2, "hold"),
        ("router/tcp", 111.0, False, 111.2, ""),
        ("clock", 0.0, False, 110.2 + 10 * 2 + 5 - 0.1, ""),     # bound: interval * fail_after + timeout
        ("clock", 0.0, False, 110.2 + 10 * 2 + 5, "release"),
    ],
    "child recovers while held: no page": [
        ("sw/tcp", 110.0, False, 110.2, "hold"),
        ("sw/tcp", 111.0, True, 111.2, "up"),
        ("clock", 0.0, False, 200.0, ""),
    ],
}


@pytest.mark.parametrize("steps", HOLD_CASES.values(), ids=HOLD_CASES.keys())
def test_topology_hold(steps: list[tuple[str, float, bool, float, str]]) -> None:
    r = run()
    r.feed("router/tcp", 100.0, True)
    r.feed("sw/tcp", 101.0, True)
    for cid, ts, ok, now, expected in steps:
        d = r.clock(now) if cid == "clock" else r.feed(cid, ts, ok, now=now)
        seen = []
        for i in d.items:
            if isinstance(i, Release):
                seen.append("release")
            elif isinstance(i, Change) and i.transition.check_id == "sw/tcp":
                seen.append("hold" if i.hold_until is not None else i.transition.to_state.value)
        assert seen == ([expected] if expected else []), (cid, ts, now, d)
    held = [i for d in r.decisions for i in d.items if isinstance(i, Change) and i.hold_until is not None]
    assert held[0].hold_until == 110.2 + 25 and held[0].suspect == ("router",)
    assert held[0].transition.since == 110.0                  # history is not delayed


def test_a_held_page_resumed_after_a_restart_is_held_afresh() -> None:
    r = run()
    r.feed("router/tcp", 100.0, True)
    r.feed("sw/tcp", 101.0, True)
    (held,) = [i for i in r.feed("sw/tcp", 110.0, False).items if isinstance(i, Change)]
    # A restart: the states and the held_pages row are read back.
    again = run(r.config, {"sw/tcp": StoredState("sw/tcp", State.DOWN, 110.0, 110.2, "refused"),
                           "router/tcp": StoredState("router/tcp", State.UP, 100.0, 100.2, None)})
    again.decider.resume([(held.transition, False)], now=500.0)
    assert again.decider.held["sw/tcp"].deadline == 525.0
    assert again.clock(524.0).items == ()
    (release,) = again.clock(525.0).items
    assert isinstance(release, Release) and release.page.facts["since"] == 110.0


def test_maintenance_window_overlays_and_pages_at_its_end() -> None:
    r = run(venue(WINDOW))
    r.feed("web/tcp", WINDOW_START - 10, True)
    d = r.clock(WINDOW_START + 1)
    assert changes(d) == [("web/tcp", "maintenance", None, True)] and dict(d.overlays)["web/tcp"] is State.MAINTENANCE
    for ts in (WINDOW_START + 10, WINDOW_START + 20):
        d = r.feed("web/tcp", ts, False)
    assert changes(d) == [] and [e[3].kind for e in d.events] == ["state_in_maintenance"]
    assert "web/tcp" in r.decider.quiet_checks()
    d = r.clock(WINDOW_START + 3600)
    assert changes(d) == [("web/tcp", "down", None, True)] and dict(d.overlays)["web/tcp"] is None


def test_flapping_is_noticed_once_and_pages_are_recorded_quietly() -> None:
    r = run()
    notices = []
    for n in range(8):
        d = r.feed("web/tcp", 100.0 + 10 * n, n % 2 == 0)
        notices += [(i.change, i.state.value) for i in d.items if isinstance(i, FlapNotice)]
        pages = [i.page for i in d.items if isinstance(i, Change) and i.page is not None]
        if notices:
            assert all(p.flapping for p in pages)
    assert notices == [("start", "up")]
    assert r.decider.flapping_checks() == ["web/tcp"]


@dataclass(frozen=True)
class Due:
    id: int
    check_id: str | None
    severity: str
    level: int
    next_escalation_at: float | None
    next_remind_at: float | None
    opened_at: float


@pytest.mark.parametrize("due, quiet, expected", [
    (Due(1, "router/tcp", "critical", 0, 400.0, None, 100.0), set(), [Escalation(1, 1, None, ("sms",))]),
    (Due(2, "router/tcp", "critical", 0, None, 900.0, 100.0), set(), [Reminder(2, 1000.0 + 1800)]),
    (Due(3, "router/tcp", "critical", 0, 400.0, 900.0, 100.0), set(),
     [Escalation(3, 1, None, ("sms",)), Reminder(3, 2800.0)]),
    (Due(4, "router/tcp", "critical", 0, 400.0, 900.0, 100.0), {"router/tcp"}, []),   # in maintenance: waits
    (Due(5, None, "critical", 1, 400.0, 900.0, 100.0), set(), [Escalation(5, 2, None, ()), Reminder(5, None)]),
    (Due(6, "router2/tcp", "warning", 0, 400.0, None, 100.0), set(), [Escalation(6, 1, None, ())]),
])
def test_escalation_and_reminders(due: Due, quiet: set[str], expected: list[object]) -> None:
    assert follow_ups([due], 1000.0, quiet, venue()) == expected


@pytest.mark.parametrize("next_at, now, expected", [(None, 5.0, False), (6.0, 5.0, False), (5.0, 5.0, True)])
def test_a_write_is_due_only_when_a_clock_has_come(next_at: float | None, now: float, expected: bool) -> None:
    assert is_due(next_at, now) is expected


def test_an_up_check_staying_up_decides_nothing_and_builds_nothing() -> None:
    r = run()
    r.feed("web/tcp", 100.0, True)                 # unknown -> up: a change
    assert changes(r.decisions[-1]) == [("web/tcp", "up", None, True)]
    for n in range(1, 5):
        d = r.feed("web/tcp", 100.0 + 10 * n, True)
        assert d == Decision() and not d
    # A parent staying up still cascades (its dependants read its status), so it takes the full path.
    r.feed("router/tcp", 100.0, True)
    assert not r.decider.stays_up(r.config.check("router/tcp"), 110.0, r.live.views)


@pytest.mark.parametrize("seed", range(12))
def test_the_stays_up_shortcut_decides_exactly_what_the_full_path_decides(seed: int,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    rnd = random.Random(seed)
    config = venue(WINDOW)
    fast, full = run(config), run(config)
    monkeypatch.setattr(full.decider, "stays_up", lambda *_: False)
    ids = [c.id for c in config.checks]
    ts = WINDOW_START - 600.0
    for _ in range(300):
        ts += rnd.uniform(1.0, 40.0)
        cid = rnd.choice(ids)
        ok = rnd.random() < 0.8
        a, b = fast.feed(cid, ts, ok), full.feed(cid, ts, ok)
        assert (changes(a), a.events) == (changes(b), b.events)
        assert [o for o in a.overlays if o[1] is not None] == [o for o in b.overlays if o[1] is not None]
        if rnd.random() < 0.1:
            a, b = fast.clock(ts + 1.0), full.clock(ts + 1.0)
            assert (changes(a), a.events) == (changes(b), b.events)
        # The quiet set is kept beside the effective states, never recomputed: it must match a full scan.
        assert fast.decider.quiet_checks() == {c for c, st in fast.decider.eff.items() if st in OVERLAYS}
    assert fast.decider.eff == full.decider.eff
    assert {cid: v.overlay for cid, v in fast.live.views.items()} == {cid: v.overlay for cid, v in full.live.views.items()}


def test_a_new_coordinator_adopts_the_recorded_states_so_a_recovery_is_decided() -> None:
    """Checks decided from votes: another coordinator paged router down; this node's decider remembers it up
    from its own start. Without adopting the record, the recovery decides nothing (and is never paged)."""
    up = {"router/tcp": StoredState("router/tcp", State.UP, 50.0, 50.0, None)}
    stale = run(stored=up)
    assert changes(stale.feed("router/tcp", 100.0, True)) == []
    r = run(stored=up)
    r.decider.adopt({"router/tcp": State.DOWN})
    assert changes(r.feed("router/tcp", 100.0, True)) == [("router/tcp", "up", None, True)]
