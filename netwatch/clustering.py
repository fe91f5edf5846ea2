"""What a cluster node adds to the daemon: run only owned checks, continue handed-over streaks, vote, confirm."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Callable

from netwatch.alerting.state import restored
from netwatch.cluster.isolation import SITE_CHECK_PREFIX, SiteChange, anchor_address, site_check_id, site_flags
from netwatch.cluster.node import ClusterNode
from netwatch.cluster.summary import LocalFails, SummaryEpisode, summary_extra, summary_key
from netwatch.live import OVERLAYS, CheckView, LiveView
from netwatch.model import AlertPolicy, Check, Outcome, Result, State, Target, Transition
from netwatch.net import icmp, tcp
from netwatch.notify import modem, sms
from netwatch.store import DB_ERRORS, Store, StoreError
from netwatch.store.spool import Spool, Spooled

if TYPE_CHECKING:
    from netwatch.alerting.decide import Decision
    from netwatch.config import Config
    from netwatch.config.cluster import ClusterSettings
    from netwatch.scheduler import Scheduler
    from netwatch.store.cluster import ClusterStore, Status

log = logging.getLogger(__name__)

CONFIRM_EVERY_SECONDS = 0.5
UPLOAD_BATCH = 2000   # spooled results per upload transaction
_UNPROBED: set[str] = set()   # anchors this process could not probe at all (told once)
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
                                  settings.slots, settings.max_moves,
                                  handover_after_seconds=settings.handover_after_seconds), writer, settings.vote_fresh_seconds,
                       anchors={name: spec.anchors for name, spec in settings.sites.items()},
                       isolation=settings.isolation,
                       spool=Spool(settings.spool_path, settings.spool_max_rows) if settings.spool_max_rows else None)


def checks_here(config: "Config", node: ClusterNode | None) -> list[Check]:
    """The checks this process runs: all of them, or in a cluster those whose slot lease it holds."""
    return list(config.checks) if node is None else node.owned(config.checks)


def site_check(site: str) -> Check:
    """The synthetic check a "site isolated" incident is opened and resolved on (one per site)."""
    return Check(site_check_id(site), Target(site_check_id(site), name=site), "site", 0.0, 0.0,
                 AlertPolicy(fail_after=1, recover_after=1, flap_detection=False), None)


async def probe_anchor(anchor: str, timeout_seconds: float) -> bool | None:
    """One cheap probe: an ICMP echo ("HOST") or a TCP connect ("HOST:PORT"; a refusal also answers).

    None: this node cannot probe it at all (ICMP not permitted): no view, never a failing anchor, or a
    node without the permission would call its own site cut off.
    """
    host, port = anchor_address(anchor)
    try:
        async with asyncio.timeout(timeout_seconds):
            address = (await tcp.resolve(host, port or 0))[0][1]
            if port is None:
                stats = (await icmp.ping_many([address], 1, 0.0, timeout_seconds)).get(address)
                return stats is not None and stats.received > 0
            _, writer = await asyncio.open_connection(address, port)
            writer.close()
            return True
    except ConnectionRefusedError:
        return True
    except icmp.PingNotPermitted as exc:
        if anchor not in _UNPROBED:   # once per anchor, not every second
            _UNPROBED.add(anchor)
            log.error("anchor %s cannot be probed: %s", anchor, exc)
        return None
    except (TimeoutError, OSError, tcp.Failure, ValueError):
        return False


def with_site_flags(settings: "ClusterSettings", status: "Status") -> "Status":
    """The status with its isolated and suspect sites, by the rules and freshness limits the nodes use."""
    isolated, suspect = site_flags(status.db_now, {name: spec.anchors for name, spec in settings.sites.items()},
                                   status.anchor_views, status.votes, settings.timing.renew_seconds,
                                   settings.timing.ttl_seconds, settings.vote_fresh_seconds, settings.isolation)
    return replace(status, isolated_sites=isolated, suspect_sites=suspect)


class StatusReader:
    """The board's cluster status: the store's one status read, with the sites' isolation and suspect flags
    applied by the same function as `netwatch cluster status` (the board and the command agree)."""

    def __init__(self, store: "ClusterStore", settings: "ClusterSettings") -> None:
        self.store, self.settings = store, settings

    def status(self) -> "Status":
        return with_site_flags(self.settings, self.store.status())

    def close(self) -> None:
        self.store.close()


def status_reader(config: "Config") -> StatusReader:
    """A read-only connection of its own for the board's cluster panel: a slow read never holds up the
    membership's renewals, and a short statement timeout bounds it (`status()` is the only call made)."""
    from netwatch.store.cluster import ClusterStore

    settings = config.cluster
    assert settings is not None and settings.dsn.url is not None
    return StatusReader(ClusterStore(settings.dsn.url, settings.dsn.password_text(), str(settings.dsn),
                                     statement_timeout_seconds=STATUS_STATEMENT_TIMEOUT_SECONDS,
                                     connect_timeout_seconds=2.0, readonly=True), settings)


