"""Status board cost: building /api/v1/board for N checks, against the core /api/v1/checks listing.

Usage: python bench/board_bench.py [--targets 500 5000] [--rounds 5]

A wall screen polls the board every 2 s, so one snapshot must stay far below that on a 2-core
machine. Prints ms per snapshot (best of rounds), JSON bytes, and the ratio to the plain check list.
"""

from __future__ import annotations

import argparse
import json
import time
from types import SimpleNamespace

from netwatch.config import loads
from netwatch.live import LiveView
from netwatch.model import Outcome, Result
from netwatch.web import board


def venue(n: int) -> str:
    zones = [f"z{i}" for i in range(20)]
    lines = ["zones:"] + [f"  - {{id: {z}, name: Khu vực {z}}}" for z in zones] + ["targets:"]
    for i in range(n):
        parent = "depends_on: [t0], " if i else ""
        lines.append(f"  - {{id: t{i}, name: Thiết bị {i}, zone: {zones[i % 20]}, host: 127.0.0.1, "
                     f"{parent}checks: [{{kind: tcp, port: 9}}]}}")
    return "\n".join(lines)


def checks_listing(services: SimpleNamespace, now: float) -> list[dict[str, object]]:
    """What netwatch.web.server.checks builds (the same fields), for the ratio."""
    out = []
    config = services.config()
    for view in list(services.live.views.values()):
        r = view.result
        out.append({"check": view.check.id, "target": view.check.target.id, "kind": view.check.kind,
                    "zone": view.check.target.zone, "state": services.live.display_state(view, now).value,
                    "since": view.state.since or None, "ok": r.outcome.ok if r else None,
                    "error": r.outcome.error if r else None,
                    "detail": config.redact(r.outcome.detail) if r else None,
                    "last_result": r.started_at if r else None})
    return out


def best(fn, rounds: int) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    times, size = [], 0
    for _ in range(rounds):
        start = time.perf_counter()
        size = len(json.dumps(fn()))
        times.append(time.perf_counter() - start)
    return min(times), size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{'targets':>8} {'board ms':>9} {'board KiB':>10} {'checks ms':>10} {'ratio':>6}")
    for n in args.targets:
        config = loads(venue(n))
        live = LiveView(config.checks)
        now = time.time()
        for i, check in enumerate(config.checks):
            bad = i % 10 == 0
            outcome = Outcome(ok=not bad, error="timeout" if bad else None, detail="no answer" if bad else "ok")
            for k in range(3):
                live.update(check, Result(check.id, check.target.id, check.kind, now - 3 + k, 0.01, outcome))
        services = SimpleNamespace(config=lambda: config, live=live)   # what the board reads of web.Services
        stored = [{"id": i, "check": c.id, "acked_by": None, "source": "check", "severity": "critical"}
                  for i, c in enumerate(config.checks[::10])]
        b_s, b_size = best(lambda: board.snapshot(services, time.time(), stored), args.rounds)  # type: ignore[arg-type]
        c_s, _ = best(lambda: checks_listing(services, time.time()), args.rounds)
        print(f"{n:>8} {b_s * 1000:>9.1f} {b_size / 1024:>10.0f} {c_s * 1000:>10.1f} {b_s / c_s:>6.2f}")


if __name__ == "__main__":
    main()
