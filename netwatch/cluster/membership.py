"""This node's place in the cluster: renew, claim and release slot leases, hold the coordinator lease, fence.

The I/O edge around the pure cores: a thread renews every `lease_renew` seconds on the cluster
database; everything else asks `owns()` / `coordinating()` before each probe and each write, which
only reads the node's own monotonic clock and never waits for the database.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from netwatch.cluster.leases import Fence, LeaseTiming
from netwatch.cluster.slots import plan_step, slot_of

__all__ = ["Membership", "Lease", "ClusterDatabase"]

log = logging.getLogger("netwatch.cluster")


class ClusterDatabase(Protocol):
    """What membership needs of netwatch.store.cluster.ClusterStore (a protocol keeps this layer pure)."""

    def join(self, node: str, site: str, config_hash: str, ttl_seconds: float) -> None: ...

    def cluster_hash(self, exclude: str | None = None) -> str | None: ...

    def refuse(self, node: str, reason: str) -> None: ...

    def renew(self, node: str, ttl_seconds: float) -> dict[int, int]: ...

    def counts(self, site: str) -> tuple[int, int, int]: ...

    def claim(self, node: str, site: str, limit: int, ttl_seconds: float) -> dict[int, int]: ...

    def release(self, node: str, slots: list[int]) -> list[int]: ...

    def coordinate(self, node: str, ttl_seconds: float) -> int | None: ...

    def resign(self, node: str) -> None: ...

    def others_live(self, node: str) -> int: ...

    def leave(self, node: str) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Lease:
    """What a write for a (check, site) carries: the slot and its lease epoch (the database checks both)."""

    slot: int
    epoch: int


class Membership:
    def __init__(self, db: ClusterDatabase, node: str, site: str, config_hash: str, timing: LeaseTiming,
                 slots: int, max_moves: int = 16, coordinate: bool = True,
                 clock: Callable[[], float] = time.monotonic, handover_after_seconds: float = 0.0) -> None:
        self.db = db
        self.node = node
        self.site = site
        self.config_hash = config_hash
        self.timing = timing
        self.slots = slots
        self.max_moves = max_moves
        self.may_coordinate = coordinate
        self.clock = clock
        self.fence = Fence(timing)
        self.coordinator_fence = Fence(timing)
        self.coordinator_epoch: int | None = None
        self.refused: str | None = None
        self.joined = False
        self.on_change: Callable[[], None] | None = None   # called (from the membership thread) after slots move
        self._owned: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None
        self.site_nodes = 0   # live nodes of this site at the last successful renew (this one included)
        # Coordinator hand-over: `undelivered` (set by the wiring) says how long a waiting message has failed
        # every send; past `handover_after_seconds` (0: never) and with another live node, this coordinator
        # first stops starting sends, lets the ones in flight end, then gives the lease back and keeps off
        # it for a TTL and two renews, so a node with a path to the gateway delivers.
        self.handover_after_seconds = handover_after_seconds
        self.undelivered: Callable[[], float] | None = None
        self.handing_over_since: float | None = None
        self.yield_until = 0.0
        self.handovers_total = 0

    # -- asked before every probe and write (no database call) -----------------------------
    def owns(self, check_id: str, site: str | None = None) -> Lease | None:
        """The lease to write with, or None: not ours, or fenced (no renew succeeded in time)."""
        if not self.fence.allowed(self.clock()):
            return None
        slot = slot_of(check_id, site or self.site, self.slots)
        with self._lock:
            epoch = self._owned.get(slot)
        return Lease(slot, epoch) if epoch is not None else None

    def fenced(self) -> bool:
        return not self.fence.allowed(self.clock())

    def spooling(self, check_id: str, site: str | None = None) -> bool:
        """Fenced (no renew in time) while holding the check's slot when the renews stopped, and the only
        live node of its site then: nobody else can take the check over, so it may keep probing into its
        local spool (never deciding or writing upstream) until the cluster is back. With another node in
        the site the fence holds strictly: that node takes the slots over and probes."""
        if self.fence.allowed(self.clock()) or self.site_nodes > 1:
            return False
        slot = slot_of(check_id, site or self.site, self.slots)
        with self._lock:
            return slot in self._owned

    def coordinating(self) -> bool:
        """Holds the coordinator lease and is not fenced (a fenced node does nothing at all)."""
        now = self.clock()
        return (self.coordinator_epoch is not None and self.coordinator_fence.allowed(now)
                and self.fence.allowed(now))

    def handing_over(self) -> bool:
        """Giving the coordinator lease away: no new send may start (the ones in flight may end)."""
        return self.handing_over_since is not None

    def coordinator_left_seconds(self) -> float:
        return self.coordinator_fence.left_seconds(self.clock()) if self.coordinator_epoch is not None else 0.0

    def owned_slots(self) -> dict[int, int]:
        with self._lock:
            return dict(self._owned)

    # -- the renew loop ------------------------------------------------------------------
    def tick(self) -> None:
        """One renew period: join or renew, check the config hash, rebalance, hold or seek the coordinator."""
        from netwatch.store.db import StoreError   # the database errors are the store's; import at the edge
        try:
            self._tick()
            if self._last_error is not None:
                log.warning("cluster database reachable again")
                self._last_error = None
        except StoreError as exc:
            if str(exc) != self._last_error:
                log.error("%s (fenced in %.1f s unless a renew succeeds)", exc, self.fence.left_seconds(self.clock()))
                self._last_error = str(exc)

    def _tick(self) -> None:
        ttl = self.timing.ttl_seconds
        sent = self.clock()
        if not self.joined:
            self.db.join(self.node, self.site, self.config_hash, ttl)
            self.joined = True
        cluster_hash = self.db.cluster_hash(exclude=self.node)
        if cluster_hash is not None and cluster_hash != self.config_hash:
            reason = (f"config hash {self.config_hash[:12]} differs from the cluster's {cluster_hash[:12]}: "
                      "this node takes no work until its config matches")
            if reason != self.refused:
                log.error("%s", reason)
                self.refused = reason
                self.db.refuse(self.node, reason)
            self._drop_all()
            # Give back whatever the database still counts as ours (slots and the coordinator lease)
            # before renewing the node row: renew must not keep slots alive that nobody probes.
            self.db.release(self.node, list(range(self.slots)))
            self.db.resign(self.node)
            self.db.renew(self.node, ttl)
            return
        if self.refused is not None:
            self.refused = None
            self.db.join(self.node, self.site, self.config_hash, ttl)
            log.info("config now matches the cluster's: taking work")
        held = self.db.renew(self.node, ttl)
        self.fence.renewed(sent)
        changed = False
        with self._lock:
            if set(held) != set(self._owned):
                changed = True
            self._owned = dict(held)
        live, free, total = self.db.counts(self.site)
        self.site_nodes = live
        step = plan_step(len(held), free, total, live, self.max_moves)
        if step.release:
            # Stop probing them first (out of the owned map), then give them back.
            with self._lock:
                give = sorted(self._owned, reverse=True)[:step.release]
                for slot in give:
                    self._owned.pop(slot, None)
            self.db.release(self.node, give)
            changed = True
        if step.claim:
            claimed = self.db.claim(self.node, self.site, step.claim, ttl)
            if claimed:
                with self._lock:
                    self._owned.update(claimed)
                changed = True
        if self.may_coordinate:
            self._coordinate(ttl)
        if changed and self.on_change is not None:
            self.on_change()

    def _coordinate(self, ttl: float) -> None:
        """Hold or seek the coordinator lease; hand it over while this node cannot deliver."""
        now = self.clock()
        if now < self.yield_until:
            return      # handed over: the other nodes get the first chance to take it
        if self.handing_over_since is not None and now - self.handing_over_since >= self._send_room_seconds():
            # Every send started before the hand-over has ended by now (a channel's timeout is shorter than
            # this room, see validate_channels), so giving the lease back now cannot duplicate a page.
            self.db.resign(self.node)
            log.warning("coordinator lease handed over: another node delivers the waiting messages")
            self.handovers_total += 1
            self.handing_over_since = None
            self.coordinator_epoch = None
            self.coordinator_fence.lost()
            self.yield_until = now + ttl + 2 * self.timing.renew_seconds
            return
        c_sent = self.clock()
        epoch = self.db.coordinate(self.node, ttl)
        if epoch is None:
            if self.coordinator_epoch is not None:
                log.warning("coordinator lease lost")
            self.coordinator_epoch = None
            self.coordinator_fence.lost()
            self.handing_over_since = None
            return
        if self.coordinator_epoch != epoch:
            log.info("coordinating the cluster (epoch %d)", epoch)
        self.coordinator_epoch = epoch
        self.coordinator_fence.renewed(c_sent)
        if self.handing_over_since is None and self._cannot_deliver(now):
            self.handing_over_since = now
            log.warning("coordinator: a message has waited %.0f s with every send failing (this node's path to "
                        "the gateway?); handing the coordinator lease to another node",
                        self.undelivered() if self.undelivered is not None else 0.0)

    def _cannot_deliver(self, now: float) -> bool:
        if self.handover_after_seconds <= 0 or self.undelivered is None:
            return False
        if self.undelivered() < self.handover_after_seconds:
            return False
        return self.db.others_live(self.node) > 0   # alone: keep trying, nobody else could do better

    def _send_room_seconds(self) -> float:
        t = self.timing
        return max(t.renew_seconds, t.ttl_seconds - t.margin_seconds - t.renew_seconds)

    def _owned_count(self) -> int:
        with self._lock:
            return len(self._owned)

    def _drop_all(self) -> None:
        with self._lock:
            self._owned = {}
        self.coordinator_epoch = None
        self.coordinator_fence.lost()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="netwatch-cluster", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = self.clock()
            self.tick()
            self._stop.wait(max(0.05, self.timing.renew_seconds - (self.clock() - started)))

    def stop(self, leave: bool = True) -> None:
        """Stop renewing; on a clean stop give every lease back so the others need not wait a TTL."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timing.renew_seconds + 5)
        self._drop_all()
        self.fence.lost()
        if leave and self.joined:
            try:
                self.db.leave(self.node)
            except Exception as exc:  # noqa: BLE001 - best effort on the way out; the TTL frees them anyway
                log.warning("could not give the cluster leases back: %s", exc)
        self.db.close()
