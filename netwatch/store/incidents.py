"""Incidents and held pages in the store: open, resolve, acknowledge, follow-ups; outbox rows in the same transaction.

Every function takes a `Tx` (`c`), inside `Database.transaction()` for writes: the caller decides what
commits together — a transition, its incident and its outbox rows commit as one. Portable SQL only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from netwatch.model import State, Transition
from netwatch.store.db import Tx
from netwatch.store.operators import record_audit
from netwatch.store.outbox import check_origin, enqueue, page_key, sent, told
from netwatch.store.outbox import first_facts as first_outbox_facts

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


@dataclass(frozen=True)
class Due:
    """An open incident whose escalation or reminder time has come."""

    id: int
    check_id: str | None
    severity: str
    level: int
    next_escalation_at: float | None
    next_remind_at: float | None
    opened_at: float


@dataclass(frozen=True)
class Member:
    """A check folded into an incident: how it came in (named, grouped, joined), its state, when it recovered."""

    check_id: str
    how: str
    joined_at: float
    state: str
    category: str
    error: str | None
    detail: str
    recovered_at: float | None
    position: int = 0


@dataclass(frozen=True)
class TargetFault:
    """The open incident of a target's checks, with its members."""

    id: int
    check_id: str
    severity: str
    category: str
    opened_at: float
    members: tuple[Member, ...]


@dataclass(frozen=True)
class HeldPage:
    """A page held back while a parent is suspect: its DOWN transition is stored, its incident not yet."""

    check_id: str
    transition_id: int
    transition: Transition
    deadline: float
    flapping: bool


def open_incident(c: Tx, new: NewIncident, now: float) -> int:
    f = new.facts
    iid = c.insert(
        "INSERT INTO incidents (key, source, check_id, target_id, zone, severity, category, state, title, error, "
        "detail, since, opened_at, dependants, notify, next_escalation_at, next_remind_at, transition_id) "
        "VALUES (?,?,?,?,?,?,?,'open',?,?,?,?,?,?,?,?,?,?)",
        (new.key or "", new.source, new.check_id, new.target_id, new.zone, new.severity, new.category,
         new.title[:300], f.get("error"), str(f.get("detail") or "")[:2000], new.since, now, new.dependants,
         json.dumps(list(new.channels)), new.next_escalation_at, new.next_remind_at, new.transition_id))
    key = new.key or f"{new.key_prefix}-{iid}"
    c.execute("UPDATE incidents SET key=? WHERE id=?", (key, iid))
    if new.source == "check" and new.check_id:
        set_member(c, iid, Member(new.check_id, "named", now, str(f.get("state") or "down"), new.category,
                                  f.get("error"), str(f.get("detail") or ""), None, int(f.get("position") or 0)))
    facts = {**f, "kind": new.kind, "incident": iid, "severity": new.severity, "category": new.category,
             "told": list(dict.fromkeys(new.channels))}   # "who else was told", in every follow-up too
    origin = _origin(new.source, key, new.check_id)
    for channel in dict.fromkeys(new.channels):
        enqueue(c, iid, channel, new.kind, facts, now, page_key(origin, new.since, new.kind))
    return iid


def _origin(source: str, key: str, check_id: str | None) -> str:
    """What an incident's dedup keys start with: its check (known before the incident row exists), else its key."""
    return check_origin(check_id) if source == "check" and check_id is not None else key


def find_open(c: Tx, *, check_id: str | None = None, key: str | None = None) -> tuple[int, str, str] | None:
    """(id, severity, state) of the open incident of a check (the one it names or a failing member of) or with a key."""
    if check_id is not None:
        row = c.execute("SELECT id, severity, state FROM incidents WHERE source='check' AND state IN ('open','acked') "
                        "AND (check_id=? OR id IN (SELECT incident_id FROM incident_checks WHERE check_id=? "
                        "AND recovered_at IS NULL)) ORDER BY id DESC LIMIT 1", (check_id, check_id)).fetchone()
    else:
        row = c.execute("SELECT id, severity, state FROM incidents WHERE key=? AND state IN ('open','acked') "
                        "ORDER BY id DESC LIMIT 1", (key,)).fetchone()
    return (int(row[0]), str(row[1]), str(row[2])) if row else None


