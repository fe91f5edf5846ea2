"""Benchmark: `netwatch report` (HTML + PDF) over 30 days of history for 1,000 checks."""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from netwatch.store import Store  # noqa: E402
from netwatch.store.rollup import BOUNDS_SECONDS, BUCKET_SECONDS, bucket_index, encode_hist  # noqa: E402

ZONES = (("hall", "Hội trường"), ("rooms", "Phòng họp Tổ"), ("press", "Trung tâm báo chí"),
         ("hotel", "Nơi ăn nghỉ đại biểu"), ("dc", "Trung tâm dữ liệu tỉnh"))
KINDS = ("icmp", "tcp", "http", "icmp", "http")
DAY = 86400.0
START = 1_790_000_000.0 - (1_790_000_000.0 % DAY) - 7 * 3600  # midnight, Asia/Ho_Chi_Minh


def write_config(path: Path, store: Path, checks: int, days: int) -> list[tuple[str, str, str, str | None]]:
    """A venue with `checks` checks (5 per target); returns (check, target, kind, parent target)."""
    lines = ["site: {name: 'Hội trường Trung tâm Hội nghị tỉnh', timezone: Asia/Ho_Chi_Minh}",
             f"store: {store}", "zones:"]
    lines += [f"  - {{id: {z}, name: '{n}'}}" for z, n in ZONES]
    third = days * DAY / 3
    lines += ["event:", "  name: 'Đại hội đại biểu Đảng bộ tỉnh'", "  phases:"]
    for i, (pid, name) in enumerate((("before", "Trước Đại hội"), ("during", "Trong Đại hội"),
                                     ("after", "Sau Đại hội"))):
        lines.append(f"    - {{id: {pid}, name: '{name}', start: '{_iso(START + i * third)}', "
                     f"end: '{_iso(START + (i + 1) * third)}'}}")
    lines += ["report: {sla_target: 99.9, zones: {dc: 99.95}}", "targets:"]
    out = []
    targets = checks // len(KINDS)
    for t in range(targets):
        zone = ZONES[t % len(ZONES)][0]
        tid = f"t{t:04d}"
        parent = f"t{(t // 20) * 20:04d}" if t % 20 else None
        lines.append(f"  - id: {tid}\n    host: 127.0.0.{1 + t % 250}\n    zone: {zone}\n    name: 'Thiết bị {t}'")
        if parent:
            lines.append(f"    depends_on: [{parent}]")
        lines.append("    checks:")
        for k, kind in enumerate(KINDS):
            cid = f"{tid}/{kind}{k}"
            extra = {"icmp": "", "tcp": ", port: 443", "http": ", url: 'http://127.0.0.1/'"}[kind]
            lines.append(f"      - {{kind: {kind}, id: {cid}{extra}}}")
            out.append((cid, tid, kind, parent))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _iso(ts: float) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()


def _hist_pool(rng: random.Random, median_seconds: float, n: int) -> list[tuple[int, float, float, str]]:
    """Pre-sampled 5-minute buckets (10 results each) from a log-normal latency."""
    pool = []
    for _ in range(n):
        hist = [0] * (len(BOUNDS_SECONDS) + 1)
        lat = [median_seconds * math.exp(rng.gauss(0, 0.35)) for _ in range(10)]
        for v in lat:
            hist[bucket_index(v)] += 1
        pool.append((10, sum(lat), max(lat), encode_hist(hist)))
    return pool


