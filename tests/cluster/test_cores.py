"""Table tests of the cluster's pure cores: slots, rebalancing, leases and fencing, votes, isolation."""

from __future__ import annotations

import zlib

import pytest

from netwatch.cluster.isolation import IsolationRule, isolated_sites, suspect_sites
from netwatch.cluster.leases import Fence, LeaseTiming
from netwatch.cluster.slots import DEFAULT_SLOTS, Step, fair_ceiling, plan_step, slot_of, unowned
from netwatch.cluster.votes import Vote, aggregate, default_confirm
from netwatch.model import State


def test_slot_is_crc32_of_check_and_site_and_stable() -> None:
    assert slot_of("portal/http", "dc") == zlib.crc32(b"portal/http\0dc") % DEFAULT_SLOTS
    # the same pair maps to the same slot in another interpreter (no salted hash()): a fixed value
    assert slot_of("portal/http", "dc", 256) == zlib.crc32(b"portal/http\x00dc") & 0xFF
    with pytest.raises(ValueError):
        slot_of("x", "dc", 0)


def test_slots_spread_evenly_enough() -> None:
    counts = [0] * 64
    for i in range(6400):
        counts[slot_of(f"target-{i}/icmp", "dc", 64)] += 1
    assert min(counts) > 60 and max(counts) < 150


@pytest.mark.parametrize("slots, nodes, ceiling", [(256, 1, 256), (256, 2, 128), (256, 3, 86), (10, 4, 3),
                                                   (256, 0, 256)])
def test_fair_ceiling(slots: int, nodes: int, ceiling: int) -> None:
    assert fair_ceiling(slots, nodes) == ceiling
    if nodes:
        assert ceiling * nodes >= slots


@pytest.mark.parametrize("mine, free, live, moves, step", [
    (0, 256, 1, 16, Step(256, 0)),      # a lone node takes everything at once
    (128, 128, 2, 16, Step(0, 0)),      # at its share: nothing (the other node takes the free ones)
    (128, 0, 3, 16, Step(0, 16)),       # a third node joined: give back gently, 16 per renew
    (90, 0, 3, 16, Step(0, 4)),         # ... down to the ceiling (86), not below
    (86, 86, 3, 16, Step(0, 0)),
    (0, 40, 3, 16, Step(40, 0)),        # the new node claims what was released, beyond the move limit
    (100, 156, 2, 16, Step(28, 0)),     # a peer died: its orphans are claimed at once up to the ceiling
])
def test_plan_step(mine: int, free: int, live: int, moves: int, step: Step) -> None:
    assert plan_step(mine, free, 256, live, moves) == step


def test_join_converges_to_fair_share_in_a_few_renews() -> None:
    owners = {"a": 128, "b": 128, "c": 0}
    free = 0
    rounds = 0
    while (free or max(owners.values()) > fair_ceiling(256, 3)) and rounds < 50:
        rounds += 1
        for node in owners:
            step = plan_step(owners[node], free, 256, 3, 16)
            take = min(step.claim, free)
            owners[node] += take - step.release
            free += step.release - take
    assert rounds <= 5, owners           # 5 renews of 3 s: well within the 20 s promise
    assert sum(owners.values()) == 256 and min(owners.values()) >= 256 // 3 - 2


def test_unowned_counts_dead_owners() -> None:
    assert unowned({0: "a", 1: "b", 2: None}, ["a"], 4) == [1, 2, 3]


def test_lease_timing_validation() -> None:
    LeaseTiming(15, 3, 3)
    LeaseTiming(6, 1, 2)
    for bad in [(0, 1, 1), (6, 1, 6), (6, 3, 2), (6, -1, 1)]:
        with pytest.raises(ValueError):
            LeaseTiming(*bad)
    assert 0.5 <= LeaseTiming(6, 1, 2).statement_timeout_seconds <= 1


def test_fence_deadline_counts_from_the_send_not_the_reply() -> None:
    fence = Fence(LeaseTiming(ttl_seconds=6, renew_seconds=1, margin_seconds=2))
    assert not fence.allowed(0.0)                 # never renewed: fenced
    fence.renewed(sent_at_monotonic=100.0)        # the reply came back at 100.9: irrelevant
    assert fence.deadline() == 104.0
    assert fence.allowed(103.99) and not fence.allowed(104.0)
    assert fence.left_seconds(103.0) == pytest.approx(1.0)
    fence.renewed(99.0)                           # a late reply of an older renew never shortens it
    assert fence.deadline() == 104.0
    fence.renewed(101.0)
    assert fence.deadline() == 105.0
    assert fence.may_send(102.0, 2.5) and not fence.may_send(102.0, 3.0)
    fence.lost()
    assert not fence.allowed(101.5) and fence.left_seconds(101.5) == 0