def open_fault(c: Tx, target_id: str) -> TargetFault | None:
    """The open (or acknowledged) check incident of a target, with its members."""
    row = c.execute("SELECT id, check_id, severity, category, opened_at FROM incidents WHERE source='check' "
                    "AND target_id=? AND state IN ('open','acked') ORDER BY id LIMIT 1", (target_id,)).fetchone()
    if row is None:
        return None
    return TargetFault(int(row[0]), str(row[1] or ""), str(row[2]), str(row[3]), float(row[4]),
                       tuple(members(c, int(row[0]))))


def members(c: Tx, incident_id: int) -> list[Member]:
    rows = c.execute("SELECT check_id, how, joined_at, state, category, error, detail, recovered_at, position "
                     "FROM incident_checks WHERE incident_id=? "
                     "ORDER BY CASE WHEN how='named' THEN 0 ELSE 1 END, joined_at, check_id", (incident_id,)).fetchall()
    return [Member(str(r[0]), str(r[1]), float(r[2]), str(r[3]), str(r[4]), r[5], str(r[6] or ""),
                   float(r[7]) if r[7] is not None else None, int(r[8])) for r in rows]


def set_member(c: Tx, incident_id: int, m: Member) -> None:
    """Add a check to an incident, or record its new state (a member failing again is failing from now)."""
    values = (m.how, m.joined_at, m.state, m.category, m.error, m.detail[:2000], m.recovered_at, m.position)
    done = c.execute("UPDATE incident_checks SET how=?, joined_at=?, state=?, category=?, error=?, detail=?, "
                     "recovered_at=?, position=? WHERE incident_id=? AND check_id=?",
                     (*values, incident_id, m.check_id))
    if not done.rowcount:
        c.execute("INSERT INTO incident_checks (how, joined_at, state, category, error, detail, recovered_at, "
                  "position, incident_id, check_id) VALUES (?,?,?,?,?,?,?,?,?,?)", (*values, incident_id, m.check_id))


def member_recovered(c: Tx, incident_id: int, check_id: str, now: float) -> None:
    c.execute("UPDATE incident_checks SET recovered_at=? WHERE incident_id=? AND check_id=? AND recovered_at IS NULL",
              (now, incident_id, check_id))


def rename(c: Tx, incident_id: int, check_id: str, severity: str, category: str, title: str,
           facts: Mapping[str, Any], now: float) -> None:
    """A worse check grouped in before the first page left names the incident: its row and its waiting pages.

    The problem rows not yet attempted take the new facts (see `tell`, for channels not told yet).
    """
    c.execute("UPDATE incidents SET check_id=?, severity=?, category=?, title=?, error=?, detail=? WHERE id=?",
              (check_id, severity, category, title[:300], facts.get("error"), str(facts.get("detail") or "")[:2000],
               incident_id))
    amend_pending(c, incident_id, facts, severity, category)


def tell(c: Tx, incident_id: int, channels: Sequence[str], now: float) -> list[str]:
    """Page the channels of a check folded into an incident that were not told of it yet (a security
    channel, a check's own list): with the incident's first notice as it stands. Returns those channels."""
    row = c.execute("SELECT key, notify FROM incidents WHERE id=?", (incident_id,)).fetchone()
    have = told(c, incident_id)
    new = [ch for ch in dict.fromkeys(channels) if ch not in have]
    if row is None or not new:
        return []
    facts = first_facts(c, incident_id)
    for channel in new:
        enqueue(c, incident_id, channel, "problem", {**facts, "kind": "problem", "incident": incident_id,
                                                     "told": [*have, *new]}, now, f"{row[0]}-problem")
    merged = list(dict.fromkeys([*json.loads(row[1] or "[]"), *new]))
    c.execute("UPDATE incidents SET notify=? WHERE id=?", (json.dumps(merged), incident_id))
    return new


