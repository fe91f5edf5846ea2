"""CPU of one icmp result per stage, in isolation: the daemon's own objects, one thread, no py-spy.

Run (as root, for raw ICMP): python bench/result_stages_bench.py [--checks 5000] [--reps 4] [--fill 30]

Builds a real `Monitor` (config of N icmp checks to 127.3.0.0/16, SQLite store in a temp dir) and, rep by
rep, times with the thread's CPU clock (`time.thread_time`; `getrusage(RUSAGE_THREAD)` for the user/system split):
the engine alone (`Pinger.start_batch`, batches of 125 checks x 3 echoes, deliver does nothing), the batch
path with judging (`probes.icmp.start_batch`), `judge_run` alone, building the `Result`s, `ResultPath.handle_batch`
(live view, decider, recorder hand-off) and `Store.record_rows` (results and rollups). Rep 0 is the warm-up
(every check's first result changes its state); after it, its results are handed over `--fill` (30) more times
untimed, so the decider's flapping windows are full as after 5 minutes of a daemon (the first 30 results of a
check pay for filling them; a daemon's steady state does not). The best of the other reps is printed. Per-stage
figures to compare before/after a change; result_cost_bench.py gives the whole daemon against fping.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatch import heap  # noqa: E402
from netwatch.app import Monitor  # noqa: E402
from netwatch.config import load  # noqa: E402
from netwatch.model import build_result  # noqa: E402
from netwatch.net.icmp import PingStats, pinger  # noqa: E402
from netwatch.probes import icmp as icmp_probe  # noqa: E402
from netwatch.store import Store  # noqa: E402

GROUP = 125   # checks per batch, as the 250 ms grid gives at 5,000 checks every 10 s
FILL_RESULTS = 30   # the default flapping window (paging.flapping.window)


def user_sys() -> tuple[float, float, float]:
    """(user, system, total) CPU seconds of this thread. The total is the thread's CPU clock (exact); the
    split is getrusage's, counted in scheduler ticks (4 ms here: 0.8 us a result over 5,000 results)."""
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime, r.ru_stime, time.thread_time()


async def run(checks_n: int, reps: int, fill: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="nw-stages-"))
    cfg = work / "venue.yaml"
    lines = ['site: {name: "stages bench"}', "listen: 127.0.0.1:1", f"store: {work / 'netwatch.db'}",
             "defaults: {interval: 10s, timeout: 2s}", "targets:"]
    lines += [f"  - {{id: h{i}, host: 127.3.{i // 250}.{i % 250 + 1}, checks: [{{kind: icmp}}]}}"
              for i in range(checks_n)]
    cfg.write_text("\n".join(lines) + "\n")
    config = load(str(cfg))
    store = Store.open(config.store)
    monitor = Monitor(config, store)
    heap.settle()
    checks = list(config.checks)
    contexts = monitor.scheduler.contexts
    loop = asyncio.get_running_loop()
    best: dict[str, tuple[float, float, float]] = {}
    # As the scheduler keeps them: one plan per slot, made when its checks change.
    plans = {g: icmp_probe.plan_batch([(c, contexts.for_check(c)) for c in checks[g:g + GROUP]])
             for g in range(0, checks_n, GROUP)}
    for rep in range(reps + 1):
        figures: dict[str, tuple[float, float, float]] = {}

        async def batches(judged: bool, collected: list[object]) -> None:
            for g in range(0, checks_n, GROUP):
                group = checks[g:g + GROUP]
                done = loop.create_future()
                left = [len(group)]

                def one(*_: object) -> None:
                    left[0] -= 1
                    if not left[0]:
                        done.set_result(None)

                def runs(found: list[object]) -> None:
                    collected.extend(found)
                    for _ in found:
                        one()
                if judged:
                    icmp_probe.start_batch(plans[g], runs, time.time())
                else:
                    pinger().start_batch([c.target.host for c in group], [1.8] * len(group), 3, 0.1, 56, one,
                                         lambda i, e: one())
                await done

        def timed(name: str, before: tuple[float, float, float]) -> None:
            after = user_sys()
            figures[name] = tuple((a - b) / checks_n for a, b in zip(after, before))  # type: ignore[assignment]

        t = user_sys()
        await batches(False, [])
        timed("engine alone (Pinger.start_batch)", t)
        collected: list[object] = []
        t = user_sys()
        await batches(True, collected)
        timed("engine + judge (probes.icmp.start_batch)", t)
        t = user_sys()
        for c in checks:
            icmp_probe.judge_run(c.target.host, PingStats(c.target.host, 3, (1e-5, 2e-5, 1.5e-5)), c.settings,
                                 icmp_probe._V4_EXTRA, contexts.for_check(c))
        timed("judge_run alone", t)
        stats = [PingStats(c.target.host, 3, (1e-5, 2e-5, 1.5e-5)) for c in checks]
        t = user_sys()
        for g, plan in plans.items():   # what the batch path judges with: each check's memory found once per slot
            for group in plan.groups:
                for i, host in enumerate(group.hosts):
                    icmp_probe.judge_planned(host, stats[g + i], group.settings[i], group.extras[i],
                                             group.memories[i], group.echoes[i])
        timed("judge_planned alone", t)
        ts = time.time()
        t = user_sys()
        results = [(c, build_result(c.id, c.target.id, "icmp", ts, d, o, 0.0)) for c, o, _, d in collected]  # type: ignore[misc]
        timed("Result", t)
        t = user_sys()
        for g in range(0, len(results), GROUP):   # as the scheduler hands them over: a batch at a time
            monitor.path.handle_batch(results[g:g + GROUP])
        timed("ResultPath.handle_batch (live view, decider, recorder hand-off)", t)
        rows, monitor.recorder.results = monitor.recorder.results, []
        monitor.recorder.decisions = []
        t = user_sys()
        for i in range(0, len(rows), 500):   # the recorder's flushes: ~500 results a second at 5,000 checks / 10 s
            store.record_rows(rows[i:i + 500])
        timed("Store.record_rows (results + rollups, SQLite)", t)
        if not rep:   # the flapping windows filled, untimed (see the docstring)
            for _ in range(fill):
                for g in range(0, len(results), GROUP):
                    monitor.path.handle_batch(results[g:g + GROUP])
                monitor.recorder.results, monitor.recorder.decisions = [], []
        failed = sum(1 for _, r in results if not r.outcome.ok)
        print(f"rep {rep}{' (warm-up)' if not rep else ''}: failed {failed}; "
              + "; ".join(f"{k.split(' (')[0]} {total * 1e6:.1f}" for k, (_, _, total) in figures.items()) + " us")
        if rep:
            for k, v in figures.items():
                if k not in best or v[2] < best[k][2]:
                    best[k] = v
        await asyncio.sleep(0.5)
    print(f"\nbest of {reps} reps, CPU per result (thread CPU clock; user and system from getrusage, in ticks):")
    for k, (u, s, total) in best.items():
        print(f"  {k:<58} {total * 1e6:6.1f} us  (user {u * 1e6:.1f}, system {s * 1e6:.1f})")
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=5000)
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--fill", type=int, default=FILL_RESULTS,
                    help="results handed over untimed after the warm-up (0: time the windows filling)")
    args = ap.parse_args()
    asyncio.run(run(args.checks, args.reps, args.fill))


if __name__ == "__main__":
    main()
