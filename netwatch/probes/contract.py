"""What a probe kind declares (ProbeKind) and what the runner hands each run (ProbeContext)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping, MutableMapping, Sequence

from netwatch.model import Check, Outcome, Target

if TYPE_CHECKING:
    from netwatch.configbackup.repo import Repository
    from netwatch.egov.baselines import Baselines


@dataclass(frozen=True)
class ProbeContext:
    """A probe's view of the daemon: its own memory between runs and the repositories it may use.

    `memory` belongs to one check and is dropped when the check is removed from the config, so
    run-time samples (SNMP counters, warned-once flags) never outlive the check. The repositories
    are None where nothing may be read or written (tests, `netwatch probe` without a store).
    """

    check_id: str = ""
    memory: MutableMapping[object, object] = field(default_factory=dict)
    baselines: "Baselines | None" = None
    config_versions: "Repository | None" = None


ProbeFunc = Callable[[Target, object, float, ProbeContext], Awaitable[Outcome]]

# One finished run of the batch path: the check, its outcome, its start (the scheduler's run clock, Unix
# seconds) and duration.
BatchRun = tuple[Check, Outcome, float, float]


@dataclass(frozen=True)
class Batching:
    """How a kind runs the checks that fall due together as ONE batch (icmp).

    The scheduler then keeps no task, sleep, semaphore, timeout or future per check: one timer per
    slot of checks calls `start(runs, deliver, started_at)`, and the kind hands finished runs back as lists
    through `deliver` (it may call it several times, once per group of runs that finished together;
    every run exactly once). `start` must not raise for one check's sake: a failure of the batch
    becomes each affected check's failed Outcome. `accepts(check)` says, when a check is scheduled,
    whether it can go this way (e.g. a literal address); the others run through `probe` as usual.
    """

    accepts: Callable[[Check], bool]
    # `start(plan, deliver, started_at)`: `plan` is what `plan(runs)` made of the slot's (check, context) pairs,
    # kept by the scheduler until the slot's checks change (work per check done once, not on every run).
    start: Callable[[Any, Callable[[list[BatchRun]], None], float], None]
    plan: Callable[[Sequence[tuple[Check, ProbeContext]]], Any] = lambda runs: runs


@dataclass(frozen=True, kw_only=True)
class ProbeKind:
    """A probe module's contract, declared once as `CONTRACT = ProbeKind(...)`.

    Keyword-only and frozen: a misspelt optional field is a TypeError when the module loads, never
    a silent default.
    """

    kind: str
    settings: type
    measurements: Mapping[str, str]
    probe: ProbeFunc
    concurrency: int = 256                 # checks of this kind that run at once
    latency: str | None = None             # the measurement that stands for latency (None: duration)
    series: Mapping[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    prepare: Callable[[object, Target, str], object] | None = None   # at config load: check, resolve paths
    default_timeout_seconds: float = 5.0   # the ceiling of the default timeout
    # Starts are spread over slots this far apart (0: anywhere in the interval), so checks of a kind
    # that sends in batches (icmp) fall due together and share one batch instead of each its own.
    spread_grid_seconds: float = 0.0
    # Checks of one slot (same interval, same grid offset) run as one batch through this, if set.
    batching: Batching | None = None