def supersede(c: Tx, old_id: int, now: float) -> None:
    """Close an incident a more severe one of its target replaces (before that one opens: one open per target).

    No recovery is sent: nothing recovered. `superseded_by` notes the new incident once it exists.
    """
    c.execute("UPDATE incidents SET state='resolved', resolved_at=?, next_escalation_at=NULL, next_remind_at=NULL "
              "WHERE id=? AND state IN ('open','acked')", (now, old_id))
    c.execute("UPDATE incident_checks SET recovered_at=? WHERE incident_id=? AND recovered_at IS NULL", (now, old_id))


def superseded_by(c: Tx, old_id: int, new_id: int) -> None:
    c.execute("UPDATE incidents SET ack_note=COALESCE(ack_note, ?) WHERE id=?", (f"superseded by #{new_id}", old_id))


def amend_pending(c: Tx, incident_id: int, facts: Mapping[str, Any], severity: str | None = None,
                  category: str | None = None) -> int:
    """Rewrite the facts of an incident's problem rows that have not been attempted yet (still in their wait)."""
    rows = c.execute("SELECT id, facts FROM outbox WHERE incident_id=? AND kind='problem' AND state='pending' "
                     "AND attempts=0", (incident_id,)).fetchall()
    for rid, raw in rows:
        old = json.loads(raw)
        new = {**old, **facts, "kind": old.get("kind", "problem"), "incident": incident_id, "told": old.get("told")}
        if severity is not None:
            new["severity"] = severity
        if category is not None:
            new["category"] = category
        c.execute("UPDATE outbox SET facts=? WHERE id=?", (json.dumps(new, ensure_ascii=False, default=str), rid))
    return len(rows)


def get(c: Tx, incident_id: int) -> dict[str, Any] | None:
    """One incident with the facts of its first notice (the acknowledgement page shows them)."""
    row = c.fetchone("SELECT id, state, acked_by, acked_at, resolved_at FROM incidents WHERE id=?", (incident_id,))
    if row is None:
        return None
    return {**dict(zip(("id", "state", "acked_by", "acked_at", "resolved_at"), row)),
            "facts": first_facts(c, incident_id), "checks": member_dicts(c, incident_id)}


def member_dicts(c: Tx, incident_id: int) -> list[dict[str, Any]]:
    """The incident's checks as the API and the board show them (the first names the incident)."""
    return [{"check": m.check_id, "how": m.how, "joined_at": m.joined_at, "state": m.state, "category": m.category,
             "error": m.error, "recovered_at": m.recovered_at} for m in members(c, incident_id)]


def first_facts(c: Tx, incident_id: int) -> dict[str, Any]:
    facts = first_outbox_facts(c, incident_id)
    if facts is not None:
        return facts
    inc = c.execute("SELECT check_id, target_id, zone, title, since, severity, category FROM incidents WHERE id=?",
                    (incident_id,)).fetchone()
    if not inc:
        return {}
    return {"incident": incident_id, "check": inc[0], "target": inc[1], "zone": inc[2], "title": inc[3],
            "since": inc[4], "severity": inc[5], "category": inc[6]}


def notify_told(c: Tx, incident_id: int, kind: str, now: float, extra: Mapping[str, Any],
                channels: Sequence[str] | None = None) -> int:
    """Send a follow-up (resolved, reminder, ack, settled) to the channels told about the incident."""
    row = c.execute("SELECT key, source, check_id, since FROM incidents WHERE id=?", (incident_id,)).fetchone()
    if row is None:
        return 0
    facts = {**first_facts(c, incident_id), **extra, "kind": kind, "incident": incident_id}
    targets = list(channels) if channels is not None else told(c, incident_id)
    key = page_key(_origin(str(row[1]), str(row[0]), row[2]), float(row[3]), kind)
    for channel in targets:
        enqueue(c, incident_id, channel, kind, facts, now, f"{key}-{int(now)}" if kind in
                ("reminder", "escalation") else key)
    return len(targets)


