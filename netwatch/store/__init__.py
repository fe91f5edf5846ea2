"""History store: results, rollups, transitions, events and netwatch's own runs, on SQLite or PostgreSQL."""

from __future__ import annotations

import json
import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Protocol, Sequence

from netwatch.model import Transition
from netwatch.model import Event, Result, State
from netwatch.store.db import DB_ERRORS, Database, FencedWrite, SqliteDatabase, StoreError, Tx
from netwatch.store.rollup import BOUNDS_SECONDS, BUCKET_SECONDS, bucket_start, decode_hist, encode_hist, rollup_rows
from netwatch.store.schema import MIGRATIONS

__all__ = ["Store", "StoredState", "StoreError", "FencedWrite", "Database", "Tx", "DB_ERRORS", "ResultRow"]

# A raw result as stored: (check_id, ts, duration_seconds, ok 0/1, degraded 0/1, error, latency_seconds).
ResultRow = tuple[str, float, float, int, int, "str | None", "float | None"]


@dataclass(frozen=True)
class StoredState:
    check_id: str
    state: State
    since: float
    decided_at: float
    error: str | None


class StoreLocation(Protocol):
    """What `config.StoreSpec` provides: a SQLite path, or a PostgreSQL URL without its password."""

    path: str | None
    url: str | None

    def password_text(self) -> str | None: ...


def connect(spec: "str | StoreLocation", readonly: bool = False) -> Database:
    """A `Database` for a path or a spec; StoreError (one line, no password) when it cannot be opened."""
    if isinstance(spec, str) or spec.url is None:
        path = spec if isinstance(spec, str) else str(spec.path)
        if not readonly:
            ensure_directory(path)
        try:
            return SqliteDatabase(path, readonly=readonly)
        except DB_ERRORS as exc:
            raise StoreError(f"cannot open history store {path}: {exc}") from None
    from netwatch.store.postgres import PostgresDatabase  # psycopg loads only for a PostgreSQL store
    return PostgresDatabase(spec.url, spec.password_text(), str(spec))


def _one_line(exc: BaseException, spec: "str | StoreLocation") -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    password = None if isinstance(spec, str) else spec.password_text()
    return text.replace(password, "********") if password else text


# How often the daemon's store adds its newly stored results to the rollups, on SQLite (Store.defer_rollups).
# A result's rollup row was an upsert of its own: 6-9 us of the writer's CPU per result beside the event loop,
# most of the writer (issue 18, bench/README.md round 6). One pass a minute touches each check's row about once
# per pass instead of once per result. Reports made while the daemon runs see latency up to the last pass.
ROLLUP_PASS_SECONDS = 60.0

# Rollup rows add to what is stored (never replace it): counts and sums add, the maximum is kept, and histogram
# texts are joined (the decoder adds repeated bins; a closed bucket's text is compacted later). So the rollups of
# one bucket written by two writers, or by a batch and a pass, add up exactly.
_ROLLUP_ADD = (
    "ON CONFLICT (check_id, bucket_start) DO UPDATE SET bucket_seconds=excluded.bucket_seconds, "
    "count=rollups.count + excluded.count, ok_count=rollups.ok_count + excluded.ok_count, "
    "degraded_count=rollups.degraded_count + excluded.degraded_count, "
    "latency_count=rollups.latency_count + excluded.latency_count, "
    "latency_sum=rollups.latency_sum + excluded.latency_sum, "
    "latency_max=CASE WHEN excluded.latency_max > rollups.latency_max THEN excluded.latency_max "
    "ELSE rollups.latency_max END, "
    "latency_hist=CASE WHEN rollups.latency_hist = '' THEN excluded.latency_hist "
    "WHEN excluded.latency_hist = '' THEN rollups.latency_hist "
    "ELSE rollups.latency_hist || ',' || excluded.latency_hist END")
