"""Back-end-neutral connection and transactions: SQL is written once, with `?` placeholders."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Protocol, Sequence

__all__ = ["Database", "Tx", "Rows", "DB_ERRORS", "StoreError", "FencedWrite"]

Params = Sequence[Any] | None


class StoreError(Exception):
    """The history database cannot be opened or written."""


class FencedWrite(StoreError):
    """Cluster mode: the database refused a write whose lease (slot or coordinator) this node no longer holds.

    Not a failure to retry: the write belongs to the node that holds the lease now, so it is dropped."""


class Rows(Protocol):
    """What `Tx.execute` returns: the driver's cursor (sqlite3 or psycopg), used only like this."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


# Catch these around store calls: the PostgreSQL back end raises StoreError for every driver error (so
# psycopg loads only when a PostgreSQL store is used), SQLite its own errors. The recorder counts them in
# netwatch_store_write_errors_total on both back ends.
DB_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, StoreError)


class Tx:
    """A session on the database; inside `Database.transaction()` every statement is one atomic write."""

    def __init__(self, db: "Database") -> None:
        self.db = db

    def execute(self, sql: str, params: Params = ()) -> Rows:
        return self.db._execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.db._executemany(sql, rows)

    def fetchone(self, sql: str, params: Params = ()) -> tuple[Any, ...] | None:
        row = self.execute(sql, params).fetchone()
        return tuple(row) if row is not None else None

    def fetchall(self, sql: str, params: Params = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.execute(sql, params).fetchall()]

    def insert(self, sql: str, params: Params = ()) -> int:
        """Run an INSERT and return the new row's `id` (RETURNING works on SQLite >= 3.35 and PostgreSQL)."""
        row = self.execute(sql + " RETURNING id", params).fetchone()
        return int(row[0])


class Database:
    """One connection serialised by a lock (callers use it from worker threads), on either back end."""

    backend: str = ""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._local = threading.local()
        self.session = Tx(self)  # statements outside a transaction: autocommit, one at a time
        self._changes = threading.Condition(threading.Lock())
        self._generation = 0
        # Other connections' commits as last seen by a look at the store (SQLite: each look at data_version;
        # PostgreSQL: each notification wait_for_change takes for one): what seen_marker gives without I/O.
        self._external_seen = 0

    # -- to implement per back end ---------------------------------------------------------
    def _execute(self, sql: str, params: Params) -> Rows:
        raise NotImplementedError

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def script(self, sql: str) -> None:
        """Run several statements without parameters (schema migrations), inside the current transaction."""
        raise NotImplementedError

    def tables(self) -> set[str]:
        raise NotImplementedError

    def lock_schema(self) -> None:
        """Inside a transaction: wait for any other process changing the schema (SQLite: BEGIN IMMEDIATE
        already serialises writers)."""

    def reset_identity(self, table: str) -> None:
        """After rows were inserted with explicit ids: make the next generated id follow them."""

    def has_table(self, name: str) -> bool:
        """For read-only use of a store that may predate a migration."""
        return name in self.tables()

    def close(self) -> None:
        raise NotImplementedError

    def _external_generation(self) -> int:
        """A number that changes when another connection commits (0 if the back end cannot tell)."""
        return 0

    # -- shared ----------------------------------------------------------------------------
    def _commit_quiet(self) -> None:
        """Commit without telling other processes' watchers (PostgreSQL: no NOTIFY)."""
        self._commit()

    @contextmanager
    def transaction(self, notify: bool = True) -> Iterator[Tx]:
        """A write transaction (BEGIN IMMEDIATE on SQLite). A nested call joins the outer one (and its `notify`).

        `notify=False`: a write no watcher needs to hear of (raw results, the run's heartbeat, retention): it
        does not wake this process's `wait_for_change` (nor, on PostgreSQL, another's: no NOTIFY; SQLite's
        data_version still shows it to other processes), so the outbox watch and delivery stay asleep through
        the writer's commits each second."""
        with self.lock:
            depth = getattr(self._local, "depth", 0)
            if depth:
                self._local.depth = depth + 1
                try:
                    yield self.session
                finally:
                    self._local.depth = depth
                return
            self._begin()
            self._local.depth = 1
            try:
                yield self.session
            except BaseException:
                self._local.depth = 0
                self._rollback()
                raise
            self._local.depth = 0
            if notify:
                self._commit()
            else:
                self._commit_quiet()
        if notify:
            self._changed()

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """Statements that read (each in its own snapshot); holds the lock so no write interleaves."""
        with self.lock:
            yield self.session

    def _changed(self) -> None:
        with self._changes:
            self._generation += 1
            self._changes.notify_all()

    def change_marker(self) -> tuple[int, int]:
        """Compare two markers to know whether anything committed in between (any process)."""
        with self._changes:
            local = self._generation
        return (local, self._external_generation())

    def seen_marker(self) -> tuple[int, int]:
        """change_marker without I/O, for the event loop: this process's commits at once, other processes' as of
        the last look at the store (the outbox watch looks every EXTERNAL_CHECK_SECONDS on SQLite and is told at
        once on PostgreSQL). Two equal markers say nothing was seen to commit in between."""
        return (self._generation, self._external_seen)

    def wait_for_change(self, timeout_seconds: float, since: tuple[int, int] | None = None) -> bool:
        """Block until a commit (this process or another) after `since`, or the timeout; True on a change."""
        raise NotImplementedError


