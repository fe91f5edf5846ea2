"""Copy a SQLite history into another store (a venue moving to PostgreSQL keeps its earlier phases)."""

from __future__ import annotations

from typing import Callable

from netwatch.store import Store
from netwatch.store.db import Database, SqliteDatabase, StoreError, Tx
from netwatch.store.rollup import rollup_rows

__all__ = ["TABLES", "copy_history", "CopyRefused"]

# Parents before children (config_freezes references config_versions); every table of the schema.
TABLES: tuple[str, ...] = ("runs", "results", "rollups", "transitions", "events", "incidents", "outbox",
                           "maintenance", "audit", "config_versions", "config_freezes", "baselines")
BATCH_ROWS = 5000

Progress = Callable[[str, int, int], None]


class CopyRefused(StoreError):
    """The target already holds history: copying into it would mix two venues' records."""


def _columns(db: Database, table: str) -> list[str]:
    with db.read() as tx:
        if db.backend == "sqlite":
            return [str(r[1]) for r in tx.fetchall(f"PRAGMA table_info({table})")]
        return [str(r[0]) for r in tx.fetchall(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position", (table,))]


def _count(db: Database, table: str) -> int:
    with db.read() as tx:
        row = tx.fetchone(f"SELECT COUNT(*) FROM {table}")
    return int(row[0]) if row else 0


def copy_history(source_path: str, target: Store, progress: Progress) -> dict[str, int]:
    """Copy every row of every known table, ids kept, in ONE transaction: all of it or nothing.

    Refuses a target that already has rows in any of them. Returns rows copied per table."""
    source = SqliteDatabase(source_path, readonly=True)
    try:
        present = source.tables()
        busy = [t for t in TABLES if _count(target.db, t)]
        if busy:
            raise CopyRefused(f"the target store {target.path} already holds history ({', '.join(busy)}); "
                              "copy into an empty database")
        plan = []
        for table in TABLES:
            if table not in present:
                continue  # a store from before that table's migration
            wanted = set(_columns(target.db, table))
            columns = [c for c in _columns(source, table) if c in wanted]
            plan.append((table, columns, _count(source, table)))
        copied: dict[str, int] = {}
        with target.db.transaction() as tx:
            for table, columns, total in plan:
                names = ", ".join(f'"{c}"' for c in columns)
                insert = f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})"
                done = 0
                progress(table, 0, total)
                with source.read() as src:
                    cursor = src.execute(f"SELECT {names} FROM {table}")
                    while True:
                        rows = cursor.fetchmany(BATCH_ROWS)  # type: ignore[attr-defined]
                        if not rows:
                            break
                        tx.executemany(insert, rows)
                        done += len(rows)
                        progress(table, done, total)
                if "id" in columns:
                    target.db.reset_identity(table)
                copied[table] = done
            if "rollup_mark" in present:
                _add_pending_rollups(source, tx)
        return copied
    finally:
        source.close()


def _add_pending_rollups(source: SqliteDatabase, tx: Tx) -> None:
    """Results the source's daemon stored after its last rollup pass (it died before the next): their rollups,
    added to the copied ones as the daemon's next pass would have."""
    with source.read() as src:
        mark = src.fetchone("SELECT through_rowid FROM rollup_mark WHERE id=0")
        if mark is None:
            return
        pending = src.fetchall("SELECT check_id, ts, duration_seconds, ok, degraded, error, latency_seconds "
                               "FROM results WHERE rowid > ?", (int(mark[0]),))
    if pending:
        Store._write_rollups(tx, rollup_rows(pending).values())
