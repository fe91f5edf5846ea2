"""What operators do, on record: the `audit` table, and the incident state an ack is told against."""

from __future__ import annotations

from typing import Any

from netwatch.store.db import Database, Tx

__all__ = ["record_audit", "audit_between", "incident_ack_state"]


def record_audit(tx: Tx, who: str, action: str, what: str, source: str, now: float) -> None:
    """One state-changing action, inside the caller's transaction (it commits with the change)."""
    tx.execute("INSERT INTO audit (ts, who, action, what, source) VALUES (?,?,?,?,?)",
               (now, who[:100], action[:50], what[:1000], source[:200]))


def audit_between(db: Database, start: float, end: float) -> list[tuple[float, str, str, str, str]]:
    """(ts, who, action, what, source) in [start, end), oldest first."""
    with db.read() as tx:
        return [(float(ts), str(who), str(a), str(w), str(s)) for ts, who, a, w, s in tx.fetchall(
            "SELECT ts, who, action, what, source FROM audit WHERE ts >= ? AND ts < ? ORDER BY ts, id",
            (start, end))]


def incident_ack_state(tx: Tx, incident_id: int) -> tuple[str, Any] | None:
    """(state, acked_by) of an incident, read in the ack's transaction to explain a refusal."""
    row = tx.fetchone("SELECT state, acked_by FROM incidents WHERE id=?", (incident_id,))
    return (str(row[0]), row[1]) if row is not None else None