def resolve(c: Tx, incident_id: int, now: float, notify: bool = True) -> bool:
    """Resolve it and tell who was told; False (nobody told) when another writer resolved it first.

    Two writers may have read it open at once (both cluster nodes taking the same Alertmanager webhook):
    PostgreSQL makes the second UPDATE wait and re-check `state`, so only one of them queues the recovery."""
    done = c.execute("UPDATE incidents SET state='resolved', resolved_at=?, next_escalation_at=NULL, "
                     "next_remind_at=NULL WHERE id=? AND state IN ('open','acked')", (now, incident_id)).rowcount
    c.execute("UPDATE incident_checks SET recovered_at=? WHERE incident_id=? AND recovered_at IS NULL",
              (now, incident_id))
    if notify and done:
        notify_told(c, incident_id, "resolved", now, {"resolved_at": now, "state": "up"})
    return bool(done)


REMOVED_NOTE = "removed from configuration"


def close_removed(c: Tx, check_ids: set[str], target_ids: set[str], now: float) -> list[int]:
    """Close the open incidents of checks a reload removed (no recovery is sent: nothing recovered).

    A check is gone when its target is gone, or when it is a configured check (`target/kind`) no longer in
    `check_ids`; derived checks (`target/if/name`) stay while their target does. The note is the
    incident's closing note (`ack_note` when none was given) and an audit line. A removed check folded
    into a target's incident leaves it (it would never recover); the incident closes when none of its
    checks is left failing.
    """
    def gone(check_id: str | None, target_id: str | None) -> bool:
        derived = str(check_id or "").count("/") > 1
        return not (target_id in target_ids and (check_id in check_ids or derived))

    rows = c.execute("SELECT id, check_id, target_id FROM incidents WHERE source='check' "
                     "AND state IN ('open','acked')").fetchall()
    closed = []
    for iid, check_id, target_id in rows:
        failing = [m for m in members(c, int(iid)) if m.recovered_at is None]
        for m in failing:
            if gone(m.check_id, target_id):
                member_recovered(c, int(iid), m.check_id, now)
        left = [m for m in failing if not gone(m.check_id, target_id)]
        if left if failing else not gone(check_id, target_id):
            continue
        c.execute("UPDATE incidents SET state='resolved', resolved_at=?, next_escalation_at=NULL, next_remind_at=NULL, "
                  "ack_note=COALESCE(ack_note, ?) WHERE id=?", (now, REMOVED_NOTE, iid))
        record_audit(c, "netwatch", "close", f"incident #{iid} ({check_id}): {REMOVED_NOTE}", "reload", now)
        closed.append(int(iid))
    return closed


def ack(c: Tx, incident_id: int, who: str, note: str, source: str, now: float) -> str | None:
    """Acknowledge: stops escalation and reminders, tells the channels, writes the audit log.

    Returns an error text, or None when done.
    """
    row = c.execute("SELECT state, acked_by FROM incidents WHERE id=?", (incident_id,)).fetchone()
    if row is None:
        return f"no incident #{incident_id}"
    state, acked_by = row
    if state == "acked":
        return f"incident #{incident_id} is already acknowledged by {acked_by}"
    c.execute("UPDATE incidents SET state=CASE WHEN state='open' THEN 'acked' ELSE state END, acked_at=?, "
              "acked_by=?, ack_note=?, next_escalation_at=NULL, next_remind_at=NULL WHERE id=?",
              (now, who, note[:500], incident_id))
    record_audit(c, who, "ack", f"incident #{incident_id}" + (f": {note[:200]}" if note else ""), source, now)
    if state == "open":
        notify_told(c, incident_id, "ack", now, {"acked_by": who, "note": note[:200], "acked_at": now})
    return None


