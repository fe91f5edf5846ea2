"""The board's cluster panel: nodes, sites and the coordinator as JSON (/api/v1/cluster), in cluster mode only."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Callable

from netwatch import text

if TYPE_CHECKING:
    from netwatch.store.cluster import Status

log = logging.getLogger(__name__)

# The read runs in a worker thread and is bounded by the store (statement timeout, watchdog); the board
# stops waiting earlier and says so, so a hung database greys one panel, never the wall.
READ_TIMEOUT_SECONDS = 2.5
UNREADABLE = {"vi": "không đọc được trạng thái cụm", "en": "the cluster status could not be read"}
REASON_CAP = 200


class StatusReads:
    """At most one status read in flight: every wall screen polling at once shares it, instead of queueing
    threads (and the default executor's workers) behind a database that does not answer."""

    def __init__(self, read: Callable[[], "Status"]) -> None:
        self.read = read
        self.pending: asyncio.Future[Status] | None = None

    async def get(self, timeout_seconds: float = READ_TIMEOUT_SECONDS) -> "Status":
        if self.pending is None or self.pending.done():
            self.pending = asyncio.ensure_future(asyncio.to_thread(self.read))
            # A read the board stopped waiting for still ends (the store bounds it): take its error so
            # asyncio does not report it as never retrieved.
            self.pending.add_done_callback(lambda f: f.cancelled() or f.exception())
        return await asyncio.wait_for(asyncio.shield(self.pending), timeout_seconds)


def view(status: "Status", now: float, redact: Callable[[str], str] = lambda t: t) -> dict[str, Any]:
    """The panel's data, plain and JSON-able; the page builds it with textContent only. A node's refusal
    reason is text from the database: cleaned, capped and redacted like any device text."""
    nodes: list[dict[str, Any]] = []
    sites: dict[str, dict[str, Any]] = {}
    for n in status.nodes:
        if n.refused:
            state = "refused"
        elif n.expires_in_seconds <= 0:
            state = "fenced"
        else:
            state = "live"
        nodes.append({
            "node": n.node, "site": n.site, "state": state, "slots": n.slots,
            "coordinator": n.node == status.coordinator,
            "last_renew_age_seconds": round(n.last_renew_age_seconds, 1),
            "lease_left_seconds": round(max(n.expires_in_seconds, 0.0), 1),
            "refused": text.clean(redact(n.refused), REASON_CAP) if n.refused else None,
            "config_differs": status.cluster_hash is not None and n.config_hash != status.cluster_hash,
        })
        site = sites.setdefault(n.site, {"site": n.site, "nodes": 0, "live": 0, "slots": 0})
        site["nodes"] += 1
        site["live"] += state == "live"
        site["slots"] += n.slots
    isolated, suspect = status.isolated_sites or frozenset(), status.suspect_sites or frozenset()
    for name in isolated | suspect:   # a flagged site is shown even with no node row (a site that never joined)
        sites.setdefault(name, {"site": name, "nodes": 0, "live": 0, "slots": 0})
    for site in sites.values():
        # every node of the site gone: nobody probes its checks (the site itself may be cut off or down)
        site["state"] = ("ok" if site["live"] == site["nodes"] and site["nodes"] else
                         "down" if site["live"] == 0 else "degraded")
        # as `netwatch cluster status` says them: anchors failing from the site while others see them up (or
        # its nodes silent), and votes against every other site on many checks at once
        site["isolated"] = site["site"] in isolated
        site["suspect"] = site["site"] in suspect
    return {
        "generated_at": now,
        "slots": status.slots, "owned": status.owned, "unowned": max(status.slots - status.owned, 0),
        "coordinator": None if status.coordinator is None else {
            "node": status.coordinator, "epoch": status.coordinator_epoch,
            "lease_left_seconds": round(status.coordinator_expires_in_seconds or 0.0, 1)},
        "nodes": nodes,
        "sites": sorted(sites.values(), key=lambda s: str(s["site"])),
        "isolated_sites": sorted(isolated), "suspect_sites": sorted(suspect),
    }