class SqliteDatabase(Database):
    """The embedded default: one file, WAL, `PRAGMA data_version` to notice other processes' commits."""

    backend = "sqlite"
    # Another process's commit (the CLI's `ack`, `maintenance add`) is seen at the next look at data_version:
    # a cheap read of the WAL index in shared memory, no disk I/O. In-process commits wake waiters at once.
    # Once a second: each look wakes the watching thread, ~0.2 ms of CPU on a small VM, so four a second were
    # a fifth of an idle daemon's CPU; a second is still quick for a person at the CLI.
    EXTERNAL_CHECK_SECONDS = 1.0

    def __init__(self, path: str, readonly: bool = False) -> None:
        super().__init__()
        self.path = path
        self.readonly = readonly
        if readonly:
            from pathlib import Path
            self.raw = sqlite3.connect(Path(path).absolute().as_uri() + "?mode=ro", uri=True, timeout=30,
                                       check_same_thread=False, isolation_level=None)
        else:
            self.raw = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
            # Switching a new file to WAL needs an exclusive lock and SQLite answers "locked" at once,
            # without its busy handler, while another process creates the same store: wait and retry.
            for attempt in range(100):
                try:
                    self.raw.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or attempt == 99:
                        raise
                    time.sleep(0.05)
            self.raw.execute("PRAGMA synchronous=NORMAL")
            self.raw.execute("PRAGMA foreign_keys=ON")
        self._watcher: sqlite3.Connection | None = None
        self._watch_lock = threading.Lock()

    def _execute(self, sql: str, params: Params) -> Rows:
        return self.raw.execute(sql, tuple(params or ()))

    def _executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        # One step per row, each releasing the GIL for microseconds. Multi-row INSERTs (64 rows a statement)
        # were tried: the writer's user CPU fell, but in the daemon its system time rose as much (long GIL-free
        # steps let the event loop take the GIL, and getting it back costs a futex wait); bench/README.md, round 4.
        self.raw.executemany(sql, rows)

    def _begin(self) -> None:
        self.raw.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self.raw.execute("COMMIT")

    def _rollback(self) -> None:
        if self.raw.in_transaction:
            self.raw.execute("ROLLBACK")

    def script(self, sql: str) -> None:
        # executescript would COMMIT the open transaction first; run statement by statement instead.
        for statement in _split_statements(sql):
            self.raw.execute(statement)

    def tables(self) -> set[str]:
        with self.lock:
            return {r[0] for r in self.raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def close(self) -> None:
        with self.lock:
            self.raw.close()
        with self._watch_lock:
            if self._watcher is not None:
                self._watcher.close()
                self._watcher = None

    def _external_generation(self) -> int:
        self._external_seen = seen = self._look_at_data_version()   # what seen_marker gives
        return seen

    def _look_at_data_version(self) -> int:
        if self.path == ":memory:" or self.path.startswith("file::memory:"):
            return 0
        # data_version moves for commits by OTHER connections: read on this process's own connection it
        # ignores this process's commits (quiet ones included, which must not wake anyone) and still sees
        # every other process's. Never wait for that connection, though: while a write or a long read holds
        # it, the watcher connection answers, which also counts this process's commits (a spurious wake at
        # worst). Even and odd numbers keep the two counts from ever comparing equal.
        if self.lock.acquire(blocking=False):
            try:
                return 2 * int(self.raw.execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.ProgrammingError:
                pass   # closed: the watcher connection answers as before
            finally:
                self.lock.release()
        with self._watch_lock:
            if self._watcher is None:
                # data_version only moves for commits by OTHER connections, so it needs its own.
                self._watcher = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            return 2 * int(self._watcher.execute("PRAGMA data_version").fetchone()[0]) + 1

    def wait_for_change(self, timeout_seconds: float, since: tuple[int, int] | None = None) -> bool:
        import time
        start = since if since is not None else self.change_marker()
        deadline = time.monotonic() + timeout_seconds
        while True:
            with self._changes:
                if self._generation != start[0]:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changes.wait(min(left, self.EXTERNAL_CHECK_SECONDS))
                if self._generation != start[0]:
                    return True
            if self._external_generation() != start[1]:
                return True


def _split_statements(sql: str) -> list[str]:
    """Split a schema script on `;` outside quotes and comments (our migrations have no triggers)."""
    out, buf, quote, i = [], [], "", 0
    while i < len(sql):
        ch = sql[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            buf.append(ch)
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        elif ch == ";":
            statement = "".join(buf).strip()
            if statement:
                out.append(statement)
            buf = []
        else:
            buf.append(ch)
        i += 1
    tail = "".join(buf).strip()
    if tail:
        out.append(tail)
    return out