def build_history(store_path: Path, checks: list[tuple[str, str, str, str | None]], days: int,
                  interval_seconds: float, seed: int = 7) -> dict[str, int]:
    """Write runs, transitions, events and rollups straight into a store file."""
    rng = random.Random(seed)
    Store.open(str(store_path)).close()
    conn = sqlite3.connect(str(store_path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    end = START + days * DAY
    # Three runs with two gaps: a 20-minute crash and a 5-minute upgrade.
    gaps = [(START + 9.3 * DAY, START + 9.3 * DAY + 1200), (START + 21.7 * DAY, START + 21.7 * DAY + 300)]
    runs, cur = [], START
    for g0, g1 in gaps:
        runs.append((cur, g0))
        cur = g1
    runs.append((cur, end))
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO runs (started_at, last_seen_at, stopped_at, version, pid) VALUES (?,?,?,?,?)",
                     [(a, b, b, "bench", 1) for a, b in runs])
    per_bucket = int(BUCKET_SECONDS / interval_seconds)
    transitions: list[tuple[object, ...]] = []
    events: list[tuple[object, ...]] = []
    pools = {m: _hist_pool(rng, m, 300) for m in (0.0008, 0.004, 0.02, 0.09)}
    parent_outages: dict[str, list[tuple[float, float]]] = {}
    n_rollups = 0
    for cid, tid, kind, parent in checks:
        spans: list[tuple[float, float, str, str | None, str | None]] = []  # start, end, state, error, cause
        t = START + rng.uniform(0, 3600 * 24)
        while True:
            t += rng.expovariate(1 / (3 * DAY))
            if t >= end:
                break
            # An outage is decided on the third failing result, so it lasts at least three intervals.
            dur = max(3 * interval_seconds, min(rng.lognormvariate(math.log(180), 1.2), 6 * 3600))
            state = rng.choices(("down", "degraded", "maintenance"), (0.7, 0.25, 0.05))[0]
            err = rng.choice(("timeout", "refused", "unreachable", "status")) if state == "down" else None
            spans.append((t, min(t + dur, end), state, err, None))
            t += dur
        if parent is not None and cid.endswith("icmp0"):
            for a, b in parent_outages.get(parent, []):
                spans.append((a + 30, b, "unreachable", "timeout", parent))
            spans.sort()
        if parent is None and cid.endswith("icmp0"):
            parent_outages[tid] = [(a, b) for a, b, s, _, _ in spans if s == "down"]
        prev_end = START
        state = "unknown"
        since = START + rng.uniform(0, 60)
        transitions.append((cid, tid, since, since, "unknown", "up", None, "", None))
        state = "up"
        for a, b, s, err, cause in spans:
            if a < prev_end:
                continue
            transitions.append((cid, tid, a + 2 * interval_seconds, a, state, s, err,
                                f"{err} after {interval_seconds:g}s" if err else "", cause))
            transitions.append((cid, tid, b + interval_seconds, b, s, "up", None, "", None))
            prev_end = b
            if s == "down" and rng.random() < 0.02:
                events.append((b, cid, tid, "reboot", f"{tid} rebooted (uptime 0:01:12)", "{}"))
        down_spans = [(a, b) for a, b, s, _, _ in spans if s in ("down", "unreachable")]
        pool = pools[{"icmp": 0.0008, "tcp": 0.004, "http": 0.09}[kind] if cid[-1] != "3" else 0.02]
        rows = []
        bs = START
        di = 0
        choice = rng.choice
        while bs < end:
            in_gap = any(g0 <= bs < g1 for g0, g1 in gaps)
            if not in_gap:
                while di < len(down_spans) and down_spans[di][1] <= bs:
                    di += 1
                down = di < len(down_spans) and down_spans[di][0] <= bs + BUCKET_SECONDS
                n, lsum, lmax, hist = choice(pool)
                if down:
                    rows.append((cid, bs, BUCKET_SECONDS, per_bucket, 0, 0, 0, 0.0, 0.0, ""))
                else:
                    rows.append((cid, bs, BUCKET_SECONDS, per_bucket, per_bucket, 0, n, lsum, lmax, hist))
            bs += BUCKET_SECONDS
        conn.executemany("INSERT INTO rollups VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        n_rollups += len(rows)
    transitions.sort(key=lambda r: r[2])  # type: ignore[arg-type, return-value]
    conn.executemany("INSERT INTO transitions (check_id, target_id, ts, since, from_state, to_state, error, "
                     "detail, cause) VALUES (?,?,?,?,?,?,?,?,?)", transitions)
    events += [(START + d * DAY + 3600, None, f"t{d:04d}", "config_drift", f"running config of t{d:04d} changed",
                "{}") for d in range(0, days, 4)]
    events.append((START + 12 * DAY, "t0004/http2", "t0004", "defacement", "<script>alert(1)</script> on portal",
                   "{}"))
    conn.executemany("INSERT INTO events (ts, check_id, target_id, kind, summary, data) VALUES (?,?,?,?,?,?)",
                     events)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"rollups": n_rollups, "transitions": len(transitions), "events": len(events)}


def report_once(config_path: Path, out_dir: Path) -> None:
    """In a fresh process: load config, read the store, compute, write HTML and PDF; print timings."""
    from netwatch.config import load
    from netwatch.report.cli import make_scope, render
    from netwatch.report.collect import collect
    from netwatch.report.summary import build

    marks = [("start", time.perf_counter())]
    config = load(str(config_path))
    marks.append(("config", time.perf_counter()))
    scope = make_scope(config, "all", None, None, (), (), time.time())
    history = collect(config, config.store, scope)
    marks.append(("collect", time.perf_counter()))
    report = build(history)
    marks.append(("maths", time.perf_counter()))
    (out_dir / "report.html").write_bytes(render(report, "html", "vi"))
    marks.append(("html", time.perf_counter()))
    (out_dir / "report.pdf").write_bytes(render(report, "pdf", "vi"))
    marks.append(("pdf", time.perf_counter()))
    steps = "  ".join(f"{name} {b - a:.2f}s" for (_, a), (name, b) in zip(marks, marks[1:]))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    rss = usage.ru_maxrss / 1024
    print(f"report (HTML + PDF): {marks[-1][1] - marks[0][1]:.2f} s wall, {usage.ru_utime + usage.ru_stime:.2f} s CPU "
          f"[{steps}]  max RSS {rss:.0f} MB  rows {len(report.rows)} outages {len(report.outages)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--checks", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--interval", type=float, default=30.0)
    ap.add_argument("--dir", default=None, help="keep the store and reports here (default: a temp dir)")
    ap.add_argument("--reuse", action="store_true", help="reuse an existing store in --dir")
    ap.add_argument("--runs", type=int, default=2, help="report runs (the first may read a cold cache)")
    ap.add_argument("--report-once", metavar="CONFIG", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.report_once:
        report_once(Path(args.report_once), Path(args.dir or "."))
        return 0
    work = Path(args.dir or tempfile.mkdtemp(prefix="nw_report_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    store = work / "history.db"
    cfg = work / "venue.yaml"
    checks = write_config(cfg, store, args.checks, args.days)
    if not (args.reuse and store.exists()):
        if store.exists():
            store.unlink()
        t0 = time.perf_counter()
        counts = build_history(store, checks, args.days, args.interval)
        print(f"build: {time.perf_counter() - t0:.1f} s  {counts}")
    size = store.stat().st_size + sum(p.stat().st_size for p in work.glob("history.db-*"))
    results = int(args.checks * args.days * DAY / args.interval)
    print(f"store: {size / 1e6:.0f} MB for {results / 1e6:.1f} M results ({size / results:.1f} bytes/result); "
          f"budget 2 GB: {'ok' if size <= 2e9 else 'OVER'}")
    for _ in range(args.runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--dir", str(work), "--report-once", str(cfg)], check=True)
        wall = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"  process wall {wall:.2f} s (budget 10 s: {'ok' if wall <= 10 else 'OVER'}), "
              f"max child RSS so far {rss:.0f} MB (budget 500 MB: {'ok' if rss <= 500 else 'OVER'})")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for fmt in ("json", "csv"):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "netwatch", "report", "-c", str(cfg), "-o", str(work / f"report.{fmt}")],
                       check=True, env=env)
        print(f"netwatch report --format {fmt}: {time.perf_counter() - t0:.2f} s "
              f"({(work / f'report.{fmt}').stat().st_size / 1e6:.1f} MB)")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (figures scale with it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
