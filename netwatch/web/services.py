"""What the web side may use of the daemon: the live view, metrics, incidents, the paging commands, the cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from prometheus_client.core import Metric
from prometheus_client.registry import CollectorRegistry

from netwatch.alerting.incidents import PagingCommands
from netwatch.clustering import status_reader
from netwatch.live import LiveView
from netwatch.web.metrics import NetwatchCollector, daemon_families, registry_for

if TYPE_CHECKING:
    from netwatch.config import Config
    from netwatch.scheduler import Scheduler
    from netwatch.store.cluster import Status


@dataclass(frozen=True)
class Services:
    config: Callable[[], "Config"]       # the running config (a reload swaps it)
    live: LiveView
    collector: NetwatchCollector
    registry: CollectorRegistry
    incidents: PagingCommands            # blocking: call from a worker thread
    wake_delivery: Callable[[], None]    # after a write with outbox rows: deliver now, on the event loop
    # Cluster mode only: the cluster's status (nodes, slots, coordinator), read-only from PostgreSQL.
    # Blocking: call from a worker thread. None on a single node (no panel, /api/v1/cluster is 404).
    cluster_status: Callable[[], "Status"] | None = None
    close: Callable[[], None] = lambda: None   # at stop, after the listener: what the web side holds open

    @classmethod
    def for_daemon(cls, config: Callable[[], "Config"], live: LiveView, scheduler: "Scheduler",
                   parts: Iterable[Callable[[], Iterable[Metric]]], reloads: Mapping[str, int],
                   incidents: PagingCommands, wake_delivery: Callable[[], None], clustered: bool) -> "Services":
        """The daemon's: one collector over the live view, the scheduler and the process-wide families of the
        daemon's `parts`; in a cluster the board's panel reads on a connection of its own, never the membership's
        (clustering.status_reader)."""
        cluster = config().cluster
        collector = NetwatchCollector(lambda: live, lambda: scheduler, site=cluster.site if cluster is not None else None,
                                      extra=lambda: daemon_families(parts, config(), reloads))
        reader = status_reader(config()) if clustered and cluster is not None else None
        return cls(config, live, collector, registry_for(collector), incidents, wake_delivery,
                   reader.status if reader is not None else None, reader.close if reader is not None else lambda: None)