def test_fence_comes_before_database_expiry_even_with_delay() -> None:
    timing = LeaseTiming(ttl_seconds=6, renew_seconds=1, margin_seconds=2)
    fence = Fence(timing)
    sent, db_executes_at = 50.0, 50.0 + 0.8     # the statement reached the server 0.8 s later
    fence.renewed(sent)
    db_expiry = db_executes_at + timing.ttl_seconds
    assert fence.deadline() is not None and fence.deadline() < db_expiry - timing.margin_seconds + 0.8 + 1e-9


@pytest.mark.parametrize("n, confirm", [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_default_confirm_is_a_majority(n: int, confirm: int) -> None:
    assert default_confirm(n) == confirm


NOW = 1_000_000.0
V3 = ("dc", "venue", "pop")


@pytest.mark.parametrize("votes, state, since, kw", [
    # 2-of-3: one site down only -> no page
    ([Vote("dc", True, NOW - 1, NOW - 30), Vote("venue", False, NOW - 2), Vote("pop", False, NOW - 1)],
     State.UP, None, {}),
    # two sites down -> down, dated from the earliest first failure
    ([Vote("dc", True, NOW - 1, NOW - 30), Vote("venue", True, NOW - 2, NOW - 45), Vote("pop", False, NOW - 1)],
     State.DOWN, NOW - 45, {}),
    # a stale down vote is no vote: one fresh down + one stale down + one up -> cannot decide
    ([Vote("dc", True, NOW - 1, NOW - 30), Vote("venue", True, NOW - 100, NOW - 200), Vote("pop", False, NOW)],
     State.UNKNOWN, None, {}),
    # nobody fresh -> unknown, never down
    ([Vote("dc", True, NOW - 100, NOW - 200)], State.UNKNOWN, None, {}),
    ([], State.UNKNOWN, None, {}),
    # two up, one silent: even if the silent one were down, 1 < 2 -> up
    ([Vote("dc", False, NOW), Vote("venue", False, NOW)], State.UP, None, {}),
    # confirm: 1 -> any fresh down pages
    ([Vote("dc", False, NOW), Vote("venue", True, NOW - 3, NOW - 9)], State.DOWN, NOW - 9, {"confirm": 1}),
    # confirm: 3 -> two down is not enough, the third is silent: unknown
    ([Vote("dc", True, NOW, NOW - 5), Vote("venue", True, NOW, NOW - 6)], State.UNKNOWN, None, {"confirm": 3}),
    # an isolated site's down vote does not count (its up votes would)
    ([Vote("dc", True, NOW, NOW - 5), Vote("venue", True, NOW, NOW - 6), Vote("pop", False, NOW)],
     State.UNKNOWN, None, {"isolated": ["venue"]}),
    # votes of sites that are not vantages of the check are ignored
    ([Vote("elsewhere", True, NOW, NOW), Vote("dc", False, NOW), Vote("venue", False, NOW)], State.UP, None, {}),
    # the latest vote of a site wins
    ([Vote("dc", True, NOW - 5, NOW - 5), Vote("dc", False, NOW - 1), Vote("venue", True, NOW, NOW - 2)],
     State.UNKNOWN, None, {}),
    # a down vote without a first-failure time is dated by the vote itself
    ([Vote("dc", True, NOW - 4), Vote("venue", True, NOW - 2, NOW - 3)], State.DOWN, NOW - 4, {}),
])
def test_aggregate(votes: list[Vote], state: State, since: float | None, kw: dict[str, object]) -> None:
    verdict = aggregate(V3, votes, NOW, fresh_seconds=20, **kw)  # type: ignore[arg-type]
    assert verdict.state is state
    assert verdict.since == since


def test_aggregate_names_the_sites_that_still_see_it_up() -> None:
    verdict = aggregate(V3, [Vote("dc", True, NOW, NOW - 5), Vote("venue", True, NOW, NOW - 6),
                             Vote("pop", False, NOW)], NOW, 20)
    assert verdict.state is State.DOWN
    assert verdict.down_sites == ("dc", "venue") and verdict.up_sites == ("pop",) and verdict.silent_sites == ()


def test_freshness_boundary_follows_the_injected_clock() -> None:
    votes = [Vote("dc", True, 100.0, 90.0), Vote("venue", True, 100.0, 95.0)]
    assert aggregate(V3, votes, 120.0, 20).state is State.DOWN
    assert aggregate(V3, votes, 120.01, 20).state is State.UNKNOWN


ANCHORS = {"dc": ("venue-node", "dc-gw"), "venue": ("dc-node", "dc-web", "venue-gw"), "pop": ("dc-node",)}


@pytest.mark.parametrize("seen, isolated", [
    ({}, frozenset()),
    # venue sees its DC anchors down while dc and pop see them up: venue is cut off
    ({("venue", "dc-node"): False, ("venue", "dc-web"): False, ("venue", "venue-gw"): True,
      ("dc", "dc-node"): True, ("pop", "dc-node"): True}, frozenset({"venue"})),
    # everyone sees dc-node down: an outage of dc-node, not isolation
    ({("venue", "dc-node"): False, ("venue", "dc-web"): False, ("pop", "dc-node"): False},
     frozenset()),
    # one of three venue anchors failing is below the ratio
    ({("venue", "dc-web"): False, ("dc", "dc-web"): True}, frozenset()),
    # no other site has a fresh view of the failing anchors: no conclusion
    ({("venue", "dc-node"): False, ("venue", "dc-web"): False}, frozenset()),
    # pop's only anchor fails from pop and is up from venue
    ({("pop", "dc-node"): False, ("venue", "dc-node"): True}, frozenset({"pop"})),
])
def test_isolated_sites(seen: dict[tuple[str, str], bool], isolated: frozenset[str]) -> None:
    assert isolated_sites(ANCHORS, seen) == isolated


def test_isolation_ratio_is_configurable() -> None:
    seen = {("venue", "dc-web"): False, ("dc", "dc-web"): True}
    assert isolated_sites(ANCHORS, seen, IsolationRule(failing_ratio=0.3)) == {"venue"}


def test_suspect_site_disagrees_on_many_checks_at_once() -> None:
    views = {f"c{i}": {"dc": False, "venue": True, "pop": False} for i in range(6)}
    views["c6"] = {"dc": True, "venue": True, "pop": True}
    assert suspect_sites(views) == {"venue"}
    assert suspect_sites(views, IsolationRule(suspect_min_checks=7)) == frozenset()
    # two voters only: nobody can tell who is wrong
    assert suspect_sites({f"c{i}": {"dc": False, "venue": True} for i in range(9)}) == frozenset()
    # a few disagreements among many agreements: below the ratio
    calm = {f"c{i}": {"dc": False, "venue": False, "pop": False} for i in range(20)}
    calm.update({f"d{i}": {"dc": False, "venue": True, "pop": False} for i in range(5)})
    assert suspect_sites(calm) == frozenset()


def _check(vantage: tuple[str, ...], confirm: int | None = None) -> "Check":
    from netwatch.model import AlertPolicy, Check, Target
    return Check("portal/tcp", Target(id="portal", host="127.0.0.1"), "tcp", 1.0, 0.5, AlertPolicy(), None,
                 vantage=vantage, confirm=confirm)


def test_confirm_tracker_pages_on_two_of_three_once() -> None:
    from netwatch.cluster.confirm import ConfirmTracker
    check = _check(V3)
    tracker = ConfirmTracker(20, {"portal/tcp": State.UP})
    one = {"portal/tcp": [Vote("dc", True, NOW, NOW - 5), Vote("venue", False, NOW), Vote("pop", False, NOW)]}
    assert tracker.step(NOW, [check], one) == []                      # blocked from one site only: no change
    two = {"portal/tcp": [Vote("dc", True, NOW, NOW - 5), Vote("venue", True, NOW, NOW - 3),
                          Vote("pop", False, NOW)]}
    [change] = tracker.step(NOW + 1, [check], two)
    t = change.transition
    assert (t.from_state, t.to_state, t.since, t.error) == (State.UP, State.DOWN, NOW - 5, "down from dc, venue")
    assert t.detail == "vẫn truy cập được từ pop"
    assert tracker.step(NOW + 2, [check], two) == []                  # once per change
    stale = tracker.step(NOW + 100, [check], two)                      # every vote stale: unknown, not up
    assert [c.transition.to_state for c in stale] == [State.UNKNOWN]


def test_confirm_tracker_resumes_from_stored_state_and_skips_single_site_checks() -> None:
    from netwatch.cluster.confirm import ConfirmTracker
    tracker = ConfirmTracker(20, {"portal/tcp": State.DOWN})
    down = {"portal/tcp": [Vote("dc", True, NOW, NOW - 9), Vote("venue", True, NOW, NOW - 8)]}
    assert tracker.step(NOW, [_check(V3)], down) == []                # the predecessor already decided it
    assert tracker.step(NOW, [_check(())], down) == []                # no vantage list: not a voted check