class ClusterRole:
    """The daemon's cluster side; it takes the parts of the daemon it drives, never the daemon."""

    def __init__(self, node: ClusterNode, store: Store, live: LiveView, config: Callable[[], "Config"],
                 decide: Callable[[Check, Result, Transition | None], "Decision"],
                 submit: Callable[["Decision"], None],
                 latency_of: Callable[[Result], float | None] = lambda r: r.duration_seconds,
                 clock: Callable[[], float] = time.time,
                 adopt: Callable[[Mapping[str, State]], None] = lambda states: None) -> None:
        self.node, self.store, self.live, self.config = node, store, live, config
        self.adopt = adopt     # paging's memory of effective states, set from the record at a coordinator term
        self.clock = clock
        self.cut_seen_at = float("-inf")   # wall time this node last saw its own site cut off
        self.latency_of = latency_of
        self.spooled: list[Spooled] = []   # results probed while fenced, on their way to the local spool
        self.local = LocalFails()          # what this node sees down by itself (the summary SMS)
        self.episode: SummaryEpisode | None = None
        self.summaries_sent = 0
        self.decide, self.submit = decide, submit
        self.scheduler: "Scheduler | None" = None
        self.tasks: set[asyncio.Task[None]] = set()
        # Checks whose failing results this node did not page because its own site looked cut off: shown
        # as unreachable, handed back to paging (which pages what is still down) when the site is back.
        self.held_unreachable: set[str] = set()
        # Coordinator: the recorded state of each site's "site isolated" check (None: not read yet this term).
        self.site_states: dict[str, State] | None = None

    def checks(self, config: "Config") -> list[Check]:
        """The checks whose slot lease this node holds."""
        return self.node.owned(config.checks)

    def reload(self, config: "Config") -> None:
        if config.cluster is not None:
            self.node.membership.config_hash = config.cluster.config_hash   # re-checked against the cluster's
            self.node.membership.joined = False

    def on_result(self, check: Check, result: Result) -> bool | None:
        """None: drop the result (fenced, or the slot moved while the probe ran: the new owner reports it).
        Else it votes; True when this node's own step state decides paging (False: the votes decide)."""
        self.local.observe(check.id, check.target.name or check.target.id, result.ok)
        if not self.node.may_write(check.id):
            if self.node.spooling(check.id):
                self.spooled.append((result, self.latency_of(result)))   # history only, uploaded as late
            return None
        if not result.ok and self.cut_when(result.started_at):
            # This site looks cut off (its anchors fail): its failures say so, not that the check is down.
            # No per-check page and no down vote (a cut-off site has no say); the one "site isolated"
            # incident speaks for them. Successes still count.
            self.held_unreachable.add(check.id)
            self.live.set_overlays(((check.id, State.UNREACHABLE),))
            return False
        decides = not check.vantage
        if check.id in self.held_unreachable:
            view = self.live.views.get(check.id)
            if result.ok and view is not None and view.state.state is State.DOWN:
                # The site is back and the check recovers from failures that were the cut's: nothing to page
                # (deciding now would page its still-down step state).
                decides = False
            else:
                # Recovered, or failing again with the site back: a real outage, which pages as usual.
                self.held_unreachable.discard(check.id)
                self.live.set_overlays(((check.id, None),))
        # The streak in the database (a new owner continues it) and this site's vote, written in batches.
        self.node.queue_vote(check, result)
        return decides

    def cut_when(self, started_at: float) -> bool:
        """The site is cut off now, or was when this probe started (a probe sent into the cut may answer
        after the site is back; one anchor round of grace for the path to settle)."""
        if self.node.site_cut():
            self.cut_seen_at = self.clock()
            return True
        return started_at <= self.cut_seen_at + self.node.anchor_every_seconds

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
        term_start: dict[str, State] = {}

        def stored() -> dict[str, State]:
            # Read when a coordinator term starts (the vote tracker's starting point, in a worker thread).
            states = {cid: s.state for cid, s in self.store.last_states().items()}
            term_start.update(states)
            return states
        while True:
            await asyncio.sleep(CONFIRM_EVERY_SECONDS)
            if not self.node.coordinating():
                self.live.confirmed.clear()   # a later term starts again from the stored states
            try:
                changes = await asyncio.to_thread(self.node.confirm, self.config().checks, stored)
            except StoreError as exc:
                log.warning("cluster votes not read: %s", exc)
                continue
            if term_start:
                # Paging starts from the same record as the tracker: another coordinator may have decided
                # these checks down since this node started (else their recovery is never paged).
                voted = {c.id for c in self.config().checks if c.vantage}
                self.adopt({cid: state for cid, state in term_start.items() if cid in voted})
                term_start.clear()
            for change in changes:
                t = change.transition
                outcome = Outcome(ok=t.to_state is State.UP, error=t.error, detail=t.detail)
                result = Result(t.check_id, t.target_id, change.check.kind, t.ts, 0.0, outcome)
                self.live.confirmed[t.check_id] = CheckView(change.check, restored(t.to_state, t.since), result)
                self.submit(self.decide(change.check, result, t))

    async def watch_sites(self) -> None:
        """Every renew period: probe this site's anchors, record them, fold every site's views; the
        coordinator raises or resolves "site isolated"."""
        node = self.node
        mine = node.anchors.get(node.site, ())
        timeout = min(0.8, node.anchor_every_seconds * 0.8)
        last_error = ""
        while True:
            started = asyncio.get_running_loop().time()
            try:
                if mine and not node.fenced():
                    answers = await asyncio.gather(*(probe_anchor(a, timeout) for a in mine))
                    await asyncio.to_thread(node.record_anchors,
                                            {a: up for a, up in zip(mine, answers) if up is not None})
                changes = await asyncio.to_thread(node.watch_sites)
                for change in changes:
                    if change.isolated and change.silent:
                        log.warning("site %s lost: none of its nodes reports any more", change.site)
                    elif change.isolated:
                        log.warning("site %s isolated: anchors %s fail from it, seen up from %s", change.site,
                                    ", ".join(change.failing), ", ".join(change.seen_up_from))
                    else:
                        log.warning("site %s reachable again", change.site)
                await self.page_sites(changes)
            except StoreError as exc:
                if str(exc) != last_error:    # once per distinct error: a cut-off node would say it every second
                    log.warning("site isolation not updated: %s", exc)
                last_error = str(exc)
            else:
                last_error = ""
            self.cut_when(float("-inf"))       # notes when the site was last seen cut, results or not
            await self.spool_step()
            await self.summary_step(self.clock())
            await asyncio.sleep(max(0.05, node.anchor_every_seconds - (asyncio.get_running_loop().time() - started)))

    async def summary_step(self, now: float) -> None:
        """A node with a modem channel that lost the cluster (fenced, or its site isolated) for
        `cluster.summary_sms_after` sends ONE local summary SMS per episode: what it sees down itself."""
        config = self.config()
        after = config.cluster.summary_sms_after_seconds if config.cluster is not None else None
        if after is None:
            self.episode = None
            return
        if self.episode is None or self.episode.after_seconds != after:
            self.episode = SummaryEpisode(after)
        lost = self.node.fenced() or self.node.site in self.node.sites.isolated
        if not self.episode.step(now, lost):
            return
        assert self.episode.since is not None
        fail_after = {c.id: c.alert.fail_after for c in config.checks}
        down = self.local.down(fail_after)
        for name, ch in config.paging.channels.items():
            if ch.modem is None:
                continue
            options = ch.sms
            text = sms.fit(summary_key(self.node.membership.node, self.node.site, self.episode.since,
                                       config.site.tz, ch.lang),
                           summary_extra(down, ch.lang), options.max_segments if options else 1,
                           options.strip_diacritics if options else False)
            pin = ch.modem.pin.reveal() if ch.modem.pin else None
            result = await modem.send(ch.modem.device, ch.modem.baud, ch.modem.to, text.text, ch.timeout, pin)
            if result.ok:
                self.summaries_sent += 1
                log.warning("lost the cluster: local summary SMS sent on channel %s (%d down here)", name, len(down))
            else:
                log.error("lost the cluster: local summary SMS on channel %s failed: %s", name,
                          config.redact(result.error or ""))

    async def spool_step(self) -> None:
        """Keep what was probed while fenced in the local spool; upload it, marked late, once not fenced."""
        spool = self.node.spool
        if spool is None:
            return
        rows, self.spooled = self.spooled, []
        try:
            await asyncio.to_thread(spool.add, rows)
        except (*DB_ERRORS, OSError) as exc:
            self.spooled[:0] = rows[-spool.max_rows:]    # kept for the next try, within the spool's bound
            log.warning("local spool %s not written: %s", spool.path, exc)
            return
        try:
            if not self.node.fenced():
                uploaded = await asyncio.to_thread(self.upload, spool)
                if uploaded:
                    log.info("uploaded %d results probed while cut off from the cluster database (marked late)",
                             uploaded)
        except (*DB_ERRORS, StoreError, OSError) as exc:
            log.warning("local spool: %s", exc)

    def upload(self, spool: Spool) -> int:
        """Blocking: drain the spool into the history (late rows: rollups and reports, never a decision)."""
        total = 0
        while not self.node.fenced():
            ids, rows = spool.take(UPLOAD_BATCH)
            if not ids:
                break
            self.store.record_results([r for r, _ in rows], [lat for _, lat in rows], late=True)
            spool.done(ids)
            total += len(ids)
        return total

    async def page_sites(self, changes: list[SiteChange]) -> None:
        """Coordinator: one "site isolated" incident per isolation, resolved once when the site is back."""
        if not self.node.coordinating():
            self.site_states = None
            return
        if self.site_states is None:   # a new term: continue from what the previous coordinator recorded
            stored = await asyncio.to_thread(self.store.last_states)
            self.site_states = {cid[len(SITE_CHECK_PREFIX):]: s.state for cid, s in stored.items()
                                if cid.startswith(SITE_CHECK_PREFIX)}
        now = self.node.sites.at
        details = {c.site: c for c in changes}
        for site in sorted(self.node.anchors):
            want = State.DOWN if site in self.node.sites.isolated else State.UP
            had = self.site_states.get(site, State.UP)
            if want is had:
                continue
            change = details.get(site)
            since = change.at if change is not None else now
            check = site_check(site)
            detail = ""
            if change is not None and change.isolated and change.silent:
                detail = (f"no node of {site} has reported for over {self.node.sites.silent_seconds:g} s "
                          "(cut from the cluster database too, or its nodes are down)")
            elif change is not None and change.isolated:
                detail = (f"anchors failing from {site}: {', '.join(change.failing)}; seen up from "
                          f"{', '.join(change.seen_up_from)}")
            outcome = Outcome(ok=want is State.UP, error=None if want is State.UP else "site_isolated", detail=detail)
            result = Result(check.id, check.target.id, "site", since, 0.0, outcome)
            t = Transition(check.id, check.target.id, since, since, had, want,
                           error=outcome.error, detail=detail)
            self.site_states[site] = want
            self.live.confirmed[check.id] = CheckView(check, restored(want, since), result)
            self.submit(self.decide(check, result, t))

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
        self.tasks.add(task := asyncio.create_task(self.watch_sites(), name="cluster-sites"))
        task.add_done_callback(self.tasks.discard)
        return asyncio.create_task(self.confirm_votes(), name="cluster-votes")

    async def stop(self) -> None:
        await asyncio.to_thread(self.node.stop)   # give the leases back at once
