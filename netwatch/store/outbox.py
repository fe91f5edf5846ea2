"""The outbox table: notices written with their decision, read and marked by the delivery loop.

Every function takes an open connection or transaction (`c`), so a caller decides what commits
together. Portable SQL only (`?` placeholders, RETURNING), so it runs on every back end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

# Kinds that tell a channel about a problem (as opposed to follow-ups such as resolved or ack).
PAGE_KINDS = ("problem", "escalation", "reminder", "settled", "flapping")


class Cursor(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Conn(Protocol):
    """What these functions need of a connection or transaction (sqlite3.Connection has it)."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...
    def executemany(self, sql: str, params: Any, /) -> Any: ...


@dataclass
class Row:
    id: int
    incident_id: int | None
    channel: str
    kind: str
    created_at: float
    due_at: float
    attempts: int
    sent_via: str
    dedup_key: str
    facts: dict[str, Any]


def enqueue(c: Conn, incident_id: int | None, channel: str, kind: str, facts: Mapping[str, Any],
            now: float, dedup_key: str, due_at: float | None = None) -> int:
    row = c.execute(
        "INSERT INTO outbox (incident_id, channel, kind, created_at, due_at, dedup_key, facts) VALUES (?,?,?,?,?,?,?) "
        "RETURNING id",
        (incident_id, channel, kind, now, now if due_at is None else due_at, dedup_key,
         json.dumps(dict(facts), ensure_ascii=False, default=str))).fetchone()
    return int(row[0])


def pending_summary(c: Conn) -> dict[str, tuple[int, float, float]]:
    """channel -> (rows waiting, oldest created_at, earliest due_at)."""
    rows = c.execute("SELECT channel, COUNT(*), MIN(created_at), MIN(due_at) FROM outbox WHERE state='pending' "
                     "GROUP BY channel").fetchall()
    return {r[0]: (int(r[1]), float(r[2]), float(r[3])) for r in rows}


def pending(c: Conn, channel: str, limit: int) -> list[Row]:
    rows = c.execute(
        "SELECT id, incident_id, channel, kind, created_at, due_at, attempts, COALESCE(sent_via, ''), "
        "dedup_key, facts FROM outbox WHERE state='pending' AND channel=? ORDER BY id LIMIT ?",
        (channel, limit)).fetchall()
    return [Row(*r[:9], json.loads(r[9])) for r in rows]


def finish(c: Conn, batch: Sequence[Row], state: str, error: str | None, now: float) -> None:
    c.executemany("UPDATE outbox SET state=?, sent_at=?, attempts=attempts+1, last_error=COALESCE(?, last_error) "
                  "WHERE id=?", [(state, now, error, r.id) for r in batch])


def retry_later(c: Conn, batch: Sequence[Row], due_at: float, error: str, via: str) -> None:
    c.executemany("UPDATE outbox SET attempts=attempts+1, due_at=?, last_error=?, sent_via=? WHERE id=?",
                  [(due_at, error, via, r.id) for r in batch])


def give_up(c: Conn, batch: Sequence[Row], state: str, error: str) -> None:
    """Mark rows `failed` (refused for good) or `rerouted` (handed to the fallback channel)."""
    c.executemany("UPDATE outbox SET state=?, attempts=attempts+1, last_error=? WHERE id=?",
                  [(state, error, r.id) for r in batch])


def broken_notice_since(c: Conn, channel: str, since: float) -> bool:
    """Whether a 'channel broken' notice about `channel` was queued after `since`."""
    return c.execute("SELECT 1 FROM outbox WHERE kind='channel_broken' AND dedup_key LIKE ? AND created_at > ? "
                     "LIMIT 1", (f"broken-{channel}-%", since)).fetchone() is not None


def told(c: Conn, incident_id: int) -> list[str]:
    """Channels that were (or are being) told about an incident, in the order first told."""
    rows = c.execute("SELECT channel FROM outbox WHERE incident_id=? AND kind IN (%s) AND state != 'failed' "
                     "ORDER BY id" % ",".join("?" * len(PAGE_KINDS)), (incident_id, *PAGE_KINDS)).fetchall()
    return list(dict.fromkeys(r[0] for r in rows))


def first_facts(c: Conn, incident_id: int) -> dict[str, Any] | None:
    row = c.execute("SELECT facts FROM outbox WHERE incident_id=? ORDER BY id LIMIT 1", (incident_id,)).fetchone()
    return dict(json.loads(row[0])) if row else None


def sent(c: Conn, incident_id: int) -> list[dict[str, Any]]:
    return [{"channel": ch, "kind": k, "sent_at": s} for ch, k, s in c.execute(
        "SELECT channel, kind, sent_at FROM outbox WHERE incident_id=? AND state='sent' ORDER BY id",
        (incident_id,)).fetchall()]


def data_version(c: Conn) -> int:
    """A number that changes when another connection (another process: `netwatch ack`) committed.

    SQLite's PRAGMA data_version; commits on this same connection do not change it.
    """
    return int(c.execute("PRAGMA data_version").fetchone()[0])
