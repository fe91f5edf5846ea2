"""run_check: the one place where a probe's unexpected exception becomes a failed Outcome."""

from __future__ import annotations

import asyncio
import logging
import time

from netwatch.model import Check, Outcome, Result
from netwatch.probes import ProbeKind

log = logging.getLogger(__name__)

# A probe should honour its own timeout; this margin only catches one that does not.
DEADLINE_MARGIN_SECONDS = 1.0


async def run_check(check: Check, kind: ProbeKind, lag_seconds: float = 0.0) -> Result:
    started_at = time.time()
    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(check.timeout_seconds + DEADLINE_MARGIN_SECONDS):
            outcome = await kind.probe(check.target, check.settings, check.timeout_seconds)
    except TimeoutError:
        outcome = Outcome.fail("timeout", f"no answer within {check.timeout_seconds:g}s")
    except Exception as exc:  # noqa: BLE001 - this is the designated catch-all
        log.exception("check %s: probe raised %s", check.id, type(exc).__name__)
        outcome = Outcome.fail("internal", f"probe error: {type(exc).__name__}")
    if not isinstance(outcome, Outcome):
        outcome = Outcome.fail("internal", f"probe returned {type(outcome).__name__}")
    return Result(check_id=check.id, target_id=check.target.id, kind=check.kind, started_at=started_at,
                  duration_seconds=time.perf_counter() - t0, outcome=outcome, lag_seconds=lag_seconds)
