"""The queries `netwatch report` makes over history, read-only, on either back end."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from netwatch.store.db import Database

if TYPE_CHECKING:
    from netwatch.store import StoreLocation

__all__ = ["ReportReader"]

Row = tuple[Any, ...]


class ReportReader:
    """One read-only connection; `another()` opens a second one for a worker thread."""

    def __init__(self, spec: "str | StoreLocation") -> None:
        from netwatch.store import connect
        self.spec = spec
        self.db: Database = connect(spec, readonly=True)
        self.tables = self.db.tables()

    def another(self) -> "ReportReader":
        return ReportReader(self.spec)

    def close(self) -> None:
        self.db.close()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self.db.read() as tx:
            return tx.fetchall(sql, params)

    def recorded_span(self) -> tuple[float, float] | None:
        """First and last instant netwatch was running, from the run records; None for an empty store."""
        rows = self._all("SELECT MIN(started_at), MAX(last_seen_at) FROM runs")
        row = rows[0] if rows else None
        return (float(row[0]), float(row[1])) if row and row[0] is not None else None

    def runs(self, start: float, end: float) -> list[Row]:
        """(started_at, last_seen_at) of runs that overlap [start, end]."""
        return self._all("SELECT started_at, last_seen_at FROM runs WHERE last_seen_at >= ? AND started_at <= ?",
                         (start, end))

    def events(self, start: float, end: float) -> list[Row]:
        """(ts, check_id, target_id, kind, summary)."""
        return self._all("SELECT ts, check_id, target_id, kind, summary FROM events WHERE ts >= ? AND ts < ? "
                         "ORDER BY ts, id", (start, end))

    def audit(self, start: float, end: float) -> list[Row]:
        """(ts, who, action, what, source) from the operators' log; [] for a store without one."""
        if "audit" not in self.tables:
            return []
        return self._all("SELECT ts, who, action, what, source FROM audit WHERE ts >= ? AND ts < ? ORDER BY ts, id",
                         (start, end))

    def baseline_approvals(self, start: float, end: float) -> list[Row]:
        """(target_id, url, taken_at, approved_by)."""
        if "baselines" not in self.tables:
            return []
        return self._all("SELECT target_id, url, taken_at, approved_by FROM baselines WHERE taken_at >= ? AND "
                         "taken_at < ?", (start, end))

    def config_freezes(self, start: float, end: float) -> list[Row]:
        """(target_id, ts, version_id, reason)."""
        if "config_freezes" not in self.tables:
            return []
        return self._all("SELECT target_id, ts, version_id, reason FROM config_freezes WHERE ts >= ? AND ts < ? "
                         "ORDER BY id", (start, end))

    def transition_checks(self) -> list[Row]:
        """(check_id, target_id) of every check that ever changed state."""
        return self._all("SELECT DISTINCT check_id, target_id FROM transitions")

    def transitions_since(self, since: float) -> list[Row]:
        """The last transition of each check before `since`, then every one from it, per check in time order:
        (check_id, ts, since, to_state, error, detail, cause)."""
        anchor = self._all(
            "SELECT t.check_id, t.ts, t.since, t.to_state, t.error, t.detail, t.cause FROM transitions t "
            "JOIN (SELECT check_id, MAX(id) AS id FROM transitions WHERE ts < ? GROUP BY check_id) m "
            "ON t.id = m.id ORDER BY t.check_id", (since,))
        recent = self._all("SELECT check_id, ts, since, to_state, error, detail, cause FROM transitions "
                           "WHERE ts >= ? ORDER BY check_id, ts, id", (since,))
        return anchor + recent

    def lease_history(self) -> tuple[int, list[Row], list[Row]] | None:
        """Cluster mode: (slots, ownership rows (site, slot, node, at, previous_expires), slot rows
        (site, slot, expires)), times in Unix seconds; None for a store that never ran as a cluster."""
        if not {"cluster_ownership", "cluster_slots", "cluster_meta"} <= self.tables:
            return None
        meta = self._all("SELECT slots FROM cluster_meta WHERE id = 1")
        if not meta:
            return None
        has_expiry = "previous_expires" in self._columns("cluster_ownership")
        events = self._all(
            "SELECT site, slot, node, extract(epoch FROM at)::float8, "
            + ("extract(epoch FROM previous_expires)::float8 " if has_expiry else "NULL ")
            + "FROM cluster_ownership WHERE slot >= 0 ORDER BY id")
        slots = self._all("SELECT site, slot, extract(epoch FROM expires)::float8 FROM cluster_slots "
                          "WHERE node IS NOT NULL")
        return int(meta[0][0]), events, slots

    def _columns(self, table: str) -> set[str]:
        return {str(r[0]) for r in self._all("SELECT column_name FROM information_schema.columns "
                                             "WHERE table_name = ?", (table,))}

    def latency_histograms(self, check_id: str, start: float, end: float) -> list[tuple[str, int]]:
        """(histogram text, rows with it) of a check's rollups whose bucket starts in [start, end).

        Only the histogram text is grouped: every extra aggregate costs per row, and the 8.6 M rows
        of a 30-day, 1,000-check report make that seconds."""
        return [(str(h), int(n)) for h, n in self._all(
            "SELECT latency_hist, COUNT(*) FROM rollups WHERE check_id = ? AND bucket_start >= ? "
            "AND bucket_start < ? GROUP BY latency_hist", (check_id, start, end))]

    def latency_slots(self, check_id: str, slots: Sequence[tuple[float, float]]) -> list[tuple[float, float, int]]:
        """(slot start, latency sum, latency count) per slot with rollups, in slot order."""
        if self.db.backend == "sqlite":
            return self._sqlite_slots(check_id, slots)
        if not slots:
            return []
        values = ",".join("(?, ?)" for _ in slots)
        # SUM over BIGINT is NUMERIC in PostgreSQL: cast back so counts stay integers.
        rows = self._all(
            f"SELECT s.s, SUM(r.latency_sum), CAST(SUM(r.latency_count) AS BIGINT) FROM (VALUES {values}) "
            "AS s(s, e) JOIN rollups r ON r.check_id = ? AND r.bucket_start >= s.s AND r.bucket_start < s.e "
            "GROUP BY s.s ORDER BY s.s", [x for slot in slots for x in slot] + [check_id])
        return [(float(s), float(total), int(n)) for s, total, n in rows if n]

    def _sqlite_slots(self, check_id: str, slots: Sequence[tuple[float, float]]) -> list[tuple[float, float, int]]:
        with self.db.read() as tx:
            if not getattr(self, "_slots_made", False):
                tx.execute("CREATE TEMP TABLE IF NOT EXISTS slots (s REAL PRIMARY KEY, e REAL) WITHOUT ROWID")
                tx.execute("DELETE FROM slots")
                tx.executemany("INSERT INTO slots VALUES (?, ?)", slots)
                self._slots_made = True
            # One range aggregate per slot: rows come in bucket order, so no sort is needed (a GROUP BY
            # on the slot would sort every row). Both sums travel as one text.
            rows = tx.fetchall(
                "SELECT s, (SELECT SUM(latency_sum) || ' ' || SUM(latency_count) FROM rollups "
                "WHERE check_id = ?1 AND bucket_start >= s AND bucket_start < e) FROM slots ORDER BY s",
                (check_id,))
        out = []
        for s, packed in rows:
            if packed:
                total, n = packed.split(" ")
                out.append((float(s), float(total), int(n)))
        return out

    def incidents(self, before: float, resolved_after: float) -> list[Row]:
        """(id, check_id, target_id, since, resolved_at, acked_at, acked_by, ack_note) overlapping the window."""
        return self._all(
            "SELECT id, check_id, target_id, since, resolved_at, acked_at, acked_by, ack_note FROM incidents "
            "WHERE since < ? AND (resolved_at IS NULL OR resolved_at >= ?) ORDER BY id", (before, resolved_after))

    def incident_members(self, incident_ids: Sequence[int]) -> list[Row]:
        """(incident_id, check_id) of the checks folded into these incidents (one incident per target fault)."""
        out: list[Row] = []
        for i in range(0, len(incident_ids), 500):
            part = list(incident_ids[i:i + 500])
            out += self._all("SELECT incident_id, check_id FROM incident_checks "
                             f"WHERE incident_id IN ({','.join('?' * len(part))}) ORDER BY incident_id", part)
        return out

    def pages_of(self, incident_ids: Sequence[int]) -> list[Row]:
        """(incident_id, channel, kind, created_at, sent_at, state) of the outbox rows of these incidents."""
        out: list[Row] = []
        for i in range(0, len(incident_ids), 500):
            part = list(incident_ids[i:i + 500])
            out += self._all("SELECT incident_id, channel, kind, created_at, sent_at, state FROM outbox "
                             f"WHERE incident_id IN ({','.join('?' * len(part))}) ORDER BY id", part)
        return out
