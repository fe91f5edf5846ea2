"""CPU of the recorder's write per stored result, in its own thread, alone and beside a busy "event loop".

Run: python bench/store_write_bench.py [--checks 5000] [--seconds 60] [--busy]

Feeds `Store.record_rows` the stream the daemon gives it at 5,000 icmp checks every 10 s: 500 results a
flush, one flush per simulated second (timestamps advance 1 s a flush, so 5-minute buckets close and get
compacted as in a run). The writer runs in a worker thread as the recorder's does and its CPU is read with
the thread's own clock (getrusage(RUSAGE_THREAD)): user and system per result. `--busy` keeps a second
Python thread spinning meanwhile, as the event loop of a loaded daemon does, so the GIL hand-offs that
sqlite3 causes (it releases the GIL around every step) are paid as they are in the daemon; it uses a core.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatch.store import ResultRow, Store  # noqa: E402


def user_sys() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_THREAD)
    return r.ru_utime, r.ru_stime


def stream(checks: int, seconds: int, per_flush: int, start: float) -> list[list[ResultRow]]:
    rnd = random.Random(18)
    ids = [f"h{i}.icmp" for i in range(checks)]
    flushes = []
    for s in range(seconds):
        base = (s * per_flush) % checks
        flushes.append([(ids[(base + j) % checks], start + s + j / per_flush, 0.002, 1, 0, None,
                         rnd.uniform(2e-5, 2e-4)) for j in range(per_flush)])
    return flushes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checks", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=60, help="simulated seconds (flushes) timed")
    ap.add_argument("--per-flush", type=int, default=500)
    ap.add_argument("--busy", action="store_true", help="a second Python thread spins meanwhile")
    ap.add_argument("--loop-duty", type=float, default=0.0,
                    help="a second Python thread busy this fraction of the time, in 0.2 ms slices (0.1: like "
                         "the event loop of the bench's daemon, ~90 us of CPU per result at 500 a second)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nw-storewrite-"))
    store = Store.open(str(work / "netwatch.db"))
    start = 1_800_000_000.0 - 150   # mid-bucket: the timed part crosses a bucket boundary
    warm = stream(args.checks, 20, args.per_flush, start - 20)
    timed = stream(args.checks, args.seconds, args.per_flush, start)
    out: dict[str, tuple[float, float]] = {}

    def writer() -> None:
        for rows in warm:
            store.record_rows(rows)
        gc.collect()
        before = user_sys()
        for rows in timed:
            store.record_rows(rows)
        after = user_sys()
        out["writer"] = (after[0] - before[0], after[1] - before[1])

    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    def duty() -> None:
        busy_s = 0.0002
        idle_s = busy_s * (1 - args.loop_duty) / args.loop_duty
        while not stop.is_set():
            until = time.thread_time() + busy_s
            while time.thread_time() < until:
                pass
            time.sleep(idle_s)

    spinner = threading.Thread(target=spin if args.busy else duty, daemon=True)
    if args.busy or args.loop_duty > 0:
        spinner.start()
    t = threading.Thread(target=writer)
    wall = time.monotonic()
    t.start()
    t.join()
    wall = time.monotonic() - wall
    stop.set()
    n = args.seconds * args.per_flush
    u, s = out["writer"]
    print(f"record_rows: {n} results in {args.seconds} flushes of {args.per_flush} ({args.checks} checks)"
          f"{', beside a busy thread' if args.busy else ''}"
          f"{f', beside a thread busy {args.loop_duty:.0%} of the time' if args.loop_duty else ''}: {(u + s) / n * 1e6:.1f} us CPU per result "
          f"(user {u / n * 1e6:.1f}, system {s / n * 1e6:.1f}); wall {wall:.1f} s")
    store.close()


if __name__ == "__main__":
    main()
