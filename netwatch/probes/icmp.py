"""ICMP echo probe: round-trip times, jitter and packet loss over a few echoes."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Literal, Mapping, Sequence

from netwatch.fields import Duration, FieldError
from netwatch.model import EMPTY, Check, Outcome, Target, build_ok_outcome
from netwatch.net.icmp import (MAX_PAYLOAD_BYTES, PingNotPermitted, PingStats, address_family, ping_many, ping_soon,
                               pinger)
from netwatch.net.resolver import resolver
from netwatch.probes.contract import BatchRun, Batching, ProbeContext, ProbeKind

KIND = "icmp"

# Echoes of all checks share one socket per family, so many may run at once cheaply.
CONCURRENCY = 4096

MEASUREMENTS = {
    "rtt_min_seconds": "Fastest echo round trip of the run.",
    "rtt_avg_seconds": "Mean echo round trip of the run.",
    "rtt_max_seconds": "Slowest echo round trip of the run.",
    "rtt_jitter_seconds": "Mean absolute difference between consecutive echo round trips.",
    "packet_loss_ratio": "Share of echo requests without a reply (0 to 1).",
    "packet_loss_window_ratio": "Share of the check's last loss_window echoes without a reply (0 to 1).",
    "packets_sent": "Echo requests sent in the run.",
    "packets_received": "Echo replies received in the run.",
    "dns_lookup_seconds": "Time spent resolving the target's name (0 for an address).",
    "ip_protocol": "IP version used for the echoes (4 or 6).",
}

# Reports and rollups mean the round trip, not the probe duration (count x interval of echoes).
LATENCY = "rtt_avg_seconds"

MAX_COUNT = 1000
MAX_LOSS_WINDOW = 10000
DEFAULT_WARN_LOSS_RATIO = 0.1
DEFAULT_LOSS_WINDOW = 30
# Part of the check's timeout kept for replies to the last echo when count x interval is long.
_MIN_WAIT_SHARE = 0.5
MAX_BATCH_WINDOW_SECONDS = 0.1


@dataclass(frozen=True)
class Settings:
    count: int = 3
    interval_between: Duration = Duration(0.1)
    payload_size_bytes: int = 56
    # A lossy link is degraded, not down: with 3 echoes and 30 % random loss a run loses two or three
    # of them about one run in five, so failing on 50 % loss paged a false DOWN every ~100 runs.
    # A run fails when (almost) every echo is lost; loss is judged over a window of recent echoes.
    max_loss_ratio: float = 0.9
    warn_rtt: Duration | None = None
    warn_loss_ratio: float | None = None     # None: DEFAULT_WARN_LOSS_RATIO, or max_loss_ratio if lower
    loss_window: int | None = None           # None: DEFAULT_LOSS_WINDOW echoes, or count if more
    family: Literal["auto", "ipv4", "ipv6"] = "auto"
    # Checks due within this window share one batch of interleaved echoes (one timer for all)
    # instead of one batch each; a check waits at most this long to start. 0 turns batching off.
    batch_window: Duration = Duration(0.005)

    def __post_init__(self) -> None:
        if not 0 <= self.batch_window <= MAX_BATCH_WINDOW_SECONDS:
            raise FieldError("batch_window", f"must be between 0s and {MAX_BATCH_WINDOW_SECONDS * 1000:g}ms")
        if not 1 <= self.count <= MAX_COUNT:
            raise FieldError("count", f"must be between 1 and {MAX_COUNT}")
        if not 0 <= self.interval_between <= 60:
            raise FieldError("interval_between", "must be between 0s and 60s")
        if not 0 <= self.payload_size_bytes <= MAX_PAYLOAD_BYTES:
            raise FieldError("payload_size_bytes", f"must be between 0 and {MAX_PAYLOAD_BYTES}")
        if not 0 <= self.max_loss_ratio <= 1:
            raise FieldError("max_loss_ratio", "must be between 0 and 1")
        if self.warn_rtt is not None and self.warn_rtt <= 0:
            raise FieldError("warn_rtt", "must be more than 0s")
        if self.loss_window is not None and not self.count <= self.loss_window <= MAX_LOSS_WINDOW:
            raise FieldError("loss_window", f"must be between count ({self.count}) and {MAX_LOSS_WINDOW} echoes")
        if self.warn_loss_ratio is not None:
            if not 0 <= self.warn_loss_ratio <= 1:
                raise FieldError("warn_loss_ratio", "must be between 0 and 1")
            if self.warn_loss_ratio > self.max_loss_ratio:
                raise FieldError("warn_loss_ratio", f"must not exceed max_loss_ratio ({self.max_loss_ratio:g})")


def warn_loss(settings: Settings) -> float:
    if settings.warn_loss_ratio is not None:
        return settings.warn_loss_ratio
    return min(DEFAULT_WARN_LOSS_RATIO, settings.max_loss_ratio)


def literal_address(host: str, family: str) -> str | None:
    """`host` itself if it is an IP address of an allowed family, None for a name to resolve."""
    found = address_family(host)
    if found is None:
        return None
    if (family == "ipv4" and found != socket.AF_INET) or (family == "ipv6" and found != socket.AF_INET6):
        raise socket.gaierror(socket.EAI_ADDRFAMILY, f"address is not {family}")
    return host


async def resolve(host: str, family: str) -> str:
    """Return one IP address for the name `host`; raises socket.gaierror. IPv4 first in `auto`, like ping."""
    families = {"ipv4": [socket.AF_INET], "ipv6": [socket.AF_INET6]}.get(
        family, [socket.AF_INET, socket.AF_INET6])
    error: socket.gaierror | None = None
    for af in families:
        try:
            infos = await resolver().getaddrinfo(host, None, family=af, type=socket.SOCK_RAW)
        except socket.gaierror as exc:
            error = error or exc
            continue
        if infos:
            return str(infos[0][4][0])
    raise error or socket.gaierror(socket.EAI_NONAME, "no address")


# Hysteresis of the loss warning (issue 13). A link enters `degraded` when the loss over its last
# loss_window echoes is above warn_loss_ratio; once degraded by loss it leaves only when that loss has
# stayed at or below this share of the warning for a whole window of echoes (every echo of the window
# sent since it fell that low). At 30 % random loss a 30-echo window holds 3 losses or fewer one run in
# 100 and 1 or none one run in 3,000: clearing at the full warning, then at half of it on one window,
# still bounced about 1 such link in 20 up and back within 300 runs (a RECOVERED/DEGRADED pair); a whole
# window at half the warning (about 57 echoes with at most 2 lost) is a one-in-millions event per run,
# while a repaired link clears after about two windows of echoes.
LOSS_CLEAR_SHARE = 0.5


def loss_window(settings: Settings) -> int:
    """How many recent echoes the loss warning is judged over."""
    return settings.loss_window if settings.loss_window is not None else max(DEFAULT_LOSS_WINDOW, settings.count)


def judge(host: str, stats: PingStats, settings: Settings, extra: Mapping[str, float] = EMPTY,
          window: tuple[int, int] | None = None, loss_degraded_before: bool = False,
          clear_echoes: int | None = None) -> Outcome:
    """Turn what the echoes saw into an outcome (pure; the table of rules is here).

    `extra` measurements (name lookup time, IP version) are passed through. `window` is (sent,
    received) over the check's recent echoes, this run's included; the warning on loss is judged
    over it, so random loss keeps a link steadily degraded instead of bouncing up and degraded.
    `loss_degraded_before` (the check's last ok run was degraded by loss) lowers the bar to clear it,
    and `clear_echoes` (how many echoes, this run's included, the window loss has stayed at or below
    that bar; None: not tracked, as for a one-off run) must reach a whole window before it clears.
    """
    # The figures are computed here once (PingStats' properties recompute on every access): this
    # runs for every result.
    rtts = stats.rtts_seconds
    got = len(rtts)
    loss_ratio = 1.0 - got / stats.sent if stats.sent else 1.0
    sent, received = window if window is not None else (stats.sent, got)
    window_loss = 1.0 - received / sent if sent else 0.0
    measurements: dict[str, float] = {
        **extra,
        "packets_sent": float(stats.sent),
        "packets_received": float(got),
        "packet_loss_ratio": loss_ratio,
        "packet_loss_window_ratio": window_loss,
    }
    who = host if host == stats.address else f"{host} ({stats.address})"
    if not got:
        if stats.errors:
            return Outcome(ok=False, error="unreachable", measurements=measurements,
                           detail=f"no echo reply from {who}: {stats.errors[-1]}"[:500])
        return Outcome(ok=False, error="timeout", measurements=measurements,
                       detail=f"no echo reply from {who} to {stats.sent} requests"[:500])
    rtt_avg = sum(rtts) / got
    if got == 1:
        jitter = 0.0
    elif got == 3:
        jitter = (abs(rtts[1] - rtts[0]) + abs(rtts[2] - rtts[1])) / 2
    else:
        jitter = stats.rtt_jitter_seconds
    measurements["rtt_min_seconds"] = min(rtts)
    measurements["rtt_avg_seconds"] = rtt_avg
    measurements["rtt_max_seconds"] = max(rtts)
    measurements["rtt_jitter_seconds"] = jitter
    warn = warn_loss(settings)
    # once degraded by loss, the link clears only at a share of the warning, held for a whole window
    bar = warn * (LOSS_CLEAR_SHARE if loss_degraded_before else 1.0)
    clearing = (loss_degraded_before and clear_echoes is not None and window_loss <= bar
                and clear_echoes < loss_window(settings))
    lossy = warn < 1 and (window_loss > bar or clearing)
    if loss_ratio <= settings.max_loss_ratio and not lossy and (
            settings.warn_rtt is None or rtt_avg <= settings.warn_rtt):
        return Outcome(True, None, "", measurements)
    lost = stats.sent - got
    loss = f"{lost} of {stats.sent} echoes to {who} lost ({loss_ratio:.0%})"
    if stats.loss_ratio > settings.max_loss_ratio:
        return Outcome(ok=False, error="packet_loss", measurements=measurements,
                       detail=f"{loss}, above max_loss_ratio {settings.max_loss_ratio:g}"[:500])
    if lossy:
        over = f"{sent - received} of the last {sent} echoes lost ({window_loss:.0%})"
        if clearing:
            return Outcome(ok=True, degraded="packet_loss", measurements=measurements,
                           detail=(f"{loss}; {over}, at or below {bar:g} for {clear_echoes} echoes: degraded "
                                   f"until {loss_window(settings)} echoes in a row stay there")[:500])
        # "above <name> <number>" is what causes.py reads the numbers of a notice from
        limit = (f"warn_loss_ratio {warn:g}" if window_loss > warn else
                 f"loss_clear_ratio {bar:g} (half of warn_loss_ratio {warn:g}, to clear)")
        return Outcome(ok=True, degraded="packet_loss", measurements=measurements,
                       detail=f"{loss}; {over}, above {limit}"[:500])
    if settings.warn_rtt is not None and rtt_avg > settings.warn_rtt:
        return Outcome(ok=True, degraded="rtt", measurements=measurements,
                       detail=(f"average round trip to {who} {rtt_avg * 1000:.1f} ms, "
                               f"above warn_rtt {settings.warn_rtt * 1000:g} ms")[:500])
    return Outcome(ok=True, measurements=measurements)


async def probe(target: Target, settings: Settings, timeout_seconds: float,
                context: ProbeContext | None = None) -> Outcome:
    started = time.monotonic()
    host = target.host.strip()
    if not host:
        return Outcome.fail("dns", "the target has no host to ping")
    try:
        address = literal_address(host, settings.family)
        if address is None:
            address = await asyncio.wait_for(resolve(host, settings.family), timeout_seconds)
    except asyncio.TimeoutError:
        return Outcome.fail("timeout", f"resolving {host!r} took longer than {timeout_seconds:g}s")
    except socket.gaierror as exc:
        return Outcome.fail("dns", f"cannot resolve {host!r}: {exc.strerror or exc}")
    lookup_seconds = time.monotonic() - started
    interval, wait = spacing(settings, timeout_seconds - lookup_seconds)
    try:
        if settings.batch_window > 0:
            stats = await ping_soon(address, settings.count, interval, wait, settings.payload_size_bytes,
                                    float(settings.batch_window))
        else:
            stats = (await ping_many([address], settings.count, interval, wait,
                                     settings.payload_size_bytes))[address]
    except PingNotPermitted as exc:
        return Outcome.fail("not_permitted", str(exc))
    except OSError as exc:
        return Outcome.fail("unreachable", f"cannot ping {address}: {exc.strerror or exc}")
    extra = {"dns_lookup_seconds": lookup_seconds, "ip_protocol": 6.0 if ":" in address else 4.0}
    return judge_run(host, stats, settings, extra, context)


def judge_run(host: str, stats: PingStats, settings: Settings, extra: Mapping[str, float],
              context: ProbeContext | None) -> Outcome:
    """`judge` with the check's memory (both the task and the batch path): the loss window over its recent
    runs, whether loss already degraded it, and for how many echoes its loss has stayed low enough to clear."""
    memory = _memory(context)
    if memory is None:
        return judge(host, stats, settings, extra)
    # judge_planned: the common run built directly, any other by the rules (judge_rules gives the same)
    return judge_planned(host, stats, settings, extra, memory, loss_window(settings))


def judge_rules(host: str, stats: PingStats, settings: Settings, extra: Mapping[str, float],
                context: ProbeContext) -> Outcome:
    """judge_run by the table of rules alone, for every run: what judge_planned's shortcut is held to."""
    memory = _memory(context)
    assert memory is not None
    echoes = loss_window(settings)
    return _judged(host, stats, settings, extra, memory, memory.add(stats.sent, len(stats.rtts_seconds), echoes),
                   echoes)


def _judged(host: str, stats: PingStats, settings: Settings, extra: Mapping[str, float], memory: _Window,
            window: tuple[int, int], echoes: int) -> Outcome:
    """judge_run once this run is in the check's window."""
    sent, received = window
    low = sent > 0 and 1.0 - received / sent <= warn_loss(settings) * LOSS_CLEAR_SHARE
    memory.clear_echoes = min(memory.clear_echoes + stats.sent, echoes) if low else 0
    before = memory.loss_degraded
    outcome = judge(host, stats, settings, extra, window, before, memory.clear_echoes)
    if outcome.ok:   # a failed run neither sets nor clears it
        memory.loss_degraded = outcome.degraded == "packet_loss"
    return outcome


def judge_planned(host: str, stats: PingStats, settings: Settings, extra: Mapping[str, float], memory: _Window,
                  echoes: int) -> Outcome:
    """judge_run for the batch path, with the check's memory and window size found once per slot (`Plan`).

    The common case — every echo answered, no loss in the window, not degraded by loss, under warn_rtt — is
    built directly (the same Outcome and memory as the rules give, judge_rules: tests/probes/test_icmp_planned.py
    holds the two together); any other run takes those rules."""
    rtts = stats.rtts_seconds
    got = len(rtts)
    sent = stats.sent
    if got != sent or not got or memory.sent != memory.received or memory.loss_degraded or sent > 16:
        return _judged(host, stats, settings, extra, memory, memory.add(sent, got, echoes), echoes)
    # _Window.add for a full run on a window without loss (so every run in it is full): the same deque and
    # sums, without the method call and the (sent, received) tuple.
    runs = memory.runs
    runs.append(_PAIRS[sent][sent])
    total = memory.sent + sent
    while len(runs) > 1 and total - runs[0][0] >= echoes:
        total -= runs.popleft()[0]
    memory.sent = memory.received = total
    if got == 3:
        first, second, third = rtts
        rtt_min = min(first, second, third)
        rtt_max = max(first, second, third)
        rtt_avg = (first + second + third) / 3
        jitter = (abs(second - first) + abs(third - second)) / 2
    else:
        rtt_min, rtt_max, rtt_avg = min(rtts), max(rtts), sum(rtts) / got
        jitter = 0.0 if got == 1 else stats.rtt_jitter_seconds
    if settings.warn_rtt is not None and rtt_avg > settings.warn_rtt:
        return _judged(host, stats, settings, extra, memory, (total, total), echoes)
    clear = memory.clear_echoes + sent
    memory.clear_echoes = clear if clear < echoes else echoes
    full = _V4_FULL if extra is _V4_EXTRA else _V6_FULL if extra is _V6_EXTRA else None
    if full is not None:
        measurements = full[sent].copy()   # a copy and four stores: half the cost of the literal below
    else:
        measurements = {**extra, "packets_sent": float(sent), "packets_received": float(got), "packet_loss_ratio": 0.0,
                        "packet_loss_window_ratio": 0.0}
    measurements["rtt_min_seconds"] = rtt_min
    measurements["rtt_avg_seconds"] = rtt_avg
    measurements["rtt_max_seconds"] = rtt_max
    measurements["rtt_jitter_seconds"] = jitter
    return build_ok_outcome(measurements)


def spacing(settings: Settings, remaining_seconds: float) -> tuple[float, float]:
    """(seconds between echoes, seconds to wait after the last) within what is left of the timeout."""
    interval = float(settings.interval_between)
    if settings.count > 1 and interval * (settings.count - 1) > remaining_seconds * (1 - _MIN_WAIT_SHARE):
        # Squeeze the spacing rather than fail: the check's timeout bounds the whole run.
        interval = remaining_seconds * (1 - _MIN_WAIT_SHARE) / (settings.count - 1)
    return interval, max(remaining_seconds - interval * (settings.count - 1), 0.001)


# -- the scheduler's batch path: the checks of one slot as one batch, no task or future per check --

_V4_EXTRA: Mapping[str, float] = {"dns_lookup_seconds": 0.0, "ip_protocol": 4.0}
_V6_EXTRA: Mapping[str, float] = {"dns_lookup_seconds": 0.0, "ip_protocol": 6.0}
# What every full run of n echoes (n <= 16) to an address literal measures before its round trips, in the
# order judge() writes them (/metrics keeps it): judge_planned copies one. Never handed out themselves.
_V4_FULL, _V6_FULL = ([{**extra, "packets_sent": float(n), "packets_received": float(n), "packet_loss_ratio": 0.0,
                        "packet_loss_window_ratio": 0.0} for n in range(17)] for extra in (_V4_EXTRA, _V6_EXTRA))


def batchable(check: Check) -> bool:
    """A check to an address literal of an allowed family with batching on goes the batch path;
    a name to resolve (or a family mismatch, which probe() reports) goes through probe()."""
    settings = check.settings
    if not isinstance(settings, Settings) or settings.batch_window <= 0:
        return False
    host = check.target.host.strip()
    try:
        return bool(host) and literal_address(host, settings.family) is not None
    except socket.gaierror:
        return False


class _Group:
    """Checks of a slot sharing one engine batch (same echo count, spacing and payload size), as parallel lists."""

    __slots__ = ("count", "interval_seconds", "payload_bytes", "checks", "hosts", "addresses", "waits", "settings",
                 "extras", "memories", "echoes")

    def __init__(self, count: int, interval_seconds: float, payload_bytes: int) -> None:
        self.count, self.interval_seconds, self.payload_bytes = count, interval_seconds, payload_bytes
        self.checks: list[Check] = []
        self.hosts: list[str] = []
        self.addresses: list[str] = []
        self.waits: list[float] = []
        self.settings: list[Settings] = []
        self.extras: list[Mapping[str, float]] = []
        self.memories: list[_Window] = []
        self.echoes: list[int] = []


class Plan:
    """A slot's checks made ready for the engine once (the scheduler keeps it until the slot's checks change):
    grouped, their addresses checked, spacing, window size and memory found, instead of on every run."""

    __slots__ = ("groups",)

    def __init__(self, runs: Sequence[tuple[Check, ProbeContext]]) -> None:
        groups: dict[tuple[int, float, int], _Group] = {}
        for check, context in runs:
            settings = check.settings
            assert isinstance(settings, Settings)
            interval, wait = spacing(settings, check.timeout_seconds)
            key = (settings.count, interval, settings.payload_size_bytes)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(*key)
            host = check.target.host.strip()
            memory = _memory(context)
            group.checks.append(check)
            group.hosts.append(host)
            group.addresses.append(host)
            group.waits.append(wait)
            group.settings.append(settings)
            group.extras.append(_V6_EXTRA if address_family(host) == socket.AF_INET6 else _V4_EXTRA)
            group.memories.append(memory if memory is not None else _Window())
            group.echoes.append(loss_window(settings))
        self.groups = list(groups.values())


def plan_batch(runs: Sequence[tuple[Check, ProbeContext]]) -> Plan:
    return Plan(runs)


def start_batch(runs: Plan | Sequence[tuple[Check, ProbeContext]], deliver: Callable[[list[BatchRun]], None],
                started_at: float) -> None:
    """Echo every check of `runs` (or of its Plan) at once (one Pinger batch per echo count, spacing and payload size).

    Each check's outcome is judged as its echoes settle; the outcomes settled by one socket read (on
    a healthy network: most of the batch) reach `deliver` as one list on the next loop step.
    """
    plan = runs if isinstance(runs, Plan) else Plan(runs)
    t0 = time.perf_counter()
    loop = asyncio.get_running_loop()
    done: list[BatchRun] = []

    def hand_over() -> None:
        runs_done = done[:]
        done.clear()
        deliver(runs_done)

    for group in plan.groups:
        def settled(index: int, stats: PingStats, group: _Group = group) -> None:
            outcome = judge_planned(group.hosts[index], stats, group.settings[index], group.extras[index],
                                    group.memories[index], group.echoes[index])
            if not done:
                loop.call_soon(hand_over)
            done.append((group.checks[index], outcome, started_at, time.perf_counter() - t0))

        def failed(index: int, exc: BaseException, group: _Group = group) -> None:
            if not isinstance(exc, Exception):
                return   # the loop is shutting down: nothing to report
            check = group.checks[index]
            if isinstance(exc, PingNotPermitted):
                outcome = Outcome.fail("not_permitted", str(exc))
            elif isinstance(exc, OSError):
                outcome = Outcome.fail("unreachable", f"cannot ping {group.hosts[index]}: {exc.strerror or exc}")
            else:
                outcome = Outcome.fail("internal", f"probe error: {type(exc).__name__}")
            if not done:
                loop.call_soon(hand_over)
            done.append((check, outcome, started_at, time.perf_counter() - t0))

        try:
            pinger().start_batch(group.addresses, group.waits, group.count, group.interval_seconds,
                                 group.payload_bytes, settled, failed)
        except (ValueError, RuntimeError) as exc:
            for index in range(len(group.checks)):
                failed(index, exc)


def remember(context: ProbeContext | None, stats: PingStats, loss_window: int) -> tuple[int, int] | None:
    """Add this run to the check's recent echoes; (sent, received) over the last `loss_window` of them."""
    memory = _memory(context)
    return memory.add(stats.sent, stats.received, loss_window) if memory is not None else None


def _memory(context: ProbeContext | None) -> _Window | None:
    if context is None:
        return None
    memory = context.memory.get("icmp_runs")
    if memory is None:   # not setdefault: that would build (and drop) a window on every run
        memory = context.memory["icmp_runs"] = _Window()
    assert isinstance(memory, _Window)
    return memory


# The (sent, received) pairs of runs of up to 16 echoes, made once: a window holds up to 30 echoes of
# runs, and a new tuple per run made every check's window grow for its first 30 runs (15 minutes of
# 1-echo checks at 30 s): ~70 MB at 40,000 checks, the daemon's RSS rising long after start.
_PAIRS: tuple[tuple[tuple[int, int], ...], ...] = tuple(tuple((s, r) for r in range(s + 1)) for s in range(17))


class _Window:
    """A check's recent runs as (sent, received), with running sums (no re-summing per run), and its loss
    verdict: whether its last ok run was degraded by loss, and for how many echoes in a row (up to the
    latest) the loss over the window has stayed low enough to clear it."""

    __slots__ = ("runs", "sent", "received", "loss_degraded", "clear_echoes")

    def __init__(self) -> None:
        self.runs: deque[tuple[int, int]] = deque()
        self.sent = 0
        self.received = 0
        self.loss_degraded = False
        self.clear_echoes = 0

    def add(self, sent: int, received: int, loss_window: int) -> tuple[int, int]:
        runs = self.runs
        runs.append(_PAIRS[sent][received] if sent <= 16 and 0 <= received <= sent else (sent, received))
        self.sent += sent
        self.received += received
        while len(runs) > 1 and self.sent - runs[0][0] >= loss_window:
            old_sent, old_received = runs.popleft()
            self.sent -= old_sent
            self.received -= old_received
        return self.sent, self.received


# Checks start on a 1 s grid: with 5,000 checks at 10 s, ~500 fall due at once and go out as one batch
# (fping-style) instead of ~2 per 5 ms window with starts spread evenly. A batch's own costs (its timer, task, rounds,
# hand-overs) and a cold start of its code and data are paid per batch: bench/result_cost_bench.py measured
# 70-73 us per stored result on a 250 ms grid (125 a batch), 64-66 us on 1 s and 59-64 us on 2 s (round 7).
SPREAD_GRID_SECONDS = 1.0

CONTRACT = ProbeKind(
    kind=KIND, settings=Settings, measurements=MEASUREMENTS, probe=probe,
    latency=LATENCY,
    concurrency=CONCURRENCY,
    spread_grid_seconds=SPREAD_GRID_SECONDS,
    batching=Batching(accepts=batchable, start=start_batch, plan=plan_batch))
