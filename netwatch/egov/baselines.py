"""Approved page baselines in the history store, handed to web_integrity probes in their ProbeContext.

The daemon hands a writable `Baselines.of_store(store, ...)`; `netwatch probe` a read-only one
(`open_readonly(path)`) so a one-off run compares with the daemon's baselines without writing. With
none a web_integrity check still applies its forbidden/required rules and says it has no baseline.

A baseline keeps the page as fetched (compressed) next to its fingerprint, so changing a check's
include/ignore selectors recomputes the fingerprint from the approved page instead of silently
approving whatever the site shows now.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from netwatch.egov.fingerprint import Fingerprint

__all__ = ["Baseline", "Baselines"]

MAX_STORED_BODY_BYTES = 8 << 20


@dataclass(frozen=True)
class Baseline:
    target_id: str
    url: str
    taken_at: float
    approved_by: str
    body: bytes
    content_type: str | None
    fingerprints: dict[str, Fingerprint]   # by Profile.digest()


class Baselines:
    """Reads and writes the `baselines` table. Thread-safe; call from worker threads, not the loop."""

    def __init__(self, conn: sqlite3.Connection, lock: threading.RLock | threading.Lock, writable: bool,
                 phase_at: Callable[[float], Any] | None = None) -> None:
        self.conn = conn
        self.lock = lock
        self.writable = writable
        self._phase_at = phase_at
        # Digest of the last defacement reported per (target, "url profile"): one history event per
        # distinct change, not one per probe run while it lasts.
        self.reported: dict[tuple[str, str], str] = {}

    @staticmethod
    def of_store(store: Any, phase_at: Callable[[float], Any] | None = None) -> "Baselines":
        """Share the daemon's Store connection and lock (`phase_at(ts)` returns the event phase)."""
        return Baselines(store.conn, store.lock, True, phase_at)

    @staticmethod
    def open_readonly(path: str) -> "Baselines | None":
        if not os.path.exists(path):
            return None
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=5)
        except sqlite3.Error:
            return None
        return Baselines(conn, threading.RLock(), False)

    def phase_at(self, ts: float) -> Any:
        return self._phase_at(ts) if self._phase_at is not None else None

    def get(self, target_id: str, url: str) -> Baseline | None:
        try:
            with self.lock:
                row = self.conn.execute(
                    "SELECT taken_at, approved_by, body, content_type, fingerprints FROM baselines "
                    "WHERE target_id=? AND url=?", (target_id, url)).fetchone()
        except sqlite3.OperationalError:  # a store from before migration 0004 (read-only use)
            return None
        if row is None:
            return None
        taken_at, approved_by, body, content_type, fingerprints = row
        return Baseline(target_id, url, float(taken_at), str(approved_by or ""), zlib.decompress(body),
                        content_type, {k: Fingerprint.from_json(v) for k, v in json.loads(fingerprints).items()})

    def put(self, target_id: str, url: str, body: bytes, content_type: str | None,
            fingerprints: dict[str, Fingerprint], taken_at: float, approved_by: str) -> None:
        if not self.writable:
            raise PermissionError("baselines are read-only here")
        row = (target_id, url, taken_at, approved_by, zlib.compress(body[:MAX_STORED_BODY_BYTES], 6),
               content_type, json.dumps({k: v.to_json() for k, v in fingerprints.items()}, ensure_ascii=False))
        with self.lock:
            self.conn.execute("INSERT OR REPLACE INTO baselines (target_id, url, taken_at, approved_by, body, "
                              "content_type, fingerprints) VALUES (?,?,?,?,?,?,?)", row)
        for key in [k for k in self.reported if k[0] == target_id and k[1].split(" ", 1)[0] == url]:
            self.reported.pop(key, None)

    def add_fingerprint(self, target_id: str, url: str, profile: str, fp: Fingerprint) -> None:
        """Remember a fingerprint recomputed for another profile (no-op when read-only)."""
        if not self.writable:
            return
        with self.lock:
            row = self.conn.execute("SELECT fingerprints FROM baselines WHERE target_id=? AND url=?",
                                    (target_id, url)).fetchone()
            if row is None:
                return
            data = json.loads(row[0])
            data[profile] = fp.to_json()
            self.conn.execute("UPDATE baselines SET fingerprints=? WHERE target_id=? AND url=?",
                              (json.dumps(data, ensure_ascii=False), target_id, url))

    def delete(self, target_id: str, url: str) -> bool:
        if not self.writable:
            raise PermissionError("baselines are read-only here")
        with self.lock:
            n = self.conn.execute("DELETE FROM baselines WHERE target_id=? AND url=?", (target_id, url)).rowcount
        return n > 0

    def listing(self) -> Iterator[tuple[str, str, float, str]]:
        """(target_id, url, taken_at, approved_by) of every baseline."""
        try:
            with self.lock:
                rows = self.conn.execute(
                    "SELECT target_id, url, taken_at, approved_by FROM baselines ORDER BY target_id, url").fetchall()
        except sqlite3.OperationalError:
            return iter(())
        return iter([(t, u, float(ts), str(by or "")) for t, u, ts, by in rows])
