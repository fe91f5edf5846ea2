"""Telling a cut-off site from an outage: anchors failing from one site only, and sites that disagree."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

__all__ = ["IsolationRule", "isolated_sites", "suspect_sites", "AnchorStreaks", "AnchorView", "SiteChange",
           "SiteWatch", "anchor_address", "site_check_id", "SITE_CHECK_PREFIX", "site_flags", "anchor_fresh_seconds"]


@dataclass(frozen=True)
class IsolationRule:
    """`failing_ratio`: share of a site's anchors that must fail from it; `suspect_*`: disagreement limits."""

    failing_ratio: float = 0.5
    suspect_min_checks: int = 5
    suspect_ratio: float = 0.5


def isolated_sites(anchors: Mapping[str, Sequence[str]], seen_up: Mapping[tuple[str, str], bool],
                   rule: IsolationRule = IsolationRule()) -> frozenset[str]:
    """Sites whose anchors fail from themselves while some other site sees those anchors up.

    `seen_up[(site, anchor)]` holds each site's FRESH view of an anchor (missing = no fresh view).
    Without another site's view of a failing anchor nothing is concluded: that is an outage of the
    anchor or of everything, and ordinary checks and votes handle it.
    """
    out = set()
    for site, own in anchors.items():
        if not own:
            continue
        failing = [a for a in own if seen_up.get((site, a)) is False]
        if len(failing) < max(1, math.ceil(rule.failing_ratio * len(own))):
            continue
        others_see_up = any(seen_up.get((other, a)) is True
                            for a in failing for other in anchors if other != site)
        if others_see_up:
            out.add(site)
    return frozenset(out)


def suspect_sites(views: Mapping[str, Mapping[str, bool]],
                  rule: IsolationRule = IsolationRule()) -> frozenset[str]:
    """Sites that disagree with all the other sites on many checks at once.

    `views[check][site]` is a fresh vote (True = down). A site disagrees on a check when at least two
    other sites voted and all of them voted the opposite way (with only two voters nobody can tell
    which one is wrong). Flagged when it disagrees on at least `suspect_min_checks` checks and on at
    least `suspect_ratio` of the checks it shared with two or more other sites.
    """
    shared: dict[str, int] = {}
    against: dict[str, int] = {}
    for by_site in views.values():
        if len(by_site) < 3:
            continue
        for site, down in by_site.items():
            others = [d for s, d in by_site.items() if s != site]
            shared[site] = shared.get(site, 0) + 1
            if all(d != down for d in others):
                against[site] = against.get(site, 0) + 1
    return frozenset(site for site, n in against.items()
                     if n >= rule.suspect_min_checks and n >= rule.suspect_ratio * shared[site])


# -- the wiring's pure half: anchor streaks on a node, the coordinator's site verdicts ------------------

SITE_CHECK_PREFIX = "site-isolated:"   # the synthetic check id of a site's "site isolated" incident


def site_check_id(site: str) -> str:
    return SITE_CHECK_PREFIX + site


