"""Maintenance windows added from the CLI: the `maintenance` table (config windows never touch it)."""

from __future__ import annotations

from dataclasses import dataclass

from netwatch.store.db import Database, Tx

__all__ = ["StoredWindow", "add_window", "active_windows", "cancel_window"]


@dataclass(frozen=True)
class StoredWindow:
    id: int
    start: str          # ISO 8601 with offset, as entered
    end: str
    repeat: str
    until: str | None
    targets: str        # JSON lists
    zones: str
    checks: str
    reason: str
    created_by: str


def add_window(tx: Tx, now: float, start: str, end: str, repeat: str, until: str | None, targets: str,
               zones: str, checks: str, reason: str, created_by: str) -> int:
    return tx.insert(
        'INSERT INTO maintenance (created_at, start, "end", repeat, until, targets, zones, checks, reason, '
        "created_by) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (now, start, end, repeat, until, targets, zones, checks, reason, created_by))


def active_windows(db: Database) -> list[StoredWindow]:
    """Windows not ended early, oldest first."""
    with db.read() as tx:
        rows = tx.fetchall('SELECT id, start, "end", repeat, until, targets, zones, checks, reason, created_by '
                           "FROM maintenance WHERE cancelled_at IS NULL ORDER BY id")
    return [StoredWindow(int(r[0]), *r[1:]) for r in rows]


def cancel_window(tx: Tx, window_id: int, now: float) -> bool:
    """End a window now; False when there is no such active window."""
    return tx.execute("UPDATE maintenance SET cancelled_at=? WHERE id=? AND cancelled_at IS NULL",
                      (now, window_id)).rowcount > 0
