"""What the daemon asks of the cluster: which checks this node runs, whether it may write or send now."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from netwatch.cluster.confirm import Confirmed, ConfirmTracker
from netwatch.cluster.isolation import (AnchorStreaks, AnchorView, IsolationRule, SiteChange, SiteWatch,
                                        anchor_fresh_seconds)
from netwatch.cluster.membership import Lease, Membership
from netwatch.cluster.votes import Vote
from netwatch.model import Check, Result, State

if TYPE_CHECKING:
    from netwatch.store import ResultRow
    from netwatch.store.db import Tx

__all__ = ["ClusterNode"]

log = logging.getLogger("netwatch.cluster")
MAX_REMEMBERED_LEASES = 200_000   # results' leases kept for their write (about 3 minutes at 1,000 results/s)


class ClusterNode:
    """The daemon's view of its membership; every answer comes from the node's own clock, never a query."""

    def __init__(self, membership: Membership, writer: Any = None, vote_fresh_seconds: float = 60.0,
                 anchors: Mapping[str, tuple[str, ...]] | None = None,
                 isolation: IsolationRule = IsolationRule(), spool: Any = None) -> None:
        self.membership = membership
        # netwatch.store.spool.Spool: results probed while fenced, uploaded as late (None: dropped).
        self.spool = spool
        # Site isolation: every site's anchors (config), this node's streaks of its own site's anchors,
        # and the cluster-wide verdict every node reads (the coordinator pages it, the others hold their
        # own per-check pages while their site is cut off).
        self.anchors: dict[str, tuple[str, ...]] = dict(anchors or {})
        self.isolation = isolation
        self.anchor_streaks = AnchorStreaks(self.anchors.get(membership.site, ()), isolation,
                                            hold_seconds=self.anchor_fresh_seconds + 3 * self.anchor_every_seconds)
        self.anchor_up: dict[str, bool] = {}
        self.sites = SiteWatch(self.anchor_fresh_seconds, isolation,
                               silent_seconds=membership.timing.ttl_seconds)
        self.suspect_flags = 0
        # netwatch.store.cluster.ClusterStore on its own connection: votes and streaks (fenced by the
        # database), and the coordinator's reads of the votes. None: single-site checks only.
        self.writer = writer
        self.vote_fresh_seconds = vote_fresh_seconds
        self.tracker: ConfirmTracker | None = None
        self.votes_written = 0
        self.votes_refused = 0
        self.results_fenced = 0
        # Results waiting to be counted into streaks and votes, written in batches by one thread of their own:
        # a database round trip per result on the event loop's shared executor starved the recorder.
        self._steps: list[Any] = []
        self._steps_lock = threading.Lock()
        self._steps_wake = threading.Event()
        self._steps_stop = threading.Event()
        self._steps_thread: threading.Thread | None = None
        self._result_leases: dict[tuple[str, float], Lease] = {}

    @property
    def site(self) -> str:
        return self.membership.site

    def runs(self, check: Check) -> bool:
        """Probe it here: this site is one of its vantages and this node holds the live lease of its slot."""
        if check.vantage and self.site not in check.vantage:
            return False
        return self.membership.owns(check.id, self.site) is not None or self.spooling(check.id)

    def spooling(self, check_id: str) -> bool:
        """Cut off from PostgreSQL with a spool: keep probing the checks it held, for history only."""
        return self.spool is not None and self.membership.spooling(check_id, self.site)

    def owned(self, checks: Iterable[Check]) -> list[Check]:
        return [c for c in checks if self.runs(c)]

    def may_write(self, check_id: str) -> bool:
        """Checked before a result or decision is queued: a fenced node, or one that lost the slot, drops it."""
        return self.membership.owns(check_id, self.site) is not None

    def fenced(self) -> bool:
        return self.membership.fenced()

    @property
    def anchor_every_seconds(self) -> float:
        """Anchors are probed once per lease renew period, at least every second (one echo or connect each):
        a cut uplink must be seen before a check's own failures are counted."""
        return min(1.0, self.membership.timing.renew_seconds)

    @property
    def anchor_fresh_seconds(self) -> float:
        """A view older than three probe rounds (plus a probe's timeout) no longer counts."""
        return anchor_fresh_seconds(self.membership.timing.renew_seconds)

    def site_cut(self) -> bool:
        """This node's own site is isolated (the cluster's verdict) or has looked cut from here for a short while."""
        return self.site in self.sites.isolated or self.anchor_streaks.holding(self.membership.clock())

    def record_anchors(self, results: Mapping[str, bool]) -> None:
        """Blocking: one probe round of this site's anchors (True = answered) into the database."""
        views = self.anchor_streaks.observe(results, self.membership.clock())
        self.anchor_up = dict(views)
        if self.writer is not None and views and not self.fenced():
            self.writer.record_anchors(self.membership.node, self.site, views)

    def watch_sites(self) -> list[SiteChange]:
        """Blocking: read every site's anchor views and fold them (every node does; the coordinator pages)."""
        if self.writer is None or not any(self.anchors.values()):
            return []
        now, rows = self.writer.anchor_views()
        return self.sites.step(now, self.anchors, [AnchorView(*row) for row in rows])

    def coordinating(self) -> bool:
        return self.membership.coordinating()

    def may_send(self, timeout_seconds: float) -> bool:
        """A send starts only while the coordinator lease outlives the channel's timeout."""
        m = self.membership
        return m.coordinating() and not m.handing_over() and m.coordinator_left_seconds() > timeout_seconds

    def hand_over_when(self, undelivered_seconds: Callable[[], float]) -> None:
        """How long the delivery loop's oldest waiting message has failed every send (see Membership)."""
        self.membership.undelivered = undelivered_seconds

    def coordinator_fence(self) -> Callable[["Tx"], None]:
        """The lease check for a decision the coordinator makes now, run inside the decision's transaction:
        a takeover between deciding and committing makes the database refuse it (epoch taken now)."""
        from netwatch.store.cluster import StaleLease, guard_coordinator
        node, epoch = self.membership.node, self.membership.coordinator_epoch

        def fence(tx: "Tx") -> None:
            if epoch is None:
                raise StaleLease(f"coordinator lease lost: {node} did not hold it when deciding")
            guard_coordinator(tx, node, epoch)
        return fence

    def coordinator_guard(self, tx: "Tx") -> None:
        """The outbox's marks: refused unless this node holds the coordinator lease at its current epoch."""
        self.coordinator_fence()(tx)

    def slot_fence(self, check_id: str) -> Callable[["Tx"], None]:
        """The lease check for a decision the owner of the check's slot makes now (single-vantage checks)."""
        from netwatch.store.cluster import StaleLease, guard_slot
        node, site, lease = self.membership.node, self.site, self.membership.owns(check_id, self.site)

        def fence(tx: "Tx") -> None:
            if lease is None:
                raise StaleLease(f"slot lease lost: {node} did not own {check_id} when deciding")
            guard_slot(tx, node, site, lease.slot, lease.epoch)
        return fence

    def fence_results(self, tx: "Tx", rows: list["ResultRow"]) -> list["ResultRow"]:
        """Inside the results' transaction: keep the result rows (check id, start, ...) probed under a lease that
        is still live in the database or was given back cleanly (a rebalance); a lease that ran out or was taken
        over writes nothing more."""
        from netwatch.store.cluster import writable_results
        leases = [self._result_leases.get((row[0], row[1])) or self.membership.owns(row[0], self.site) for row in rows]
        held = writable_results(tx, self.membership.node, self.site,
                                [(lease.slot, lease.epoch) for lease in leases if lease is not None])
        kept = [row for row, lease in zip(rows, leases) if lease is not None and (lease.slot, lease.epoch) in held]
        self.results_fenced += len(rows) - len(kept)
        return kept

    def vote(self, check: Check, result: Result) -> None:
        """Blocking (run in a worker thread): count the result into this site's streak and vote."""
        from netwatch.store.cluster import StaleLease
        from netwatch.store.db import StoreError
        lease = self.membership.owns(check.id, self.site)
        if lease is None or self.writer is None:
            return
        try:
            self.writer.record_step(self.membership.node, lease.slot, lease.epoch, check.id, self.site, result.ok,
                                    result.started_at, check.alert.fail_after, check.alert.recover_after)
            self.votes_written += 1
        except StaleLease:
            self.votes_refused += 1     # the slot moved on: the database refused the stale write
        except StoreError as exc:
            log.warning("vote of %s not written: %s", check.id, exc)

    def queue_vote(self, check: Check, result: Result) -> None:
        """Non-blocking: count the result into this site's streak and vote at the next batch (in order)."""
        from netwatch.store.cluster import Step
        lease = self.membership.owns(check.id, self.site)
        if lease is None or self.writer is None:
            return
        # The lease each result was probed under, for the results' write (fence_results); bounded, oldest out.
        self._result_leases[(check.id, result.started_at)] = lease
        if len(self._result_leases) > MAX_REMEMBERED_LEASES:
            for key in list(self._result_leases)[:MAX_REMEMBERED_LEASES // 2]:
                del self._result_leases[key]
        with self._steps_lock:
            self._steps.append(Step(check.id, lease.slot, lease.epoch, result.ok, result.started_at,
                                    check.alert.fail_after, check.alert.recover_after))
        self._steps_wake.set()

    def flush_votes(self) -> None:
        """Blocking: write the queued steps as one batch (the writer thread's loop; tests call it directly)."""
        from netwatch.store.db import StoreError
        with self._steps_lock:
            steps, self._steps = self._steps, []
        if not steps or self.writer is None:
            return
        # Checked before the write, as before a probe: a fenced node writes nothing (the database would refuse
        # the stale epochs anyway, in its own time).
        held = self.membership.owned_slots() if not self.membership.fenced() else {}
        kept = [st for st in steps if held.get(st.slot) == st.epoch]
        self.votes_refused += len(steps) - len(kept)
        try:
            written, refused = self.writer.record_steps(self.membership.node, self.site, kept)
        except StoreError as exc:
            log.warning("%d votes not written: %s", len(kept), exc)
            return
        self.votes_written += written
        self.votes_refused += refused

    def _write_votes(self) -> None:
        while not self._steps_stop.is_set():
            # No waiting to gather: votes are as fresh as before batching, and batches form by themselves
            # while a write is in flight.
            self._steps_wake.wait(0.5)
            self._steps_wake.clear()
            self.flush_votes()

    def streaks(self, check_ids: list[str]) -> dict[str, Any]:
        """Blocking: the database streaks of checks this node just took over (empty without a writer)."""
        if self.writer is None or not check_ids:
            return {}
        return dict(self.writer.streaks(self.site, check_ids))

    def confirm(self, checks: Iterable[Check], stored: Callable[[], Mapping[str, State]]) -> list[Confirmed]:
        """Blocking: the coordinator folds the fresh votes of multi-vantage checks into confirmed changes."""
        voted = [c for c in checks if c.vantage]
        if not self.coordinating():
            # Suspect sites are the coordinator's verdict: a node that lost the lease (or never had it) flags
            # none, or its /metrics would keep saying suspect for as long as it runs.
            self.tracker = None
            self.sites.suspect = frozenset()
            return []
        if not voted or self.writer is None:
            return []
        if self.tracker is None:   # just became coordinator: start from what was decided before
            self.tracker = ConfirmTracker(self.vote_fresh_seconds, stored())
        now = self.writer.db_now()
        rows = self.writer.votes([c.id for c in voted])
        votes = {cid: [Vote(site, down, at, since) for site, down, at, since in vs] for cid, vs in rows.items()}
        fresh = {cid: {v.site: v.down for v in vs if now - v.at <= self.vote_fresh_seconds}
                 for cid, vs in votes.items()}
        new, gone = self.sites.flag_suspects(fresh)
        for site in sorted(new):
            self.suspect_flags += 1
            log.warning("site %s is suspect: its votes disagree with every other site's on many checks at once",
                        site)
        for site in sorted(gone):
            log.info("site %s no longer suspect", site)
        return self.tracker.step(now, voted, votes, isolated=self.sites.isolated)

    def start(self, on_change: Callable[[], None]) -> None:
        self.membership.on_change = on_change
        self.membership.start()
        if self.writer is not None:
            self._steps_thread = threading.Thread(target=self._write_votes, name="netwatch-votes", daemon=True)
            self._steps_thread.start()

    def stop(self) -> None:
        self._steps_stop.set()
        self._steps_wake.set()
        if self._steps_thread is not None:
            self._steps_thread.join(10)
        self.flush_votes()      # while the leases are still ours
        self.membership.stop(leave=True)
        if self.writer is not None:
            self.writer.close()
        if self.spool is not None:
            self.spool.close()

    def metrics(self) -> Iterator[Metric]:
        m = self.membership
        info = InfoMetricFamily("netwatch_cluster_node", "This cluster node's name and site.")
        info.add_metric([], {"node": m.node, "site": m.site})
        yield info
        yield GaugeMetricFamily("netwatch_cluster_slots_owned", "Slot leases this node holds.",
                                value=len(m.owned_slots()))
        yield GaugeMetricFamily("netwatch_cluster_coordinator", "1 while this node holds the coordinator lease.",
                                value=1.0 if m.coordinating() else 0.0)
        yield GaugeMetricFamily("netwatch_cluster_fenced",
                                "1 while this node has fenced itself (no renew in time): it probes and writes nothing.",
                                value=1.0 if m.fenced() else 0.0)
        yield CounterMetricFamily("netwatch_cluster_coordinator_handovers",
                                  "Coordinator leases this node gave away because it could not deliver.",
                                  value=m.handovers_total)
        votes = CounterMetricFamily("netwatch_cluster_votes", "Vantage votes written, and refused by the "
                                    "database for a stale lease.", labels=["result"])
        votes.add_metric(["written"], self.votes_written)
        votes.add_metric(["refused"], self.votes_refused)
        yield votes
        isolated = GaugeMetricFamily("netwatch_cluster_site_isolated",
                                     "1 while a site is isolated (its anchors fail from it, others see them up).",
                                     labels=["site"])
        suspect = GaugeMetricFamily("netwatch_cluster_site_suspect",
                                    "1 while a site's votes disagree with all other sites' on many checks "
                                    "(the coordinator's verdict: other nodes say 0).", labels=["site"])
        for site in sorted(self.anchors):
            isolated.add_metric([site], 1.0 if site in self.sites.isolated else 0.0)
            suspect.add_metric([site], 1.0 if site in self.sites.suspect else 0.0)
        yield isolated
        yield suspect
        anchor = GaugeMetricFamily("netwatch_cluster_anchor_up", "This node's view of its site's anchors "
                                   "(1 answering, 0 failing twice in a row).", labels=["anchor"])
        for name, up in sorted(self.anchor_up.items()):
            anchor.add_metric([name], 1.0 if up else 0.0)
        yield anchor
        if self.spool is not None:
            spool = CounterMetricFamily("netwatch_cluster_spool_results", "Results probed while cut off from "
                                        "PostgreSQL: uploaded late, or dropped past the spool's bound.",
                                        labels=["result"])
            spool.add_metric(["uploaded"], self.spool.uploaded_total)
            spool.add_metric(["dropped"], self.spool.dropped_total)
            yield spool
        yield GaugeMetricFamily("netwatch_cluster_refused",
                                "1 while this node refuses work because its config differs from the cluster's.",
                                value=1.0 if m.refused else 0.0)
