"""What the web side may use of the daemon: the live view, metrics, incidents, the paging commands, the cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from prometheus_client.registry import CollectorRegistry

from netwatch.alerting.incidents import PagingCommands
from netwatch.live import LiveView
from netwatch.web.metrics import NetwatchCollector

if TYPE_CHECKING:
    from netwatch.config import Config


@dataclass(frozen=True)
class Services:
    config: Callable[[], "Config"]       # the running config (a reload swaps it)
    live: LiveView
    collector: NetwatchCollector
    registry: CollectorRegistry
    incidents: PagingCommands            # blocking: call from a worker thread
    wake_delivery: Callable[[], None]    # after a write with outbox rows: deliver now, on the event loop
    # Cluster mode: the board's cluster view (nodes, sites, slots, coordinator, fenced), blocking (it may read
    # PostgreSQL): call from a worker thread. None on a single node.
    cluster: Callable[[], dict[str, Any] | None] = lambda: None
