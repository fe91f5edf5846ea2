"""Approved web pages (defacement checks): the `baselines` table, one row per (target, url)."""

from __future__ import annotations

from typing import Any

from netwatch.store.db import Database, Tx

__all__ = ["BaselineRow", "BaselineRows"]

# (taken_at, approved_by, body (compressed), content_type, fingerprints JSON)
BaselineRow = tuple[float, str | None, bytes, str | None, str]


class BaselineRows:
    """Rows only; egov/baselines.py gives them meaning (compression, fingerprints)."""

    def __init__(self, db: "Database | Tx", readonly: bool = False) -> None:
        self.db: Database = db.db if isinstance(db, Tx) else db
        self.readonly = readonly

    def _missing(self) -> bool:
        # A read-only look at a store from before migration 0004.
        return self.readonly and not self.db.has_table("baselines")

    def get(self, target_id: str, url: str) -> BaselineRow | None:
        if self._missing():
            return None
        with self.db.read() as tx:
            row = tx.fetchone("SELECT taken_at, approved_by, body, content_type, fingerprints FROM baselines "
                              "WHERE target_id=? AND url=?", (target_id, url))
        if row is None:
            return None
        taken_at, approved_by, body, content_type, fingerprints = row
        return float(taken_at), approved_by, bytes(body), content_type, str(fingerprints)

    def put(self, target_id: str, url: str, row: BaselineRow) -> None:
        taken_at, approved_by, body, content_type, fingerprints = row
        with self.db.transaction() as tx:
            tx.execute("INSERT INTO baselines (target_id, url, taken_at, approved_by, body, content_type, "
                       "fingerprints) VALUES (?,?,?,?,?,?,?) ON CONFLICT (target_id, url) DO UPDATE SET "
                       "taken_at=excluded.taken_at, approved_by=excluded.approved_by, body=excluded.body, "
                       "content_type=excluded.content_type, fingerprints=excluded.fingerprints",
                       (target_id, url, taken_at, approved_by, body, content_type, fingerprints))

    def update_fingerprints(self, target_id: str, url: str, change: Any) -> None:
        """`change(old_json) -> new_json`, read and written in one transaction; nothing if there is no row."""
        with self.db.transaction() as tx:
            row = tx.fetchone("SELECT fingerprints FROM baselines WHERE target_id=? AND url=?", (target_id, url))
            if row is None:
                return
            tx.execute("UPDATE baselines SET fingerprints=? WHERE target_id=? AND url=?",
                       (change(str(row[0])), target_id, url))

    def delete(self, target_id: str, url: str) -> bool:
        with self.db.transaction() as tx:
            return tx.execute("DELETE FROM baselines WHERE target_id=? AND url=?", (target_id, url)).rowcount > 0

    def listing(self) -> list[tuple[str, str, float, str | None]]:
        if self._missing():
            return []
        with self.db.read() as tx:
            return [(str(t), str(u), float(ts), by) for t, u, ts, by in tx.fetchall(
                "SELECT target_id, url, taken_at, approved_by FROM baselines ORDER BY target_id, url")]

    def close(self) -> None:
        self.db.close()