_LATENCY_OK = "(ok AND latency_seconds IS NOT NULL AND latency_seconds >= 0)"
_BIN_BY_BOUND = " ".join(f"WHEN latency_seconds <= ?{i + 2} THEN {i}" for i in range(len(BOUNDS_SECONDS)))
# One pass, all in SQLite: the results stored after the mark, summed per (check, bucket), added to the rollups
# as record_rows' upsert adds them (_ROLLUP_ADD). The histogram bin is bisect_left over BOUNDS_SECONDS
# (?2..?27): the first bound at or above the latency.
_ROLLUP_PASS = (
    "INSERT INTO rollups (check_id, bucket_start, bucket_seconds, count, ok_count, degraded_count, latency_count, "
    "latency_sum, latency_max, latency_hist) "
    "SELECT check_id, bucket, ?28, SUM(n), SUM(oks), SUM(degradeds), SUM(latencies), TOTAL(latency_sum), "
    "COALESCE(MAX(latency_max), 0.0), COALESCE(GROUP_CONCAT(hist), '') FROM ("
    "SELECT check_id, bucket, COUNT(*) AS n, SUM(ok) AS oks, SUM(degraded) AS degradeds, SUM(latency_ok) AS latencies, "
    "TOTAL(CASE WHEN latency_ok THEN latency_seconds END) AS latency_sum, "
    "MAX(CASE WHEN latency_ok THEN latency_seconds END) AS latency_max, "
    "CASE WHEN latency_ok THEN bin || ':' || COUNT(*) END AS hist FROM ("
    "SELECT check_id, CAST(ts / ?28 AS INTEGER) * ?28 AS bucket, ok != 0 AS ok, degraded != 0 AS degraded, "
    "latency_seconds, " + _LATENCY_OK + " AS latency_ok, "
    "CASE WHEN NOT " + _LATENCY_OK + " THEN NULL " + _BIN_BY_BOUND + f" ELSE {len(BOUNDS_SECONDS)} END AS bin "
    "FROM results WHERE rowid > ?1) GROUP BY check_id, bucket, latency_ok, bin) GROUP BY check_id, bucket "
    + _ROLLUP_ADD)


