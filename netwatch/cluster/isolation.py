"""Telling a cut-off site from an outage: anchors failing from one site only, and sites that disagree."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

__all__ = ["IsolationRule", "isolated_sites", "suspect_sites"]


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
