"""run_check: the one place where a probe's unexpected exception becomes a failed Outcome."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Iterable

from netwatch.clock import RUN_CLOCK
from netwatch.deadline import Deadline
from netwatch.configbackup.repo import Repository
from netwatch.egov.baselines import Baselines
from netwatch.model import Check, Outcome, Result, build_result
from netwatch.probes import ProbeContext, ProbeKind
from netwatch.store import Store

log = logging.getLogger(__name__)

# A probe should honour its own timeout; this margin only catches one that does not.
DEADLINE_MARGIN_SECONDS = 1.0


class ProbeContexts:
    """Hands each check its ProbeContext: its own memory, and the repositories probes may use."""

    def __init__(self, baselines: Baselines | None = None, config_versions: Repository | None = None) -> None:
        self.baselines = baselines
        self.config_versions = config_versions
        self.contexts: dict[str, ProbeContext] = {}

    @classmethod
    def of_store(cls, store: Store, phase_at: Callable[[float], object]) -> "ProbeContexts":
        """web_integrity page baselines, ssh config versions and drift baselines, read from `store`."""
        return cls(Baselines.of_store(store, phase_at), Repository(store.db, phase_at=phase_at))

    def for_check(self, check: Check) -> ProbeContext:
        context = self.contexts.get(check.id)
        if context is None:
            context = ProbeContext(check.id, {}, self.baselines, self.config_versions)
            self.contexts[check.id] = context
        return context

    def retain(self, check_ids: Iterable[str]) -> None:
        """Forget the memory of checks no longer configured."""
        keep = set(check_ids)
        for check_id in [c for c in self.contexts if c not in keep]:
            del self.contexts[check_id]


async def run_check(check: Check, kind: ProbeKind, lag_seconds: float = 0.0,
                    context: ProbeContext | None = None, wall: Callable[[], float] = RUN_CLOCK) -> Result:
    # Dated by the run's clock, not time.time(): an outage's end must never come before its start.
    started_at = wall()
    t0 = time.perf_counter()
    # The safety net's deadline: one timer (netwatch/deadline.py), not asyncio.timeout's 7 us a run.
    deadline = Deadline(check.timeout_seconds + DEADLINE_MARGIN_SECONDS)
    try:
        outcome = await kind.probe(check.target, check.settings, check.timeout_seconds, context)
    except asyncio.CancelledError:
        if not deadline.ours():
            raise   # a stop or a reload, not our deadline
        outcome = Outcome.fail("timeout", f"no answer within {check.timeout_seconds:g}s")
    except Exception as exc:  # noqa: BLE001 - this is the designated catch-all
        log.exception("check %s: probe raised %s", check.id, type(exc).__name__)
        outcome = Outcome.fail("internal", f"probe error: {type(exc).__name__}")
    finally:
        deadline.close()
    if not isinstance(outcome, Outcome):
        outcome = Outcome.fail("internal", f"probe returned {type(outcome).__name__}")
    return build_result(check.id, check.target.id, check.kind, started_at, time.perf_counter() - t0, outcome,
                        lag_seconds)
