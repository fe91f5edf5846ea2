"""Incidents in the store: open, resolve, acknowledge; each writes its outbox rows in the same transaction."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from netwatch.alerting.operators import audit
from netwatch.notify.outbox import PAGE_KINDS, enqueue

OPEN_STATES = ("open", "acked")


@dataclass(frozen=True)
class NewIncident:
    key_prefix: str
    source: str                       # check | alertmanager
    severity: str
    category: str
    title: str
    facts: Mapping[str, Any]          # what the templates need (check, target, zone, since, error, ...)
    channels: Sequence[str]
    check_id: str | None = None
    target_id: str | None = None
    zone: str = ""
    since: float = 0.0
    dependants: int = 0
    next_escalation_at: float | None = None
    next_remind_at: float | None = None
    transition_id: int | None = None
    key: str | None = None            # a fixed key (Alertmanager fingerprint) instead of prefix-id
    kind: str = "problem"
    extra: Mapping[str, Any] = field(default_factory=dict)


def open_incident(conn: sqlite3.Connection, new: NewIncident, now: float) -> int:
    f = new.facts
    cur = conn.execute(
        "INSERT INTO incidents (key, source, check_id, target_id, zone, severity, category, state, title, error, "
        "detail, since, opened_at, dependants, notify, next_escalation_at, next_remind_at, transition_id) "
        "VALUES (?,?,?,?,?,?,?,'open',?,?,?,?,?,?,?,?,?,?)",
        (new.key or "", new.source, new.check_id, new.target_id, new.zone, new.severity, new.category,
         new.title[:300], f.get("error"), str(f.get("detail") or "")[:2000], new.since, now, new.dependants,
         json.dumps(list(new.channels)), new.next_escalation_at, new.next_remind_at, new.transition_id))
    iid = int(cur.lastrowid or 0)
    key = new.key or f"{new.key_prefix}-{iid}"
    conn.execute("UPDATE incidents SET key=? WHERE id=?", (key, iid))
    facts = {**f, "kind": new.kind, "incident": iid, "severity": new.severity, "category": new.category,
             "told": list(dict.fromkeys(new.channels))}   # "who else was told", in every follow-up too
    for channel in dict.fromkeys(new.channels):
        enqueue(conn, iid, channel, new.kind, facts, now, f"{key}-{new.kind}")
    return iid


def get(conn: sqlite3.Connection, incident_id: int) -> dict[str, Any] | None:
    """One incident with the facts of its first notice (the acknowledgement page shows them)."""
    row = conn.execute("SELECT id, state, acked_by, acked_at, resolved_at FROM incidents WHERE id=?",
                       (incident_id,)).fetchone()
    if row is None:
        return None
    return {**dict(zip(("id", "state", "acked_by", "acked_at", "resolved_at"), row)),
            "facts": first_facts(conn, incident_id)}


def find_open(conn: sqlite3.Connection, *, check_id: str | None = None, key: str | None = None
              ) -> tuple[int, str, str] | None:
    """(id, severity, state) of the open incident of a check or with a key."""
    if check_id is not None:
        row = conn.execute("SELECT id, severity, state FROM incidents WHERE source='check' AND check_id=? "
                           "AND state IN ('open','acked') ORDER BY id DESC LIMIT 1", (check_id,)).fetchone()
    else:
        row = conn.execute("SELECT id, severity, state FROM incidents WHERE key=? AND state IN ('open','acked') "
                           "ORDER BY id DESC LIMIT 1", (key,)).fetchone()
    return (int(row[0]), str(row[1]), str(row[2])) if row else None


def told(conn: sqlite3.Connection, incident_id: int) -> list[str]:
    """Channels that were (or are being) told about an incident, in the order first told."""
    rows = conn.execute("SELECT channel FROM outbox WHERE incident_id=? AND kind IN (%s) AND state != 'failed' "
                        "ORDER BY id" % ",".join("?" * len(PAGE_KINDS)), (incident_id, *PAGE_KINDS)).fetchall()
    return list(dict.fromkeys(r[0] for r in rows))


def first_facts(conn: sqlite3.Connection, incident_id: int) -> dict[str, Any]:
    row = conn.execute("SELECT facts FROM outbox WHERE incident_id=? ORDER BY id LIMIT 1", (incident_id,)).fetchone()
    if row:
        return dict(json.loads(row[0]))
    inc = conn.execute("SELECT check_id, target_id, zone, title, since, severity, category FROM incidents WHERE id=?",
                       (incident_id,)).fetchone()
    if not inc:
        return {}
    return {"incident": incident_id, "check": inc[0], "target": inc[1], "zone": inc[2], "title": inc[3],
            "since": inc[4], "severity": inc[5], "category": inc[6]}


def notify_told(conn: sqlite3.Connection, incident_id: int, kind: str, now: float, extra: Mapping[str, Any],
                channels: Sequence[str] | None = None) -> int:
    """Send a follow-up (resolved, reminder, ack, settled) to the channels told about the incident."""
    key = conn.execute("SELECT key FROM incidents WHERE id=?", (incident_id,)).fetchone()
    if key is None:
        return 0
    facts = {**first_facts(conn, incident_id), **extra, "kind": kind, "incident": incident_id}
    targets = list(channels) if channels is not None else told(conn, incident_id)
    for channel in targets:
        enqueue(conn, incident_id, channel, kind, facts, now, f"{key[0]}-{kind}-{int(now)}" if kind in
                ("reminder", "escalation") else f"{key[0]}-{kind}")
    return len(targets)


def resolve(conn: sqlite3.Connection, incident_id: int, now: float, notify: bool = True) -> None:
    conn.execute("UPDATE incidents SET state='resolved', resolved_at=?, next_escalation_at=NULL, "
                 "next_remind_at=NULL WHERE id=? AND state IN ('open','acked')", (now, incident_id))
    if notify:
        notify_told(conn, incident_id, "resolved", now, {"resolved_at": now, "state": "up"})


def ack(conn: sqlite3.Connection, incident_id: int, who: str, note: str, source: str, now: float) -> str | None:
    """Acknowledge: stops escalation and reminders, tells the channels, writes the audit log.

    Returns an error text, or None when done.
    """
    row = conn.execute("SELECT state, acked_by FROM incidents WHERE id=?", (incident_id,)).fetchone()
    if row is None:
        return f"no incident #{incident_id}"
    state, acked_by = row
    if state == "acked":
        return f"incident #{incident_id} is already acknowledged by {acked_by}"
    conn.execute("UPDATE incidents SET state=CASE WHEN state='open' THEN 'acked' ELSE state END, acked_at=?, "
                 "acked_by=?, ack_note=?, next_escalation_at=NULL, next_remind_at=NULL WHERE id=?",
                 (now, who, note[:500], incident_id))
    audit(conn, who, "ack", f"incident #{incident_id}" + (f": {note[:200]}" if note else ""), source, now)
    if state == "open":
        notify_told(conn, incident_id, "ack", now, {"acked_by": who, "note": note[:200], "acked_at": now})
    return None


def list_incidents(conn: sqlite3.Connection, states: Sequence[str] = OPEN_STATES, limit: int = 100
                   ) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT id, key, source, check_id, target_id, zone, severity, category, state, title, error, since, "
        "opened_at, resolved_at, acked_at, acked_by, ack_note, level, dependants FROM incidents WHERE state IN (%s) "
        "ORDER BY id DESC LIMIT ?" % ",".join("?" * len(states)), (*states, limit)).fetchall()
    names = ["id", "key", "source", "check", "target", "zone", "severity", "category", "state", "title", "error",
             "since", "opened_at", "resolved_at", "acked_at", "acked_by", "ack_note", "level", "dependants"]
    out = [dict(zip(names, r)) for r in rows]
    for inc in out:
        inc["told"] = [{"channel": c, "kind": k, "sent_at": s} for c, k, s in conn.execute(
            "SELECT channel, kind, sent_at FROM outbox WHERE incident_id=? AND state='sent' ORDER BY id", (inc["id"],))]
    return out
