"""Which slot a (check, site) pair lives in, each node's fair share of slots, and gentle rebalancing."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Mapping, Sequence

__all__ = ["DEFAULT_SLOTS", "slot_of", "fair_ceiling", "Step", "plan_step"]

# Fixed for the life of a cluster: changing it re-maps every check. 256 is enough for tens of thousands of
# checks on a handful of nodes while one renew statement still touches only a few hundred rows.
DEFAULT_SLOTS = 256


def slot_of(check_id: str, site: str, slots: int = DEFAULT_SLOTS) -> int:
    """A stable slot number: crc32 is the same in every process and release, unlike Python's salted hash()."""
    if slots <= 0:
        raise ValueError("slots must be positive")
    # A NUL separator keeps ("a/b", "c") and ("a", "b/c")-style pairs apart.
    return zlib.crc32(f"{check_id}\0{site}".encode("utf-8")) % slots


def fair_ceiling(slots: int, live_nodes: int) -> int:
    """The most slots one node should hold: the ceilings of all live nodes together cover every slot."""
    if live_nodes <= 0:
        return slots
    return math.ceil(slots / live_nodes)


@dataclass(frozen=True)
class Step:
    """What one node does at one renew: claim up to `claim` free slots, release `release` of its own."""

    claim: int
    release: int


def plan_step(mine: int, free: int, slots: int, live_nodes: int, max_moves: int) -> Step:
    """One node's move at a renew, from counts only (the database picks which rows, SKIP LOCKED).

    A node below its fair ceiling claims free slots (orphans of a dead node first of all: they are
    claimed at once, up to the ceiling, so a kill is healed within one renew after the lease expires).
    A node above the ceiling (a new node joined) gives back at most `max_moves` per renew, so a
    join moves ownership in small batches and no check goes unprobed for long.
    """
    ceiling = fair_ceiling(slots, max(live_nodes, 1))
    if mine > ceiling:
        return Step(claim=0, release=min(mine - ceiling, max(max_moves, 1)))
    return Step(claim=max(0, min(ceiling - mine, free)), release=0)


def unowned(owners: Mapping[int, str | None], live: Sequence[str], slots: int) -> list[int]:
    """Slots with no owner or an owner that is not live (for status and tests)."""
    alive = set(live)
    return [s for s in range(slots) if owners.get(s) not in alive]