class Store:
    """The history on one `Database`; callers may use it from worker threads (the database serialises)."""

    def __init__(self, db: Database, path: str) -> None:
        self.db = db
        self.path = path
        # check -> the latest bucket this process added results to (compacted once the check moves on)
        self._open_buckets: dict[str, float] = {}
        # SQLite: seconds between rollup passes (0: every record_rows adds its own results at once), when the
        # last one ran, and the buckets passes added to whose histogram text is not compacted yet.
        self._rollup_pass_seconds = 0.0
        self._last_rollup_pass = 0.0
        self._pass_buckets: set[float] = set()

    @property
    def conn(self) -> Tx:
        """Autocommit session, kept while the paging engine moves onto repositories; new code uses `db`."""
        return self.db.session

    @property
    def lock(self) -> threading.RLock:
        return self.db.lock

    @staticmethod
    def open(spec: "str | StoreLocation", migrate: bool = True) -> "Store":
        """Open (and by default create or migrate) the store a config names: a SQLite path or PostgreSQL."""
        db = connect(spec)
        store = Store(db, str(spec))
        if migrate:
            try:
                store.migrate()
            except DB_ERRORS as exc:
                db.close()
                raise StoreError(f"cannot open history store {spec}: {_one_line(exc, spec)}") from None
        return store

    def close(self) -> None:
        with self.db.lock:
            self.flush_rollups()
            self.db.close()

    @contextmanager
    def transaction(self, notify: bool = True) -> Iterator[Tx]:
        """See Database.transaction: `notify=False` for writes no watcher (the outbox) needs to hear of."""
        with self.db.transaction(notify) as tx:
            yield tx

    def wait_for_change(self, timeout_seconds: float, since: tuple[int, int] | None = None) -> bool:
        return self.db.wait_for_change(timeout_seconds, since)

    def migrate(self) -> list[str]:
        """Apply missing migrations, each in its own transaction; safe when another process does the same
        (the daemon and a CLI command on a new database): the schema lock makes the second one wait."""
        with self.db.transaction() as tx:
            self.db.lock_schema()
            tx.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL)")
        applied = []
        for name, sql in MIGRATIONS:
            # One transaction per migration, so a half-applied one rolls back.
            with self.db.transaction() as tx:
                self.db.lock_schema()
                if tx.fetchone("SELECT 1 FROM migrations WHERE name=?", (name,)) is not None:
                    continue
                self.db.script(sql)
                tx.execute("INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
            applied.append(name)
        return applied

    def schema_version(self) -> list[str]:
        with self.lock:
            return [r[0] for r in self.conn.execute("SELECT name FROM migrations ORDER BY name")]

    # -- runs: when netwatch was watching at all -------------------------------------------
    def start_run(self, version: str, pid: int, now: float) -> int:
        with self.transaction() as tx:
            return tx.insert("INSERT INTO runs (started_at, last_seen_at, version, pid) VALUES (?,?,?,?)",
                             (now, now, version, pid))

    def touch_run(self, run_id: int, now: float) -> None:
        with self.transaction(notify=False) as tx:
            tx.execute("UPDATE runs SET last_seen_at=? WHERE id=?", (now, run_id))

    def stop_run(self, run_id: int, now: float) -> None:
        with self.transaction() as tx:
            tx.execute("UPDATE runs SET last_seen_at=?, stopped_at=? WHERE id=?", (now, now, run_id))

    def runs_between(self, start: float, end: float) -> list[tuple[float, float]]:
        """(from, to) spans when netwatch was running, clipped to the window."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT started_at, last_seen_at FROM runs WHERE last_seen_at >= ? AND started_at <= ? "
                "ORDER BY started_at", (start, end)).fetchall()
        return [(max(a, start), min(b, end)) for a, b in rows]

    # -- results and rollups ---------------------------------------------------------------
    def record_results(self, results: Sequence[Result], latency: Sequence[float | None], late: bool = False) -> None:
        """Store raw results and add them to their rollups, in one transaction (see record_rows)."""
        self.record_rows([(r.check_id, r.started_at, r.duration_seconds, int(r.outcome.ok),
                           int(r.outcome.degraded is not None), r.outcome.error, lat)
                          for r, lat in zip(results, latency)], late)

    def record_rows(self, result_rows: Sequence[ResultRow], late: bool = False) -> None:
        """Store raw results given as rows (the recorder keeps them so, one tuple per result) and add them
        to their rollups, in one transaction.

        A batch adds its own counts to the rollup rows (never replaces them), so the rollups of one
        bucket written by two processes — a check handed over between cluster nodes mid-bucket, the
        old owner's late writes included — add up exactly, and a batch retried after a failed
        transaction is counted once. `late`: uploaded from a cluster node's spool (marked, never decided on).
        """
        if self.db.backend == "sqlite":
            self._record_rows_sqlite(result_rows, late)
            return
        batch = rollup_rows(result_rows)
        closed = self._closed_buckets(batch)
        # Quiet: results change no incident or outbox row, so their commit each second wakes no watcher.
        with self.transaction(notify=False) as c:
            self._insert_results(c, result_rows, late)
            self._write_rollups(c, batch.values())
            self._compact(c, closed)
        open_buckets = self._open_buckets
        for check_id, start in closed:
            if open_buckets.get(check_id) == start:
                del open_buckets[check_id]
        for check_id, start in batch:
            if start >= open_buckets.get(check_id, start):
                open_buckets[check_id] = start

    @staticmethod
    def _insert_results(c: Tx, result_rows: Sequence[ResultRow], late: bool) -> None:
        if late:
            c.executemany("INSERT INTO results (check_id, ts, duration_seconds, ok, degraded, error, "
                          "latency_seconds, late) VALUES (?,?,?,?,?,?,?,?)", [(*row, 1) for row in result_rows])
        else:
            # `late` keeps its default (0): the rows go as they are, no copy of each.
            c.executemany("INSERT INTO results (check_id, ts, duration_seconds, ok, degraded, error, "
                          "latency_seconds) VALUES (?,?,?,?,?,?,?)", result_rows)

    def defer_rollups(self, pass_seconds: float = ROLLUP_PASS_SECONDS) -> None:
        """The daemon's store: on SQLite, add results to the rollups in a pass every `pass_seconds` rather than in
        every record_rows. Crash-safe: the pass and the mark of what it covered commit together, so the
        results of a run that died before its next pass go into the first pass of the next run."""
        self._rollup_pass_seconds = pass_seconds

    def _record_rows_sqlite(self, result_rows: Sequence[ResultRow], late: bool) -> None:
        """Insert the rows; the rollups follow by the mark (`rollup_mark`: every result at or below that rowid is
        in the rollups), in this transaction unless passes are deferred and the next one is not due."""
        if not result_rows:
            return
        with self.transaction(notify=False) as c:
            mark = self._rollup_mark(c)
            top = c.fetchone("SELECT MAX(rowid) FROM results")
            top_rowid = int(top[0]) if top and top[0] is not None else 0
            if top_rowid < mark:
                # Pruning removed the newest rows (a store idle past its retention), so SQLite may hand their
                # rowids out again: everything left is in the rollups, so the mark comes down with it.
                c.execute("UPDATE rollup_mark SET through_rowid=? WHERE id=0", (top_rowid,))
                mark = top_rowid
            self._insert_results(c, result_rows, late)
            now = time.monotonic()
            if not self._rollup_pass_seconds or now - self._last_rollup_pass >= self._rollup_pass_seconds:
                self._rollup_pass(c, mark)
                self._last_rollup_pass = now

    def _rollup_mark(self, c: Tx) -> int:
        row = c.fetchone("SELECT through_rowid FROM rollup_mark WHERE id=0")
        if row is not None:
            return int(row[0])
        # First use on this store: every result stored so far went into the rollups as it was stored.
        top = c.fetchone("SELECT MAX(rowid) FROM results")
        mark = int(top[0]) if top and top[0] is not None else 0
        c.execute("INSERT INTO rollup_mark (id, through_rowid) VALUES (0, ?)", (mark,))
        return mark

    def _rollup_pass(self, c: Tx, mark: int) -> None:
        """Add the results after `mark` to the rollups, move the mark, compact the buckets the pass moved past."""
        buckets = {float(r[0]) for r in c.fetchall(
            "SELECT DISTINCT CAST(ts / ?2 AS INTEGER) * ?2 FROM results WHERE rowid > ?1", (mark, BUCKET_SECONDS))}
        if not buckets:
            return
        c.execute(_ROLLUP_PASS, (mark, *BOUNDS_SECONDS, BUCKET_SECONDS))
        c.execute("UPDATE rollup_mark SET through_rowid=(SELECT MAX(rowid) FROM results) WHERE id=0")
        touched = self._pass_buckets | buckets
        newest = max(touched)
        self._compact_buckets(c, sorted(b for b in touched if b < newest))
        self._pass_buckets = {newest}

    @staticmethod
    def _compact_buckets(c: Tx, starts: Iterable[float]) -> None:
        """Rewrite in short form the histogram text of every check with results in these buckets (compare-and-set
        on the text read, as _compact)."""
        for start in starts:
            rows = c.fetchall(
                "SELECT check_id, latency_hist FROM rollups WHERE bucket_start=?1 AND check_id IN "
                "(SELECT DISTINCT check_id FROM results WHERE ts >= ?1 AND ts < ?2) AND instr(latency_hist, ',') > 0",
                (start, start + BUCKET_SECONDS))
            updates = []
            for check_id, text in rows:
                short = encode_hist(decode_hist(str(text)))
                if short != text:
                    updates.append((short, check_id, start, text))
            if updates:
                c.executemany("UPDATE rollups SET latency_hist=? WHERE check_id=? AND bucket_start=? "
                              "AND latency_hist=?", updates)

    def _closed_buckets(self, batch: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
        """Buckets this process wrote to that a batch has moved past: their histogram text is compacted."""
        out = []
        for check_id, start in batch:
            open_start = self._open_buckets.get(check_id)
            if open_start is not None and open_start < start:
                out.append((check_id, open_start))
        return sorted(set(out))

    @staticmethod
    def _write_rollups(c: Tx, rows: Iterable[tuple[object, ...]]) -> None:
        rows = list(rows)
        if rows:
            c.executemany(
                "INSERT INTO rollups (check_id, bucket_start, bucket_seconds, count, ok_count, degraded_count, "
                "latency_count, latency_sum, latency_max, latency_hist) VALUES (?,?,?,?,?,?,?,?,?,?) " + _ROLLUP_ADD,
                rows)

    @staticmethod
    def _compact(c: Tx, buckets: Iterable[tuple[str, float]]) -> None:
        """Rewrite the histogram text of closed buckets in short form; a row another process appended to
        meanwhile is left as it is (compare-and-set on the text read), to be compacted another time."""
        for check_id, start in buckets:
            row = c.fetchone("SELECT latency_hist FROM rollups WHERE check_id=? AND bucket_start=?", (check_id, start))
            if row is None or "," not in str(row[0]):
                continue
            short = encode_hist(decode_hist(str(row[0])))
            if short != row[0]:
                c.execute("UPDATE rollups SET latency_hist=? WHERE check_id=? AND bucket_start=? AND latency_hist=?",
                          (short, check_id, start, row[0]))

    def flush_rollups(self) -> None:
        """On the way out: add what is not in the rollups yet (SQLite) and compact the histogram text of the
        buckets this process still had open."""
        if self.db.backend == "sqlite" and not self.db.readonly:
            with self.transaction(notify=False) as c:
                tables = {str(r[0]) for r in c.fetchall("SELECT name FROM sqlite_master WHERE type='table'")}
                if "rollup_mark" in tables:   # not on a store opened without its migrations
                    self._rollup_pass(c, self._rollup_mark(c))
                    self._compact_buckets(c, sorted(self._pass_buckets))
                    self._pass_buckets = set()
        if not self._open_buckets:
            return
        with self.transaction() as c:
            self._compact(c, sorted(self._open_buckets.items()))
        self._open_buckets.clear()

    def results_for(self, check_id: str, start: float, end: float) -> list[tuple[float, bool, str | None]]:
        with self.lock:
            return [(ts, bool(ok), err) for ts, ok, err in self.conn.execute(
                "SELECT ts, ok, error FROM results WHERE check_id=? AND ts>=? AND ts<? ORDER BY ts",
                (check_id, start, end))]

    def rollups_between(self, start: float, end: float, check_ids: Iterable[str] | None = None
                        ) -> list[tuple[str, float, int, int, int, int, float, float, list[int]]]:
        if self._rollup_pass_seconds and self.db.backend == "sqlite":
            with self.transaction(notify=False) as c:   # this process's own reader sees every stored result
                self._rollup_pass(c, self._rollup_mark(c))
        sql = ("SELECT check_id, bucket_start, count, ok_count, degraded_count, latency_count, latency_sum, "
               "latency_max, latency_hist FROM rollups WHERE bucket_start >= ? AND bucket_start < ?")
        with self.lock:
            rows = self.conn.execute(sql + " ORDER BY check_id, bucket_start",
                                     (bucket_start(start), end)).fetchall()
        wanted = set(check_ids) if check_ids is not None else None
        return [(*row[:8], decode_hist(row[8])) for row in rows if wanted is None or row[0] in wanted]

    # -- transitions and events ------------------------------------------------------------
    def record_transition(self, t: Transition, run_id: int | None = None) -> int:
        with self.transaction() as c:
            return self.insert_transition(c, t, run_id)

    @staticmethod
    def insert_transition(c: Tx, t: Transition, run_id: int | None) -> int:
        """Insert inside a caller's transaction (the outbox commits its rows beside it)."""
        return c.insert(
            "INSERT INTO transitions (check_id, target_id, ts, since, from_state, to_state, error, detail, "
            "cause, run_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (t.check_id, t.target_id, t.ts, t.since, t.from_state.value, t.to_state.value, t.error,
             t.detail[:1000], t.cause, run_id))

    def transitions_between(self, start: float, end: float) -> list[Transition]:
        with self.lock:
            rows = self.conn.execute(
                "SELECT check_id, target_id, ts, since, from_state, to_state, error, detail, cause "
                "FROM transitions WHERE ts >= ? AND ts < ? ORDER BY ts, id", (start, end)).fetchall()
        return [_transition(row) for row in rows]

    def last_states(self) -> dict[str, StoredState]:
        """The latest transition of every check, to resume from after a restart."""
        with self.lock:
            rows = self.conn.execute(
                "SELECT t.check_id, t.to_state, t.since, t.ts, t.error FROM transitions t "
                "JOIN (SELECT check_id, MAX(id) AS id FROM transitions GROUP BY check_id) m ON t.id = m.id"
            ).fetchall()
        return {r[0]: StoredState(r[0], State(r[1]), r[2], r[3], r[4]) for r in rows}

    def record_events(self, events: Sequence[tuple[float, str | None, str | None, Event]]) -> None:
        with self.transaction() as c:
            c.executemany(
                "INSERT INTO events (ts, check_id, target_id, kind, summary, data) VALUES (?,?,?,?,?,?)",
                [(ts, check_id, target_id, e.kind, e.summary[:1000], _event_data(e.data))
                 for ts, check_id, target_id, e in events])

    def events_between(self, start: float, end: float, kinds: Iterable[str] | None = None
                       ) -> list[tuple[float, str | None, str | None, str, str, dict[str, object]]]:
        with self.lock:
            rows = self.conn.execute(
                "SELECT ts, check_id, target_id, kind, summary, data FROM events WHERE ts >= ? AND ts < ? "
                "ORDER BY ts, id", (start, end)).fetchall()
        wanted = set(kinds) if kinds is not None else None
        return [(ts, c, t, k, s, json.loads(d)) for ts, c, t, k, s, d in rows if wanted is None or k in wanted]

    def events_after(self, after_id: int, limit: int = 50) -> list[tuple[int, str, str | None, str]]:
        """(id, kind, target_id, summary) of events recorded after `after_id`, for a live feed."""
        with self.db.read() as tx:
            return [(int(i), str(k), t, str(s)) for i, k, t, s in tx.fetchall(
                "SELECT id, kind, target_id, summary FROM events WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit))]

    # -- retention -------------------------------------------------------------------------
    def prune(self, now: float, results_seconds: float, rollups_seconds: float) -> int:
        """Drop raw results and rollups past retention; transitions and events are kept (reports)."""
        with self.transaction(notify=False) as c:
            n = c.execute("DELETE FROM results WHERE ts < ?", (now - results_seconds,)).rowcount
            n += c.execute("DELETE FROM rollups WHERE bucket_start < ?",
                           (now - rollups_seconds - BUCKET_SECONDS,)).rowcount
            # a reboot's claim matters for minutes (outbox.claim_reboot); a day is plenty
            c.execute("DELETE FROM reboots_paged WHERE paged_at < ?", (now - 86400.0,))
        return n


MAX_EVENT_DATA_CHARS = 20000


def _event_data(data: Mapping[str, object]) -> str:
    text = json.dumps(dict(data), default=str)
    if len(text) <= MAX_EVENT_DATA_CHARS:
        return text
    # Cut JSON text is JSON no more: events_between (and every report) would fail on the row.
    return json.dumps({"truncated": True, "chars": len(text)})


def _transition(row: tuple[object, ...]) -> Transition:
    check_id, target_id, ts, since, from_state, to_state, error, detail, cause = row
    return Transition(str(check_id), str(target_id), float(ts), float(since),  # type: ignore[arg-type]
                      State(from_state), State(to_state), error, str(detail or ""), cause)  # type: ignore[arg-type]


def ensure_directory(path: str) -> None:
    """Create the store's directory (owner only) or say exactly what is missing and why."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(directory):
        return
    try:
        os.makedirs(directory, mode=0o750, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"history store {path}: directory {directory} does not exist and cannot be created "
                         f"({exc.strerror or exc}); create it for the user netwatch runs as, "
                         f"e.g. `sudo install -d -m 750 -o netwatch {directory}`, or change `store:`") from None
