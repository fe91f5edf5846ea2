"""A result's way to a phone: gated by the cluster, recorded, shown, decided, submitted."""

from __future__ import annotations

import logging
from typing import Callable

from netwatch.alerting.decide import NOTHING, UPTIME_MEASUREMENT
from netwatch.alerting.engine import PagingLoop
from netwatch.clustering import ClusterRole
from netwatch.live import LiveView, expand
from netwatch.model import Check, Result
from netwatch.recorder import Recorder
from netwatch.store import Tx

log = logging.getLogger(__name__)


class ResultPath:
    """What the scheduler hands every result to; in a cluster `cluster` gates it and fences its decision."""

    def __init__(self, live: LiveView, recorder: Recorder, paging: PagingLoop, cluster: ClusterRole | None) -> None:
        self.live, self.recorder, self.paging, self.cluster = live, recorder, paging, cluster

    def handle(self, check: Check, result: Result) -> None:
        """A result: recorded, shown, and (unless another cluster node decides) decided."""
        for one_check, one_result, parent_id in expand(check, result):
            decides = self.cluster.on_result(one_check, one_result) if self.cluster is not None else True
            if decides is None:
                return
            self.recorder.add_result(one_result)
            for event in one_result.outcome.events:
                self.recorder.add_event(one_result.started_at, one_check.id, one_check.target.id, event)
                if event.kind == "reboot" and decides:
                    self.paging.polled_reboot(one_check, one_result.started_at, event.data, self.fence(one_check))
            raw = self.live.update(one_check, one_result, parent_id)
            if decides:
                # Committed only under the slot lease this node holds for the check (a cluster takeover
                # between deciding and committing drops it: the new owner decides).
                self.recorder.submit(self.paging.decide(one_check, one_result, raw), self.fence(one_check))

    def handle_batch(self, runs: list[tuple[Check, Result]]) -> None:
        """The results of one batch (the icmp batch path), as `handle` would take them one by one: recorded
        together, then each shown and decided. A result with derived checks or events, or any in a cluster,
        takes `handle`. A bug in one result's handling is logged and the others go on."""
        plain: list[tuple[Check, Result]] = []
        if self.cluster is not None:
            rest = runs
        else:
            # One pass, which finds none in a batch of plain results (all of an icmp batch): no second list.
            rest = [pair for pair in runs if pair[1].outcome.children or pair[1].outcome.events]
            if rest:
                plain = [pair for pair in runs if not (pair[1].outcome.children or pair[1].outcome.events)]
            else:
                plain = runs
        if plain:
            self.recorder.add_results(plain)
            # Most of a batch is checks staying up with nothing to decide: the live view takes those in one pass.
            try:
                undecided = self.live.update_quiet(plain, self.paging.quiet_ids(), UPTIME_MEASUREMENT)
            except Exception:  # noqa: BLE001 - a bug in the shortcut: every result takes the full path
                log.exception("the live view's pass over a batch of %d results failed", len(plain))
                undecided = plain
            update, decide, submit = self.live.update, self.paging.deciding(), self.recorder.submit
            for check, result in undecided:
                try:
                    decision = decide(check, result, update(check, result))
                    if decision is not NOTHING:   # submit() skips any other empty one
                        submit(decision)
                except Exception:  # noqa: BLE001 - a bug in one result's handling must not stop the others
                    log.exception("handling the result of %s failed", check.id)
        for check, result in rest:
            try:
                self.handle(check, result)
            except Exception:  # noqa: BLE001
                log.exception("handling the result of %s failed", check.id)

    def fence(self, check: Check) -> Callable[[Tx], None] | None:
        """In a cluster: the slot lease this node holds for the check, checked in the decision's transaction."""
        return self.cluster.node.slot_fence(check.id) if self.cluster is not None else None