def anchor_address(anchor: str) -> tuple[str, int | None]:
    """"HOST" (ICMP echo) or "HOST:PORT" / "[V6]:PORT" (TCP connect) -> (host, port or None)."""
    if anchor.startswith("["):
        host, _, rest = anchor[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if anchor.count(":") == 1:
        host, _, port = anchor.partition(":")
        if port.isdigit():
            return host, int(port)
    return anchor, None


class AnchorStreaks:
    """A node's view of its own site's anchors, one probe round at a time (pure: results and time passed in).

    An anchor is recorded down only after `fail_after` failed rounds in a row (one lost echo is not a
    cut uplink). `holding(now)` is the faster, node-local hint that holds this node's own per-check
    verdicts: the latest round failed for at least `failing_ratio` of the anchors, for at most
    `hold_seconds` — long enough for the cluster to conclude isolation from every site's views; if it
    does not (the anchors are down from everywhere: an outage, not a cut uplink), the hold ends.
    """

    def __init__(self, anchors: Sequence[str], rule: IsolationRule = IsolationRule(), fail_after: int = 2,
                 hold_seconds: float = 10.0) -> None:
        self.anchors = tuple(anchors)
        self.rule = rule
        self.fail_after = fail_after
        self.hold_seconds = hold_seconds
        self.fails: dict[str, int] = {a: 0 for a in self.anchors}
        self.cut_since: float | None = None

    def observe(self, results: Mapping[str, bool], now: float) -> dict[str, bool]:
        """One round's results (True = answered) at `now` -> the views to record, anchor -> up."""
        out = {}
        for anchor in self.anchors:
            if anchor not in results:
                continue
            self.fails[anchor] = 0 if results[anchor] else self.fails.get(anchor, 0) + 1
            out[anchor] = self.fails[anchor] < self.fail_after
        if self.locally_cut():
            self.cut_since = now if self.cut_since is None else self.cut_since
        else:
            self.cut_since = None
        return out

    def locally_cut(self) -> bool:
        """The latest round failed for enough of the anchors."""
        if not self.anchors:
            return False
        failing = sum(1 for a in self.anchors if self.fails.get(a, 0) > 0)
        return failing >= max(1, math.ceil(self.rule.failing_ratio * len(self.anchors)))

    def holding(self, now: float) -> bool:
        return self.cut_since is not None and now - self.cut_since <= self.hold_seconds


@dataclass(frozen=True)
class AnchorView:
    """One site's latest recorded view of one anchor; `at` in database Unix seconds."""

    site: str
    anchor: str
    up: bool
    at: float


@dataclass(frozen=True)
class SiteChange:
    """A site became isolated (or stopped being); `failing`: its failing anchors, `seen_up_from`: who sees them."""

    site: str
    isolated: bool
    at: float
    failing: tuple[str, ...] = ()
    seen_up_from: tuple[str, ...] = ()
    silent: bool = False        # its nodes stopped reporting altogether (cut from PostgreSQL too, or down)


class SiteWatch:
    """Pure: `step(now, anchors, views)` -> the sites that became isolated or came back, once per change.

    Only views younger than `fresh_seconds` count (a site that stopped writing has no say). Started
    from the stored state so a new coordinator neither re-raises nor forgets an open isolation.
    Suspect sites (disagreeing with the others on many checks at once) are tracked beside it.
    """

    def __init__(self, fresh_seconds: float, rule: IsolationRule = IsolationRule(),
                 isolated: Iterable[str] = (), silent_seconds: float | None = None) -> None:
        self.fresh_seconds = fresh_seconds
        # A site is lost when all its views are older than this (at least a lease TTL: its nodes have
        # fenced themselves by then; a slow statement is not a lost site).
        self.silent_seconds = max(fresh_seconds, silent_seconds or 0.0)
        self.rule = rule
        self.isolated: frozenset[str] = frozenset(isolated)
        self.suspect: frozenset[str] = frozenset()
        self.at = 0.0   # the `now` of the last step (database time)

    def fresh(self, now: float, views: Iterable[AnchorView]) -> dict[tuple[str, str], bool]:
        """(site, anchor) -> up from fresh views; a site sees an anchor up when any of its nodes does."""
        out: dict[tuple[str, str], bool] = {}
        for v in views:
            if now - v.at <= self.fresh_seconds:
                out[(v.site, v.anchor)] = out.get((v.site, v.anchor), False) or v.up
        return out

    def silent_sites(self, now: float, anchors: Mapping[str, Sequence[str]], views: Sequence[AnchorView]
                     ) -> frozenset[str]:
        """Sites with anchors whose nodes all stopped reporting them (cut from PostgreSQL too, or dead)
        while another site still reports fresh views: contact with the site is lost. A node that stops
        cleanly deletes its views, so a planned stop is not this."""
        latest: dict[str, float] = {}
        for v in views:
            latest[v.site] = max(latest.get(v.site, v.at), v.at)
        fresh = {site for site, at in latest.items() if now - at <= self.fresh_seconds}
        return frozenset(site for site, at in latest.items()
                         if anchors.get(site) and now - at > self.silent_seconds and fresh - {site})

    def step(self, now: float, anchors: Mapping[str, Sequence[str]], views: Iterable[AnchorView]
             ) -> list[SiteChange]:
        self.at = now
        views = list(views)
        seen = self.fresh(now, views)
        silent = self.silent_sites(now, anchors, views)
        current = isolated_sites(anchors, seen, self.rule) | silent
        out = []
        for site in sorted(current - self.isolated):
            failing = tuple(a for a in anchors.get(site, ()) if seen.get((site, a)) is not True)
            up_from = tuple(sorted({other for (other, a), up in seen.items()
                                    if up and other != site and a in failing}))
            out.append(SiteChange(site, True, now, failing, up_from, site in silent))
        for site in sorted(self.isolated - current):
            # Back only when the site's own views are fresh and no longer failing: a site that stopped
            # writing altogether (cut from PostgreSQL too) stays isolated until it reports again.
            own = [seen.get((site, a)) for a in anchors.get(site, ())]
            if any(v is None for v in own):
                current = current | {site}
                continue
            out.append(SiteChange(site, False, now))
        self.isolated = frozenset(current)
        return out

    def flag_suspects(self, views: Mapping[str, Mapping[str, bool]]) -> tuple[frozenset[str], frozenset[str]]:
        """Fresh votes check -> site -> down in; (newly suspect, no longer suspect) out."""
        now_suspect = suspect_sites(views, self.rule)
        new, gone = now_suspect - self.suspect, self.suspect - now_suspect
        self.suspect = now_suspect
        return frozenset(new), frozenset(gone)


def anchor_fresh_seconds(renew_seconds: float) -> float:
    """How long an anchor view counts: three probe rounds (once per renew, at least every second) + a timeout."""
    return 3 * min(1.0, renew_seconds) + 1.0


def site_flags(now: float, anchors: Mapping[str, Sequence[str]], views: Iterable[tuple[str, str, bool, float]],
               votes: Iterable[tuple[str, str, bool, float]], renew_seconds: float, ttl_seconds: float,
               vote_fresh_seconds: float, rule: IsolationRule = IsolationRule()
               ) -> tuple[frozenset[str], frozenset[str]]:
    """(isolated, suspect) sites at `now` (database time) from the recorded anchor views (site, anchor, up, at)
    and votes (check, site, down, at), by the rules every node applies, with the nodes' freshness limits —
    stateless: the view of the moment that `netwatch cluster status`, the board's panel and /api/v1/cluster
    show (the coordinator's "site isolated" incident is the durable record)."""
    watch = SiteWatch(anchor_fresh_seconds(renew_seconds), rule, silent_seconds=ttl_seconds)
    isolated: frozenset[str] = frozenset()
    if any(anchors.values()):
        watch.step(now, anchors, [AnchorView(*row) for row in views])
        isolated = watch.isolated
    fresh: dict[str, dict[str, bool]] = {}
    for check_id, site, down, at in votes:
        if now - at <= vote_fresh_seconds:
            fresh.setdefault(check_id, {})[site] = down
    return isolated, suspect_sites(fresh, rule)
