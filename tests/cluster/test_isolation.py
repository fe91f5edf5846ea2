"""Site isolation's pure wiring decisions with an injected clock: anchor streaks, site verdicts, the site page."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from netwatch.cluster.isolation import (AnchorStreaks, AnchorView, IsolationRule, SiteWatch, anchor_address,
                                        site_check_id)
from netwatch.model import State

ANCHORS = {"dc": ("10.20.0.1", "10.30.0.10:443"), "venue": ("10.20.0.1", "10.30.0.10:443")}   # example
NOW = 1_800_000_000.0


def views(at: float, **by_site: tuple[bool, bool]) -> list[AnchorView]:
    out = []
    for site, ups in by_site.items():
        for anchor, up in zip(ANCHORS[site], ups):
            out.append(AnchorView(site, anchor, up, at))
    return out


@pytest.mark.parametrize("anchor, parsed", [
    ("10.20.0.1", ("10.20.0.1", None)),                    # example
    ("10.20.0.1:443", ("10.20.0.1", 443)),                 # example
    ("gw.venue.example", ("gw.venue.example", None)),
    ("[2001:db8::1]:22", ("2001:db8::1", 22)),             # example
    ("2001:db8::1", ("2001:db8::1", None)),                # example
])
def test_anchor_address(anchor: str, parsed: tuple[str, int | None]) -> None:
    assert anchor_address(anchor) == parsed


def test_anchor_recorded_down_only_after_two_failed_rounds_but_the_local_hint_is_at_once() -> None:
    streaks = AnchorStreaks(("a", "b"), IsolationRule(failing_ratio=0.5), hold_seconds=5.0)
    assert streaks.observe({"a": True, "b": True}, 0.0) == {"a": True, "b": True}
    assert not streaks.holding(0.0)
    assert streaks.observe({"a": False, "b": True}, 1.0) == {"a": True, "b": True}   # one lost echo
    assert streaks.holding(1.0)                                                     # but hold own pages already
    assert streaks.observe({"a": False, "b": True}, 2.0) == {"a": False, "b": True}
    assert streaks.observe({"a": True, "b": True}, 3.0) == {"a": True, "b": True}
    assert not streaks.holding(3.0)
    assert not AnchorStreaks(()).holding(0.0)                                       # no anchors: never cut


def test_the_local_hold_ends_when_the_cluster_does_not_confirm_isolation() -> None:
    streaks = AnchorStreaks(("a",), hold_seconds=5.0)
    for t in range(8):
        streaks.observe({"a": False}, float(t))
    assert streaks.holding(5.0) and not streaks.holding(5.01)   # by the injected clock: the anchor's own outage


def test_site_isolated_once_and_back_once() -> None:
    watch = SiteWatch(fresh_seconds=4.0)
    assert watch.step(NOW, ANCHORS, views(NOW, dc=(True, True), venue=(True, True))) == []
    [change] = watch.step(NOW + 2, ANCHORS, views(NOW + 2, dc=(True, True), venue=(False, False)))
    assert (change.site, change.isolated, change.at) == ("venue", True, NOW + 2)
    assert change.failing == ANCHORS["venue"] and change.seen_up_from == ("dc",)
    assert watch.step(NOW + 3, ANCHORS, views(NOW + 3, dc=(True, True), venue=(False, False))) == []
    assert watch.isolated == {"venue"}
    [back] = watch.step(NOW + 5, ANCHORS, views(NOW + 5, dc=(True, True), venue=(True, True)))
    assert (back.site, back.isolated) == ("venue", False)
    assert watch.isolated == frozenset()


def test_anchors_down_everywhere_is_an_outage_not_isolation() -> None:
    watch = SiteWatch(fresh_seconds=4.0)
    assert watch.step(NOW, ANCHORS, views(NOW, dc=(False, False), venue=(False, False))) == []


def test_stale_views_do_not_count_and_a_silent_isolated_site_stays_isolated() -> None:
    watch = SiteWatch(fresh_seconds=4.0, silent_seconds=6.0)
    # dc's "up" view is older than fresh_seconds by the injected clock: no other site vouches for the anchors
    old_dc = views(NOW - 4.01, dc=(True, True))
    assert watch.step(NOW, ANCHORS, old_dc + views(NOW, venue=(False, False))) == []
    assert len(watch.step(NOW, ANCHORS, views(NOW - 4.0, dc=(True, True)) + views(NOW, venue=(False, False)))) == 1
    # the venue then stops writing (cut from PostgreSQL too): still isolated, no recovery without fresh views
    assert watch.step(NOW + 10, ANCHORS, views(NOW + 10, dc=(True, True)) + views(NOW, venue=(False, False))) == []
    assert watch.isolated == {"venue"}


def test_one_node_of_a_site_seeing_the_anchors_up_is_enough() -> None:
    watch = SiteWatch(fresh_seconds=4.0)
    rows = views(NOW, dc=(True, True), venue=(False, False)) + [AnchorView("venue", a, True, NOW)
                                                                  for a in ANCHORS["venue"]]
    assert watch.step(NOW, ANCHORS, rows) == []


def test_a_new_coordinator_resumes_an_open_isolation() -> None:
    watch = SiteWatch(fresh_seconds=4.0, isolated={"venue"})
    assert watch.step(NOW, ANCHORS, views(NOW, dc=(True, True), venue=(False, False))) == []
    assert [c.isolated for c in watch.step(NOW + 1, ANCHORS, views(NOW + 1, dc=(True, True),
                                                                   venue=(True, True)))] == [False]


def test_suspect_flagged_once_per_episode() -> None:
    watch = SiteWatch(fresh_seconds=4.0)
    disagree = {f"c{i}": {"dc": False, "venue": True, "pop": False} for i in range(6)}
    assert watch.flag_suspects(disagree) == ({"venue"}, frozenset())
    assert watch.flag_suspects(disagree) == (frozenset(), frozenset())
    assert watch.flag_suspects({}) == (frozenset(), {"venue"})


# -- the wiring: ClusterRole's per-check hold and the coordinator's one site page --------------------------

class FakeMembership:
    def __init__(self, site: str, coordinating: bool) -> None:
        from netwatch.cluster.leases import LeaseTiming
        from netwatch.cluster.membership import Lease
        self.site, self.node, self.timing = site, f"{site}-1", LeaseTiming(6.0, 1.0, 2.0)
        self._coordinating, self.lease = coordinating, Lease(0, 1)
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def owns(self, check_id: str, site: str | None = None) -> Any:
        return self.lease

    def fenced(self) -> bool:
        return False

    def coordinating(self) -> bool:
        return self._coordinating


def role(site: str, coordinating: bool, stored: dict[str, State] | None = None) -> tuple[Any, list[Any]]:
    from netwatch.cluster.node import ClusterNode
    from netwatch.clustering import ClusterRole
    from netwatch.live import LiveView
    from netwatch.alerting.state import restored

    class Store:
        def last_states(self) -> dict[str, Any]:
            return {cid: restored(s, NOW - 60) for cid, s in (stored or {}).items()}

    node = ClusterNode(FakeMembership(site, coordinating), None, anchors=dict(ANCHORS))  # type: ignore[arg-type]
    submitted: list[Any] = []
    r = ClusterRole(node, Store(), LiveView([], {}), lambda: None,  # type: ignore[arg-type]
                    lambda check, result, t: (check, result, t), submitted.append,
                    clock=lambda: NOW + 10)   # the wall clock of these results
    return r, submitted


def tcp_check() -> Any:
    from netwatch.model import AlertPolicy, Check, Target
    return Check("web/tcp", Target(id="web", host="127.0.0.1"), "tcp", 1.0, 0.5, AlertPolicy(), None)


def result(ok: bool, at: float = NOW) -> Any:
    from netwatch.model import Outcome, Result
    return Result("web/tcp", "web", "tcp", at, 0.01, Outcome(ok=ok, error=None if ok else "timeout"))


def test_a_node_whose_anchors_fail_holds_its_own_failing_results_and_releases_them() -> None:
    async def run() -> None:
        r, _ = role("venue", coordinating=False)
        check = tcp_check()
        r.live.apply([check])
        assert r.on_result(check, result(False)) is True              # anchors fine: its own state pages
        r.node.record_anchors({a: False for a in ANCHORS["venue"]})
        assert r.on_result(check, result(False)) is False             # looks cut: no per-check page, no vote
        assert r.live.views["web/tcp"].overlay is State.UNREACHABLE
        assert r.on_result(check, result(True)) is True               # a success is never held
        r.node.membership.now += r.node.anchor_streaks.hold_seconds + 0.1
        assert not r.node.site_cut()                                  # not confirmed in time: pages resume
        r.node.sites.isolated = frozenset({"venue"})
        assert r.node.site_cut()                                      # confirmed: held for as long as it lasts
        assert r.on_result(check, result(False)) is False and r.held_unreachable == {"web/tcp"}
        r.node.sites.isolated = frozenset()
        r.live.update(check, result(False))
        r.live.update(check, result(False))
        r.live.update(check, result(False))                          # its step state went down meanwhile
        assert r.live.views["web/tcp"].state.state is State.DOWN
        assert r.on_result(check, result(True)) is False              # back and recovering: nothing to page
        assert r.live.views["web/tcp"].overlay is State.UNREACHABLE
        r.live.update(check, result(True))
        r.live.update(check, result(True))
        assert r.on_result(check, result(True)) is True               # recovered: released, decides as usual
        assert r.live.views["web/tcp"].overlay is None and not r.held_unreachable
        r.node.record_anchors({a: False for a in ANCHORS["venue"]})
        assert r.on_result(check, result(False, NOW + 10)) is False
        r.node.membership.now += r.node.anchor_streaks.hold_seconds + 0.1
        # a probe sent into the cut that answers after the site is back is still the cut's
        assert r.on_result(check, result(False, NOW + 10.5)) is False
        assert r.on_result(check, result(False, NOW + 12)) is True    # failing with the site back: pages
        assert not r.held_unreachable
        await asyncio.gather(*r.tasks)
    asyncio.run(run())


def test_the_coordinator_pages_one_site_isolated_and_one_recovery() -> None:
    async def run() -> None:
        r, submitted = role("dc", coordinating=True)
        watch = r.node.sites
        changes = watch.step(NOW, ANCHORS, views(NOW, dc=(True, True), venue=(False, False)))
        await r.page_sites(changes)
        await r.page_sites(watch.step(NOW + 1, ANCHORS, views(NOW + 1, dc=(True, True), venue=(False, False))))
        [(check, res, t)] = submitted
        assert check.id == site_check_id("venue") and check.target.name == "venue"
        assert (t.from_state, t.to_state, t.since, res.outcome.error) == (State.UP, State.DOWN, NOW, "site_isolated")
        assert "seen up from dc" in res.outcome.detail
        await r.page_sites(watch.step(NOW + 3, ANCHORS, views(NOW + 3, dc=(True, True), venue=(True, True))))
        assert [s[2].to_state for s in submitted] == [State.DOWN, State.UP]
    asyncio.run(run())


def test_a_new_coordinator_continues_from_the_recorded_site_state() -> None:
    async def run() -> None:
        r, submitted = role("dc", coordinating=True, stored={site_check_id("venue"): State.DOWN})
        await r.page_sites(r.node.sites.step(NOW, ANCHORS, views(NOW, dc=(True, True), venue=(False, False))))
        assert submitted == []                                        # its predecessor already paged it
        await r.page_sites(r.node.sites.step(NOW + 1, ANCHORS, views(NOW + 1, dc=(True, True), venue=(True, True))))
        assert [s[2].to_state for s in submitted] == [State.UP]
    asyncio.run(run())


def test_a_node_that_does_not_coordinate_pages_no_site() -> None:
    async def run() -> None:
        r, submitted = role("dc", coordinating=False)
        await r.page_sites(r.node.sites.step(NOW, ANCHORS, views(NOW, dc=(True, True), venue=(False, False))))
        assert submitted == [] and r.node.sites.isolated == {"venue"}
    asyncio.run(run())


def test_a_site_whose_nodes_all_stopped_reporting_is_lost_after_a_lease_ttl() -> None:
    watch = SiteWatch(fresh_seconds=4.0, silent_seconds=6.0)
    before = views(NOW, dc=(True, True), venue=(True, True))
    assert watch.step(NOW, ANCHORS, before) == []
    # the venue is cut from PostgreSQL too: its rows stop at NOW, dc keeps reporting
    assert watch.step(NOW + 6.0, ANCHORS, views(NOW + 6.0, dc=(True, True)) + views(NOW, venue=(True, True))) == []
    [lost] = watch.step(NOW + 6.01, ANCHORS, views(NOW + 6.01, dc=(True, True)) + views(NOW, venue=(True, True)))
    assert (lost.site, lost.isolated, lost.failing, lost.seen_up_from) == ("venue", True, ANCHORS["venue"], ("dc",))
    [back] = watch.step(NOW + 20, ANCHORS, views(NOW + 20, dc=(True, True), venue=(True, True)))
    assert (back.site, back.isolated) == ("venue", False)
    # everyone silent (the coordinator's own view is stale too): no conclusion
    assert SiteWatch(4.0, silent_seconds=6.0).step(NOW + 100, ANCHORS, before) == []
    # a site that never reported (no node started yet) is not lost
    assert SiteWatch(4.0, silent_seconds=6.0).step(NOW, ANCHORS, views(NOW, dc=(True, True))) == []


def test_cluster_status_shows_isolated_and_suspect_sites(pg_cluster: Any, tmp_path: Any) -> None:
    """`netwatch cluster status` applies the rules to what the nodes recorded (read-only)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from netwatch.cluster.slots import slot_of
    from netwatch.store.cluster import ClusterStore

    import threading
    name = pg_cluster.create_database("status")
    store = ClusterStore(pg_cluster.url(name), pg_cluster.password, "status")
    stop = threading.Event()
    reporter: threading.Thread | None = None
    try:
        store.ensure_schema(4)
        checks = [f"c{i}/tcp" for i in range(5)]
        for site in ("dc", "venue", "pop"):
            store.join(f"{site}-1", site, "h", 300)
            leases = store.claim(f"{site}-1", site, 4, 300)
            for cid in checks:
                slot = slot_of(cid, site, 4)
                store.record_step(f"{site}-1", slot, leases[slot], cid, site, site != "venue", NOW, 1, 1)
        def report() -> None:   # as live nodes do, once per probe round
            while not stop.is_set():
                store.record_anchors("dc-1", "dc", {"127.0.0.9": True})
                store.record_anchors("venue-1", "venue", {"127.0.0.9": False})
                stop.wait(0.5)
        reporter = threading.Thread(target=report, daemon=True)
        reporter.start()
        pw = tmp_path / "pw"
        pw.write_text(pg_cluster.password)
        targets = "".join(f"  - {{id: c{i}, host: 127.0.0.1, checks: [{{kind: tcp, port: 1, "
                          "vantage: [dc, venue, pop]}]}\n" for i in range(5))
        cfg = tmp_path / "cluster.yaml"
        cfg.write_text(f"""
listen: 127.0.0.1:1
cluster:
  dsn: {{url: "{pg_cluster.url(name)}", password_file: {pw}}}
  node: ops
  site: dc
  sites: {{dc: {{anchors: [127.0.0.9]}}, venue: {{anchors: [127.0.0.9]}}, pop: {{}}}}
  slots: 4
targets:
{targets}""")
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        run = [sys.executable, "-m", "netwatch", "--lang", "vi", "cluster", "status", "-c", str(cfg)]
        done = subprocess.run(run, capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        assert "mất liên lạc với điểm venue" in done.stdout and "Nghi vấn: điểm venue" in done.stdout, done.stdout
        data = json.loads(subprocess.run(run + ["--json"], capture_output=True, text=True, timeout=60,
                                         env=env).stdout)
        assert (data["isolated_sites"], data["suspect_sites"]) == (["venue"], ["venue"])
    finally:
        stop.set()
        if reporter is not None:
            reporter.join(5)
        store.close()
        pg_cluster.drop_database(name)


def test_a_node_that_loses_the_coordinator_lease_stops_saying_suspect() -> None:
    """Suspect sites are the coordinator's verdict: after a handover the old coordinator's /metrics said
    `netwatch_cluster_site_suspect 1` for as long as it ran."""
    from netwatch.cluster.node import ClusterNode
    from netwatch.model import AlertPolicy, Check, Target

    class Membership(FakeMembership):
        refused = None
        handovers_total = 0

        def owned_slots(self) -> dict[int, int]:
            return {}

    membership = Membership("dc", coordinating=True)
    node = ClusterNode(membership, None, anchors={"dc": (), "venue": (), "pop": ()})  # type: ignore[arg-type]
    node.sites.flag_suspects({f"c{i}": {"dc": False, "venue": True, "pop": False} for i in range(6)})

    def suspect() -> dict[str, float]:
        [family] = [m for m in node.metrics() if m.name == "netwatch_cluster_site_suspect"]
        return {s.labels["site"]: s.value for s in family.samples}
    assert suspect() == {"dc": 0.0, "pop": 0.0, "venue": 1.0}
    voted = Check("c0/tcp", Target(id="c0", host="127.0.0.1"), "tcp", 1.0, 0.5, AlertPolicy(), None,
                  vantage=("dc", "venue", "pop"))
    membership._coordinating = False          # another node took the lease over
    assert node.confirm([voted], dict) == []
    assert suspect() == {"dc": 0.0, "pop": 0.0, "venue": 0.0}
