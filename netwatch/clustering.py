"""What a cluster node adds to the daemon: run only owned checks, continue handed-over streaks, vote, confirm."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Mapping

from netwatch.alerting.state import restored
from netwatch.cluster.node import ClusterNode
from netwatch.live import OVERLAYS, CheckView, LiveView
from netwatch.model import Check, Outcome, Result, State, Transition
from netwatch.store import Store, StoreError

if TYPE_CHECKING:
    from netwatch.alerting.decide import Decision
    from netwatch.config import Config
    from netwatch.scheduler import Scheduler
    from netwatch.store.cluster import ClusterStore

log = logging.getLogger(__name__)

CONFIRM_EVERY_SECONDS = 0.5
STATUS_STATEMENT_TIMEOUT_SECONDS = 1.0   # the board's status read: bounded to 3 s by the store's watchdog


def join_cluster(config: "Config") -> ClusterNode:
    """Cluster mode: the cluster tables next to the history (same PostgreSQL), then this node's membership."""
    from netwatch.cluster.membership import Membership
    from netwatch.store.cluster import ClusterStore

    settings = config.cluster
    assert settings is not None and settings.dsn.url is not None
    db = ClusterStore(settings.dsn.url, settings.dsn.password_text(), str(settings.dsn),
                      statement_timeout_seconds=settings.timing.statement_timeout_seconds)
    db.ensure_schema(settings.slots)
    db.ensure_incident_indexes()
    log.info("cluster node %s (site %s), config hash %s", settings.node, settings.site, settings.config_hash[:12])
    writer = ClusterStore(settings.dsn.url, settings.dsn.password_text(), str(settings.dsn),
                          statement_timeout_seconds=settings.timing.statement_timeout_seconds)
    return ClusterNode(Membership(db, settings.node, settings.site, settings.config_hash, settings.timing,
                                  settings.slots, settings.max_moves), writer, settings.vote_fresh_seconds)


def status_reader(config: "Config") -> "ClusterStore":
    """A read-only connection of its own for the board's cluster panel: a slow read never holds up the
    membership's renewals, and a short statement timeout bounds it (`status()` is the only call made)."""
    from netwatch.store.cluster import ClusterStore

    settings = config.cluster
    assert settings is not None and settings.dsn.url is not None
    return ClusterStore(settings.dsn.url, settings.dsn.password_text(), str(settings.dsn),
                        statement_timeout_seconds=STATUS_STATEMENT_TIMEOUT_SECONDS, connect_timeout_seconds=2.0,
                        readonly=True)


class ClusterRole:
    """The daemon's cluster side; it takes the parts of the daemon it drives, never the daemon."""

    def __init__(self, node: ClusterNode, store: Store, live: LiveView, config: Callable[[], "Config"],
                 decide: Callable[[Check, Result, Transition | None], "Decision"],
                 submit: Callable[["Decision"], None]) -> None:
        self.node, self.store, self.live, self.config = node, store, live, config
        self.decide, self.submit = decide, submit
        self.scheduler: "Scheduler | None" = None
        self.tasks: set[asyncio.Task[None]] = set()
        # Coordinator: the confirmed (voted) state of multi-vantage checks, which paging decides on instead
        # of this node's own site's step state.
        self.confirmed: dict[str, CheckView] = {}

    def checks(self, config: "Config") -> list[Check]:
        """The checks whose slot lease this node holds."""
        return self.node.owned(config.checks)

    def views(self) -> Mapping[str, CheckView]:
        return {**self.live.views, **self.confirmed} if self.confirmed else self.live.views

    def reload(self, config: "Config") -> None:
        if config.cluster is not None:
            self.node.membership.config_hash = config.cluster.config_hash   # re-checked against the cluster's
            self.node.membership.joined = False

    def on_result(self, check: Check, result: Result) -> bool | None:
        """None: drop the result (fenced, or the slot moved while the probe ran: the new owner reports it).
        Else it votes; True when this node's own step state decides paging (False: the votes decide)."""
        if not self.node.may_write(check.id):
            return None
        # The streak in the database (a new owner continues it) and this site's vote, written in batches.
        self.node.queue_vote(check, result)
        return not check.vantage

    async def rebalance(self) -> None:
        """Slots moved: run and show (in /metrics too) exactly the owned checks; resume taken-over ones
        from their last stored state rather than from unknown."""
        owned = self.checks(self.config())
        taken = [c.id for c in owned if c.id not in self.live.views]
        stored = await asyncio.to_thread(self.store.last_states)
        streaks = await asyncio.to_thread(self.node.streaks, taken)
        self.live.stored.update({cid: s for cid, s in stored.items() if s.state not in OVERLAYS})
        self.live.apply(owned)
        for cid, streak in streaks.items():
            view = self.live.views.get(cid)
            # Continue the previous owner's failure count, so an outage is not found fail_after
            # intervals late (and is dated from its first failure) because of a handover.
            if view is not None and streak.fails > 0 and not streak.down and view.state.state is not State.DOWN:
                view.state = replace(view.state, fail_streak=streak.fails, fail_started_at=streak.first_failure,
                                     ok_streak=0, ok_started_at=None)
        assert self.scheduler is not None
        self.scheduler.apply(owned)

    async def confirm_votes(self) -> None:
        """Coordinator: decide multi-vantage checks from the sites' fresh votes."""
        def stored() -> dict[str, State]:
            return {cid: s.state for cid, s in self.store.last_states().items()}
        while True:
            await asyncio.sleep(CONFIRM_EVERY_SECONDS)
            if not self.node.coordinating():
                self.confirmed.clear()   # a later term starts again from the stored states
            try:
                changes = await asyncio.to_thread(self.node.confirm, self.config().checks, stored)
            except StoreError as exc:
                log.warning("cluster votes not read: %s", exc)
                continue
            for change in changes:
                t = change.transition
                outcome = Outcome(ok=t.to_state is State.UP, error=t.error, detail=t.detail)
                result = Result(t.check_id, t.target_id, change.check.kind, t.ts, 0.0, outcome)
                self.confirmed[t.check_id] = CheckView(change.check, restored(t.to_state, t.since), result)
                self.submit(self.decide(change.check, result, t))

    def start(self, scheduler: "Scheduler") -> asyncio.Task[None]:
        """Join the membership loop (rebalancing on slot moves) and start confirming votes."""
        self.scheduler = scheduler
        loop = asyncio.get_running_loop()

        def moved() -> None:   # from the membership thread
            def spawn() -> None:
                self.tasks.add(task := asyncio.create_task(self.rebalance(), name="cluster-rebalance"))
                task.add_done_callback(self.tasks.discard)
            loop.call_soon_threadsafe(spawn)
        self.node.start(moved)
        return asyncio.create_task(self.confirm_votes(), name="cluster-votes")

    async def stop(self) -> None:
        await asyncio.to_thread(self.node.stop)   # give the leases back at once