def list_incidents(c: Tx, states: Sequence[str] = OPEN_STATES, limit: int = 100,
                   before: int | None = None) -> list[dict[str, Any]]:
    """Newest first; `before` (an id) continues a listing where its previous page ended."""
    rows = c.execute(
        "SELECT id, key, source, check_id, target_id, zone, severity, category, state, title, error, since, "
        "opened_at, resolved_at, acked_at, acked_by, ack_note, level, dependants FROM incidents WHERE state IN (%s) "
        "AND id < ? ORDER BY id DESC LIMIT ?" % ",".join("?" * len(states)),
        (*states, before if before is not None else 2**62, limit)).fetchall()
    names = ["id", "key", "source", "check", "target", "zone", "severity", "category", "state", "title", "error",
             "since", "opened_at", "resolved_at", "acked_at", "acked_by", "ack_note", "level", "dependants"]
    out = [dict(zip(names, r)) for r in rows]
    for inc in out:
        inc["told"] = sent(c, inc["id"])
        inc["checks"] = member_dicts(c, inc["id"])
    return out


# -- the paging clocks -----------------------------------------------------------------------------
def clock_summary(c: Tx) -> tuple[int, float | None]:
    """(incidents open or acknowledged, the earliest escalation or reminder time): a read, no write lock."""
    row = c.execute("SELECT COUNT(*), MIN(next_escalation_at), MIN(next_remind_at) FROM incidents "
                    "WHERE state IN ('open','acked')").fetchone()
    times = [t for t in (row[1], row[2]) if t is not None]
    return int(row[0]), (float(min(times)) if times else None)


def due(c: Tx, now: float) -> list[Due]:
    rows = c.execute(
        "SELECT id, check_id, severity, level, next_escalation_at, next_remind_at, opened_at FROM incidents "
        "WHERE state='open' AND ((next_escalation_at IS NOT NULL AND next_escalation_at <= ?) OR "
        "(next_remind_at IS NOT NULL AND next_remind_at <= ?))", (now, now)).fetchall()
    return [Due(*r) for r in rows]


def escalate(c: Tx, incident_id: int, level: int, next_escalation_at: float | None) -> None:
    c.execute("UPDATE incidents SET level=?, next_escalation_at=? WHERE id=?", (level, next_escalation_at, incident_id))


def remind_next(c: Tx, incident_id: int, next_remind_at: float | None) -> None:
    c.execute("UPDATE incidents SET next_remind_at=? WHERE id=?", (next_remind_at, incident_id))


# -- held pages ------------------------------------------------------------------------------------
def hold(c: Tx, check_id: str, transition_id: int, deadline: float, flapping: bool) -> None:
    c.execute("DELETE FROM held_pages WHERE check_id=?", (check_id,))
    c.execute("INSERT INTO held_pages (check_id, transition_id, deadline, flapping) VALUES (?,?,?,?)",
              (check_id, transition_id, deadline, int(flapping)))


def drop_hold(c: Tx, check_id: str) -> None:
    c.execute("DELETE FROM held_pages WHERE check_id=?", (check_id,))


def take_hold(c: Tx, check_id: str) -> int | None:
    """Remove a held page and return its transition id when that is still the check's latest transition."""
    row = c.execute("SELECT transition_id FROM held_pages WHERE check_id=?", (check_id,)).fetchone()
    if row is None:
        return None
    c.execute("DELETE FROM held_pages WHERE check_id=?", (check_id,))
    last = c.execute("SELECT MAX(id) FROM transitions WHERE check_id=?", (check_id,)).fetchone()[0]
    return int(row[0]) if last == row[0] else None


def held_pages(c: Tx) -> list[HeldPage]:
    rows = c.execute(
        "SELECT h.check_id, h.transition_id, h.deadline, h.flapping, t.target_id, t.ts, t.since, t.from_state, "
        "t.to_state, t.error, t.detail, t.cause FROM held_pages h JOIN transitions t ON t.id = h.transition_id "
        "ORDER BY h.transition_id").fetchall()
    return [HeldPage(cid, int(tid), Transition(cid, target, float(ts), float(since), State(frm), State(to), error,
                                               detail or "", cause), float(deadline), bool(flapping))
            for cid, tid, deadline, flapping, target, ts, since, frm, to, error, detail, cause in rows]

