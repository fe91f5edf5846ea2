"""Vantage votes of one check folded into one verdict: fresh votes only, down when `confirm` of them are down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from netwatch.model import State

__all__ = ["Vote", "Verdict", "default_confirm", "aggregate"]


@dataclass(frozen=True)
class Vote:
    """One site's view of a check, as its prober's step function left it.

    `at`: when the vote was last written (Unix seconds, database time); `down_since`: the first failing
    result of the current outage seen from that site (None while the site sees the check up).
    """

    site: str
    down: bool
    at: float
    down_since: float | None = None


@dataclass(frozen=True)
class Verdict:
    state: State                          # UP, DOWN or UNKNOWN (too few fresh votes to decide)
    since: float | None                   # DOWN: the earliest first failure among the down votes
    down_sites: tuple[str, ...] = ()
    up_sites: tuple[str, ...] = ()        # "vẫn truy cập được từ ..." on a page
    silent_sites: tuple[str, ...] = ()    # no fresh vote: stale, missing, or isolated


def default_confirm(vantages: int) -> int:
    """A majority of the vantages (1 of 1, 2 of 2, 2 of 3, 3 of 4)."""
    return vantages // 2 + 1


def aggregate(vantages: Sequence[str], votes: Iterable[Vote], now: float, fresh_seconds: float,
              confirm: int | None = None, isolated: Iterable[str] = ()) -> Verdict:
    """Fold the votes of `vantages` at `now`.

    A vote older than `fresh_seconds` counts as no vote: a site that cannot reach PostgreSQL has no
    say, it is never taken as down. A down vote from an isolated site is no vote either (its failures
    say the site is cut off, not that the check is down); its up votes still count.
    Down when at least `confirm` fresh votes are down; up when even all silent sites turning down
    could not reach `confirm`; otherwise unknown.
    """
    need = confirm if confirm is not None else default_confirm(len(vantages))
    cut_off = set(isolated)
    latest: dict[str, Vote] = {}
    for vote in votes:
        if vote.site in vantages and (vote.site not in latest or vote.at > latest[vote.site].at):
            latest[vote.site] = vote
    down: list[Vote] = []
    up: list[str] = []
    silent: list[str] = []
    for site in vantages:
        vote = latest.get(site)
        if vote is None or now - vote.at > fresh_seconds or (vote.down and site in cut_off):
            silent.append(site)
        elif vote.down:
            down.append(vote)
        else:
            up.append(site)
    down_sites = tuple(v.site for v in down)
    if len(down) >= need:
        starts = [v.down_since if v.down_since is not None else v.at for v in down]
        return Verdict(State.DOWN, min(starts), down_sites, tuple(up), tuple(silent))
    if len(down) + len(silent) < need:
        return Verdict(State.UP, None, down_sites, tuple(up), tuple(silent))
    return Verdict(State.UNKNOWN, None, down_sites, tuple(up), tuple(silent))
