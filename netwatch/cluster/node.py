"""What the daemon asks of the cluster: which checks this node runs, whether it may write or send now."""

from __future__ import annotations

import logging
from typing import Callable, Iterable, Iterator

from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from netwatch.cluster.membership import Membership
from netwatch.model import Check

__all__ = ["ClusterNode"]

log = logging.getLogger("netwatch.cluster")


class ClusterNode:
    """The daemon's view of its membership; every answer comes from the node's own clock, never a query."""

    def __init__(self, membership: Membership) -> None:
        self.membership = membership

    @property
    def site(self) -> str:
        return self.membership.site

    def runs(self, check: Check) -> bool:
        """Probe it here: this site is one of its vantages and this node holds the live lease of its slot."""
        if check.vantage and self.site not in check.vantage:
            return False
        return self.membership.owns(check.id, self.site) is not None

    def owned(self, checks: Iterable[Check]) -> list[Check]:
        return [c for c in checks if self.runs(c)]

    def may_write(self, check_id: str) -> bool:
        """Checked before a result or decision is queued: a fenced node, or one that lost the slot, drops it."""
        return self.membership.owns(check_id, self.site) is not None

    def fenced(self) -> bool:
        return self.membership.fenced()

    def coordinating(self) -> bool:
        return self.membership.coordinating()

    def may_send(self, timeout_seconds: float) -> bool:
        """A send starts only while the coordinator lease outlives the channel's timeout."""
        return self.membership.coordinating() and self.membership.coordinator_left_seconds() > timeout_seconds

    def start(self, on_change: Callable[[], None]) -> None:
        self.membership.on_change = on_change
        self.membership.start()

    def stop(self) -> None:
        self.membership.stop(leave=True)

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
        yield GaugeMetricFamily("netwatch_cluster_refused",
                                "1 while this node refuses work because its config differs from the cluster's.",
                                value=1.0 if m.refused else 0.0)
