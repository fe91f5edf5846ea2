"""What the web side may use of the daemon: the live view, metrics, incidents, the paging commands, the cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from prometheus_client.registry import CollectorRegistry

from netwatch.alerting.incidents import PagingCommands
from netwatch.live import LiveView
from netwatch.web.metrics import NetwatchCollector

if TYPE_CHECKING:
    from netwatch.config import Config
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
