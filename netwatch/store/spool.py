"""A cluster node's local SQLite spool: results it probed while cut off from PostgreSQL, uploaded later as late.

Bounded by a row count (the oldest rows go first, counted); one file per node, opened only when
first needed, so a node that never loses the cluster database never creates it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Sequence

from netwatch.model import Outcome, Result

__all__ = ["Spool", "Spooled"]

Spooled = tuple[Result, "float | None"]   # a result and its latency (what the history's rollups take)

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY,
    check_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    ts REAL NOT NULL,
    duration_seconds REAL NOT NULL,
    ok INTEGER NOT NULL,
    degraded TEXT,
    error TEXT,
    latency_seconds REAL
);
"""


class Spool:
    """Thread-safe; every call is a short local transaction (call it from a worker thread)."""

    def __init__(self, path: str, max_rows: int) -> None:
        self.path = path
        self.max_rows = max_rows
        self.dropped_total = 0
        self.uploaded_total = 0
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            directory = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(directory, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(SCHEMA)
        return self._conn

    def add(self, rows: Sequence[Spooled]) -> None:
        if not rows:
            return
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT INTO spool (check_id, target_id, kind, ts, duration_seconds, ok, degraded, error, "
                    "latency_seconds) VALUES (?,?,?,?,?,?,?,?,?)",
                    [(r.check_id, r.target_id, r.kind, r.started_at, r.duration_seconds, int(r.outcome.ok),
                      r.outcome.degraded, r.outcome.error, lat) for r, lat in rows])
                count = int(db.execute("SELECT count(*) FROM spool").fetchone()[0])
                if count > self.max_rows:
                    drop = count - self.max_rows
                    db.execute("DELETE FROM spool WHERE id IN (SELECT id FROM spool ORDER BY id LIMIT ?)", (drop,))
                    self.dropped_total += drop
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def pending(self) -> int:
        with self._lock:
            if self._conn is None and not os.path.exists(self.path):
                return 0
            return int(self._db().execute("SELECT count(*) FROM spool").fetchone()[0])

    def take(self, limit: int) -> tuple[list[int], list[Spooled]]:
        """The oldest `limit` rows (ids to `done()` once they are stored upstream)."""
        with self._lock:
            if self._conn is None and not os.path.exists(self.path):
                return [], []
            rows = self._db().execute(
                "SELECT id, check_id, target_id, kind, ts, duration_seconds, ok, degraded, error, latency_seconds "
                "FROM spool ORDER BY id LIMIT ?", (limit,)).fetchall()
        ids = [int(r[0]) for r in rows]
        out = [(Result(c, t, k, ts, dur, Outcome(ok=bool(ok), error=err, degraded=deg)), lat)
               for _, c, t, k, ts, dur, ok, deg, err, lat in rows]
        return ids, out

    def done(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._lock:
            self._db().execute(f"DELETE FROM spool WHERE id IN ({','.join('?' * len(ids))})", list(ids))
            self.uploaded_total += len(ids)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
