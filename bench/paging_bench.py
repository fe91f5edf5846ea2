"""Paging: fault-to-sink latency (p50/p95 over N trials) and how a 500-target zone outage reaches each channel.

Run: python bench/paging_bench.py [--trials 20] [--zone-targets 500] [--window 60] [--store sqlite|postgresql]

Both parts run the real `netwatch run` process against loopback TCP targets and HTTP sinks
(apprise `json://` gateways served in this process). Part 1: every check has a 2 s interval,
1 s timeout and `fail_after: 2`; a target is broken (connection refused) at a random phase of its
schedule and the time until the SMS sink receives the page is taken; trials overlap, one break every
1.3 s, each target in its own zone. Part 2: 500 targets of one zone break at once; the messages each
channel (chat and SMS, default group_wait and rate limits) receives in the first `--window` seconds
are counted, with how many incidents they list. `--store postgresql` runs both on a private PostgreSQL 15
cluster (bench/benchstore.py; root) instead of a SQLite file.
"""

from __future__ import annotations

import argparse
import os
import random
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchstore import BenchStore  # noqa: E402
from tests.peers.sinks import HttpSink  # noqa: E402
from tests.support import NetwatchProcess, free_port, wait_for  # noqa: E402


class Listeners:
    """Many loopback TCP listeners served by one selector thread; close(i) makes port i refuse."""

    def __init__(self, n: int) -> None:
        self.sel = selectors.DefaultSelector()
        self.socks: list[socket.socket | None] = []
        self.ports: list[int] = []
        for _ in range(n):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            s.listen(128)
            s.setblocking(False)
            self.socks.append(s)
            self.ports.append(s.getsockname()[1])
        self.lock = threading.Lock()
        for s in self.socks:
            assert s is not None
            self.sel.register(s, selectors.EVENT_READ)
        self.running = True
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.running:
            with self.lock:
                events = self.sel.select(0.05)
                for key, _ in events:
                    try:
                        conn, _ = key.fileobj.accept()  # type: ignore[union-attr]
                        conn.close()
                    except OSError:
                        pass

    def close(self, i: int) -> None:
        with self.lock:
            s = self.socks[i]
            if s is not None:
                self.sel.unregister(s)
                s.close()
                self.socks[i] = None

    def stop(self) -> None:
        self.running = False
        for i in range(len(self.socks)):
            self.close(i)


def config_text(store: str, listen: str, ports: list[int], zones: list[str], channels: dict[str, str]) -> str:
    zone_ids = sorted(set(zones))
    lines = [f'listen: "{listen}"', f"store: {store}", "zones:"]
    lines += [f"  - {{id: {z}}}" for z in zone_ids]
    lines.append("channels:")
    lines += [f"  {name}: {{{spec}}}" for name, spec in channels.items()]
    lines += ["defaults:", "  interval: 2s", "  timeout: 1s", "  alert: {fail_after: 2, recover_after: 1}",
              "targets:"]
    for i, (port, zone) in enumerate(zip(ports, zones)):
        lines.append(f"  - {{id: t{i}, host: 127.0.0.1, zone: {zone}, checks: [{{kind: tcp, port: {port}}}]}}")
    return "\n".join(lines) + "\n"


def start(tmp: Path, text: str) -> NetwatchProcess:
    path = tmp / "venue.yaml"
    listen = f"127.0.0.1:{free_port()}"
    path.write_text(text.replace("{listen}", listen))
    proc = NetwatchProcess(path, listen, tmp, {"NETWATCH_LANG": "en"})
    proc.wait_ready(30)
    return proc


def latency(trials: int, store_kind: str) -> list[float]:
    sms = HttpSink().start()
    targets = Listeners(trials)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        store = BenchStore(store_kind, tmp)
        channels = {"sms": f'urls: ["{sms.url()}"], sms: {{strip_diacritics: true}}, rate_per_minute: 60, burst: 10'}
        nw = start(tmp, config_text(store.yaml, "{listen}", targets.ports, [f"z{i}" for i in range(trials)],
                                    channels))
        try:
            time.sleep(5)                       # every check up first
            broken: dict[int, float] = {}
            for i in range(trials):
                time.sleep(random.uniform(0.8, 1.8))
                targets.close(i)
                broken[i] = time.time()
            got: dict[int, float] = {}

            def all_paged() -> bool:
                for r in sms.received:
                    for i in broken:
                        # by the dedup key (nw-<check>-<start ms>-problem): the text is in the site's language
                        if i not in got and f"nw-t{i}/tcp-" in str(r.body.get("dedup_key", "")):
                            got[i] = r.at
                return len(got) == trials

            wait_for(all_paged, 30, 0.05, "every page")
            return [got[i] - broken[i] for i in range(trials)]
        finally:
            nw.stop()
            targets.stop()
            sms.stop()
            store.close()


def zone_outage(n: int, window_seconds: float, store_kind: str) -> dict[str, tuple[int, int]]:
    chat, sms = HttpSink().start(), HttpSink().start()
    targets = Listeners(n)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        store = BenchStore(store_kind, tmp)
        channels = {"chat": f'urls: ["{chat.url("/chat")}"], lang: en',
                    "sms": f'urls: ["{sms.url("/sms")}"], sms: {{strip_diacritics: true, max_segments: 2}}'}
        nw = start(tmp, config_text(store.yaml, "{listen}", targets.ports, ["hall"] * n, channels))
        try:
            time.sleep(6)
            t0 = time.time()
            for i in range(n):
                targets.close(i)
            time.sleep(window_seconds)
            out = {}
            for name, sink in (("chat", chat), ("sms", sms)):
                first = [r for r in sink.received if r.at - t0 <= window_seconds]
                (delivered,), = store.query("SELECT COUNT(*) FROM outbox WHERE channel=? AND state='sent' "
                                            "AND sent_at <= ?", (name, t0 + window_seconds))
                out[name] = (len(first), int(delivered))
            return out
        finally:
            nw.stop()
            targets.stop()
            chat.stop()
            sms.stop()
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--zone-targets", type=int, default=500)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    print(f"store: {args.store}; load average {os.getloadavg()[0]:.1f} at the start")
    lat = sorted(latency(args.trials, args.store))
    p95 = lat[max(0, int(round(0.95 * len(lat))) - 1)]
    print(f"fault-to-SMS-sink latency over {len(lat)} trials (2 s interval, 1 s timeout, fail_after 2):")
    print(f"  min {lat[0]:.2f} s  p50 {statistics.median(lat):.2f} s  p95 {p95:.2f} s  max {lat[-1]:.2f} s"
          f"  (target p95 <= 6 s: {'ok' if p95 <= 6 else 'MISSED'})")
    result = zone_outage(args.zone_targets, args.window, args.store)
    print(f"{args.zone_targets}-target zone outage, first {args.window:g} s:")
    for name, (messages, listed) in result.items():
        print(f"  {name}: {messages} messages carrying {listed} of {args.zone_targets} notices"
              f"  (target <= 5 messages: {'ok' if messages <= 5 else 'MISSED'})")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
