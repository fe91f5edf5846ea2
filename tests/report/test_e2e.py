"""A real `netwatch run` against a loopback TCP server broken for a measured time, then `netwatch report`."""

from __future__ import annotations

import datetime as dt
import json
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from tests.support import REPO, NetwatchProcess, free_port, wait_for

INTERVAL_SECONDS = 0.3
SLACK_SECONDS = 0.35   # scheduling and the probe's own connect time on a busy machine

CONFIG = """
site: {{name: "Phòng thử nghiệm"}}
listen: "{{listen}}"
store: "{{store}}"
zones: [{{id: hall, name: "Hội trường"}}]
targets:
  - id: web
    host: 127.0.0.1
    zone: hall
    checks:
      - {{kind: tcp, port: {port}, interval: 300ms, timeout: 200ms, alert: {{fail_after: 2, recover_after: 2}}}}
"""


class Listener:
    """A TCP server on a fixed loopback port that accepts and closes; stop() makes connects refused."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        sock.settimeout(0.05)
        self.sock = sock
        self.thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self.thread.start()

    def _serve(self, sock: socket.socket) -> None:
        while self.sock is sock:
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.close()

    def stop(self) -> None:
        sock, self.sock = self.sock, None
        if self.thread is not None:
            self.thread.join(2)
        if sock is not None:
            sock.close()


def transitions(store: Path) -> list[tuple[float, float, str]]:
    if not store.exists():
        return []
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT ts, since, to_state FROM transitions WHERE check_id = 'web/tcp' "
                            "ORDER BY id").fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()


def test_report_shows_a_measured_outage(netwatch_process: Callable[..., NetwatchProcess], tmp_path: Path) -> None:
    port = free_port()
    server = Listener(port)
    server.start()
    store = tmp_path / "netwatch.db"
    try:
        proc = netwatch_process(CONFIG.format(port=port))
        began = time.time()
        wait_for(lambda: any(s == "up" for _, _, s in transitions(store)), 15, 0.1, "web/tcp up")
        server.stop()
        broke = time.time()
        wait_for(lambda: any(s == "down" for _, _, s in transitions(store)), 15, 0.1, "web/tcp down")
        remaining = 2.5 - (time.time() - broke)
        if remaining > 0:
            time.sleep(remaining)   # the outage lasts a known time: this is the stimulus, not a readiness wait
        server.start()
        fixed = time.time()
        wait_for(lambda: transitions(store)[-1][2] == "up" and transitions(store)[-1][1] >= fixed - 0.1, 15, 0.1,
                 "web/tcp up again")
        time.sleep(0.5)
    finally:
        server.stop()
    assert proc.stop() == 0
    ended = time.time()

    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "netwatch", "report", "-c", str(proc.config_path),
                           "--from", iso(began), "--to", iso(ended), "-o", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    [row] = report["checks"]
    assert row["check"] == "web/tcp" and row["zone"] == "hall"
    [outage] = row["outages"]
    start = dt.datetime.fromisoformat(outage["start"]).timestamp()
    end = dt.datetime.fromisoformat(outage["end"]).timestamp()
    assert broke - 0.05 <= start <= broke + INTERVAL_SECONDS + SLACK_SECONDS, (start - broke)
    assert fixed - 0.05 <= end <= fixed + INTERVAL_SECONDS + SLACK_SECONDS, (end - fixed)
    assert outage["error"] == "refused"
    assert abs(row["down_seconds"] - (fixed - broke)) <= INTERVAL_SECONDS + SLACK_SECONDS
    states = ("up", "degraded", "down", "unreachable", "maintenance", "unknown")
    assert round(sum(row[f"{s}_seconds"] for s in states), 3) == row["window_seconds"]
    assert row["unknown_seconds"] < 5   # only the start-up before the first result, and after the stop
    assert 0 < row["availability_ratio"] < 1
