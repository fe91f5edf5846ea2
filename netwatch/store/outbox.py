"""The outbox table: notices written with their decision, read and marked by the delivery loop.

Every function takes a `Tx` (`c`): inside `Database.transaction()` for writes, so a caller decides
what commits together, or `Database.read()` for reads. Portable SQL only, for both back ends.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from netwatch.store.db import Tx

__all__ = ["PAGE_KINDS", "Row", "Tx", "page_key", "enqueue", "pending_summary", "pending", "finish", "set_dedup_key", "retry_later", "give_up",
           "broken_notice_since", "told", "first_facts", "sent"]

# Kinds that tell a channel about a problem (as opposed to follow-ups such as resolved or ack).
PAGE_KINDS = ("problem", "escalation", "reminder", "settled", "flapping")


def page_key(origin: str, since: float, kind: str) -> str:
    """The dedup key of an incident's notice: `<origin>-<start in ms>-<kind>`, origin `nw-<check id>` or
    `am-<Alertmanager fingerprint>`.

    Known from the decision alone, before the incident row (and its id) exists: a page sent from memory while
    the store is stalled carries the very key its outbox row gets when the store is back, so a gateway or
    Alertmanager that saw the first copy drops a repeat. A new outage of the same check (or a re-fired alert)
    starts later, so it gets a new key.
    """
    return f"{origin}-{round(since * 1000)}-{kind}"


def check_origin(check_id: str) -> str:
    return f"nw-{check_id}"


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


def enqueue(c: Tx, incident_id: int | None, channel: str, kind: str, facts: Mapping[str, Any],
            now: float, dedup_key: str, due_at: float | None = None) -> int:
    return c.insert(
        "INSERT INTO outbox (incident_id, channel, kind, created_at, due_at, dedup_key, facts) VALUES (?,?,?,?,?,?,?)",
        (incident_id, channel, kind, now, now if due_at is None else due_at, dedup_key,
         json.dumps(dict(facts), ensure_ascii=False, default=str)))


def claim_reboot(c: Tx, target_id: str, booted_at: float, same_seconds: float, now: float) -> bool:
    """Inside the transaction that pages a reboot: True when no earlier page (any node, any process) claimed
    a reboot of the target within `same_seconds` of this one; then this one is claimed.

    The moment claims one cell on each of two grids of width 2 * `same_seconds`, the second offset by half a
    cell: two moments closer than `same_seconds` share a cell on at least one grid (a stretch that short holds
    at most one cell edge of the two grids together), and moments 2 * `same_seconds` apart or more share none.
    The primary key decides: a concurrent claim of the same cell waits for the other transaction and then
    finds it (no read-then-insert). A half-made claim (one cell free, the other taken) is undone.
    """
    width = 2.0 * same_seconds
    cells = ((0, math.floor(booted_at / width)), (1, math.floor(booted_at / width + 0.5)))
    c.execute("SAVEPOINT reboot_claim")
    claimed = 0
    for grid, cell in cells:    # always grid 0 first: two claims never wait for each other in a cycle
        claimed += c.execute("INSERT INTO reboots_paged (target_id, grid, cell, booted_at, paged_at) "
                             "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                             (target_id, grid, cell, booted_at, now)).rowcount
    if claimed < len(cells):
        c.execute("ROLLBACK TO SAVEPOINT reboot_claim")
    c.execute("RELEASE SAVEPOINT reboot_claim")
    return claimed == len(cells)


def pending_summary(c: Tx) -> dict[str, tuple[int, float, float]]:
    """channel -> (rows waiting, oldest created_at, earliest due_at)."""
    rows = c.execute("SELECT channel, COUNT(*), MIN(created_at), MIN(due_at) FROM outbox WHERE state='pending' "
                     "GROUP BY channel").fetchall()
    return {r[0]: (int(r[1]), float(r[2]), float(r[3])) for r in rows}


def pending(c: Tx, channel: str, limit: int) -> list[Row]:
    rows = c.execute(
        "SELECT id, incident_id, channel, kind, created_at, due_at, attempts, COALESCE(sent_via, ''), "
        "dedup_key, facts FROM outbox WHERE state='pending' AND channel=? ORDER BY id LIMIT ?",
        (channel, limit)).fetchall()
    return [Row(*r[:9], json.loads(r[9])) for r in rows]


def finish(c: Tx, batch: Sequence[Row], state: str, error: str | None, now: float) -> None:
    c.executemany("UPDATE outbox SET state=?, sent_at=?, attempts=attempts+1, last_error=COALESCE(?, last_error) "
                  "WHERE id=?", [(state, now, error, r.id) for r in batch])


def set_dedup_key(c: Tx, row_id: int, dedup_key: str) -> None:
    """A row that repeats a page an earlier process sent from memory takes that page's key (at-least-once)."""
    c.execute("UPDATE outbox SET dedup_key=? WHERE id=?", (dedup_key, row_id))


def retry_later(c: Tx, batch: Sequence[Row], due_at: float, error: str, via: str) -> None:
    c.executemany("UPDATE outbox SET attempts=attempts+1, due_at=?, last_error=?, sent_via=? WHERE id=?",
                  [(due_at, error, via, r.id) for r in batch])


def give_up(c: Tx, batch: Sequence[Row], state: str, error: str) -> None:
    """Mark rows `failed` (refused for good) or `rerouted` (handed to the fallback channel)."""
    c.executemany("UPDATE outbox SET state=?, attempts=attempts+1, last_error=? WHERE id=?",
                  [(state, error, r.id) for r in batch])


def broken_notice_since(c: Tx, channel: str, since: float) -> bool:
    """Whether a 'channel broken' notice about `channel` was queued after `since`."""
    return c.execute("SELECT 1 FROM outbox WHERE kind='channel_broken' AND dedup_key LIKE ? AND created_at > ? "
                     "LIMIT 1", (f"broken-{channel}-%", since)).fetchone() is not None


def told(c: Tx, incident_id: int) -> list[str]:
    """Channels that were (or are being) told about an incident, in the order first told."""
    rows = c.execute("SELECT channel FROM outbox WHERE incident_id=? AND kind IN (%s) AND state != 'failed' "
                     "ORDER BY id" % ",".join("?" * len(PAGE_KINDS)), (incident_id, *PAGE_KINDS)).fetchall()
    return list(dict.fromkeys(r[0] for r in rows))


def first_facts(c: Tx, incident_id: int) -> dict[str, Any] | None:
    row = c.execute("SELECT facts FROM outbox WHERE incident_id=? ORDER BY id LIMIT 1", (incident_id,)).fetchone()
    return dict(json.loads(row[0])) if row else None


def sent(c: Tx, incident_id: int) -> list[dict[str, Any]]:
    return [{"channel": ch, "kind": k, "sent_at": s} for ch, k, s in c.execute(
        "SELECT channel, kind, sent_at FROM outbox WHERE incident_id=? AND state='sent' ORDER BY id",
        (incident_id,)).fetchall()]

