"""Configuration versions and freezes (SSH config backup): the `config_versions`/`config_freezes` tables."""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol

from netwatch.store.db import Database, Tx

if TYPE_CHECKING:
    from netwatch.store import StoreLocation

__all__ = ["Repository", "Version", "Freeze", "Observation", "PhaseLike", "PhaseAt", "digest", "open_readonly"]


def open_readonly(spec: "str | StoreLocation") -> Database | None:
    """A connection that never writes; None for a SQLite file that does not exist (nothing was recorded)."""
    import os
    from netwatch.store import connect
    path = spec if isinstance(spec, str) else spec.path
    if path is not None and not os.path.exists(path):
        return None
    return connect(spec, readonly=True)


class PhaseLike(Protocol):
    id: str
    start: float
    end: float


PhaseAt = Callable[[float], "PhaseLike | None"]


@dataclass(frozen=True)
class Version:
    id: int                 # 0 for a version seen by a read-only repository and not stored
    target_id: str
    ts: float               # first seen
    last_seen_at: float
    sha256: str
    text: str               # masked


@dataclass(frozen=True)
class Freeze:
    id: int
    target_id: str
    ts: float
    version: Version | None     # None: the baseline was cleared
    reason: str                 # "manual" or "phase"
    phase_id: str | None = None


@dataclass(frozen=True)
class Observation:
    """Where a freshly fetched (masked) config stands in the history."""

    current: Version
    new: bool                       # differs from the latest version before it
    previous: Version | None        # that latest version
    versions: int                   # stored versions for the target, this one included
    baseline: Version | None        # the frozen baseline, if any
    frozen_now: bool = False        # this observation froze the baseline (start of a phase)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Repository:
    """Config versions and freezes on a `Database` (either back end)."""

    def __init__(self, db: "Database | Tx", lock: object = None, writable: bool = True,
                 phase_at: PhaseAt | None = None, owned: bool = False) -> None:
        # `Repository(store.conn, store.lock)` still works while callers move to `Repository(store.db)`.
        self.db: Database = db.db if isinstance(db, Tx) else db
        self.writable = writable
        self.phase_at = phase_at
        self._owned = owned

    @staticmethod
    def open_readonly(spec: "str | StoreLocation", phase_at: PhaseAt | None = None) -> "Repository | None":
        """A repository that never writes, or None when there is no store (a missing SQLite file)."""
        db = open_readonly(spec)
        return Repository(db, writable=False, phase_at=phase_at, owned=True) if db is not None else None

    @contextmanager
    def _tx(self) -> Iterator[Tx]:
        if not self.writable:
            with self.db.read() as tx:
                yield tx
            return
        with self.db.transaction() as tx:
            yield tx

    # -- reading ---------------------------------------------------------------------------
    def latest(self, target_id: str) -> Version | None:
        rows = self._query("SELECT id, target_id, ts, last_seen_at, sha256, text FROM config_versions "
                           "WHERE target_id=? ORDER BY id DESC LIMIT 1", (target_id,))
        return Version(*rows[0]) if rows else None

    def version(self, version_id: int) -> Version | None:
        rows = self._query("SELECT id, target_id, ts, last_seen_at, sha256, text FROM config_versions "
                           "WHERE id=?", (version_id,))
        return Version(*rows[0]) if rows else None

    def versions(self, target_id: str) -> list[Version]:
        return [Version(*r) for r in self._query(
            "SELECT id, target_id, ts, last_seen_at, sha256, text FROM config_versions WHERE target_id=? "
            "ORDER BY id", (target_id,))]

    def count(self, target_id: str) -> int:
        rows = self._query("SELECT COUNT(*) FROM config_versions WHERE target_id=?", (target_id,))
        return int(rows[0][0]) if rows else 0

    def freeze_of(self, target_id: str) -> Freeze | None:
        """The latest freeze (its version is the baseline; None after a clear)."""
        rows = self._query("SELECT id, target_id, ts, version_id, reason, phase_id FROM config_freezes "
                           "WHERE target_id=? ORDER BY id DESC LIMIT 1", (target_id,))
        if not rows:
            return None
        fid, tid, ts, vid, reason, phase_id = rows[0]
        return Freeze(fid, tid, ts, self.version(vid) if vid is not None else None, reason, phase_id)

    def baseline(self, target_id: str) -> Version | None:
        f = self.freeze_of(target_id)
        return f.version if f is not None else None

    def _query(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        if not self.writable and not self.db.has_table("config_versions"):
            return []  # a store older than the 0003 migration (read-only use)
        with self.db.read() as tx:
            return tx.fetchall(sql, args)

    # -- writing ---------------------------------------------------------------------------
    def observe(self, target_id: str, text: str, now: float, freeze_at_phase: str | None = None) -> Observation:
        """Record `text` (already masked) if it is a new version; freeze it at the start of a phase."""
        sha = digest(text)
        with self._tx() as c:
            previous = self.latest(target_id)
            if previous is not None and previous.sha256 == sha:
                if self.writable:
                    c.execute("UPDATE config_versions SET last_seen_at=? WHERE id=?", (now, previous.id))
                current, new = Version(previous.id, target_id, previous.ts, now, sha, text), False
                before = self._before(target_id, previous.id)
            elif self.writable:
                vid = c.insert("INSERT INTO config_versions (target_id, ts, last_seen_at, sha256, bytes, text) "
                               "VALUES (?,?,?,?,?,?)", (target_id, now, now, sha, len(text.encode()), text))
                current, new, before = Version(vid, target_id, now, now, sha, text), True, previous
            else:
                current, new, before = Version(0, target_id, now, now, sha, text), True, previous
            frozen_now = False
            phase = self.phase_at(now) if self.phase_at is not None and freeze_at_phase else None
            if self.writable and phase is not None and phase.id == freeze_at_phase:
                done = c.execute("SELECT 1 FROM config_freezes WHERE target_id=? AND phase_id=? AND phase_start=?",
                                 (target_id, phase.id, phase.start)).fetchone()
                if done is None:
                    self._insert_freeze(c, target_id, current.id, now, "phase", phase.id, phase.start)
                    frozen_now = True
            versions = self.count(target_id) + (1 if current.id == 0 else 0)
            baseline = self.baseline(target_id)
        return Observation(current, new, before, versions, baseline, frozen_now)

    def _before(self, target_id: str, version_id: int) -> Version | None:
        rows = self._query("SELECT id, target_id, ts, last_seen_at, sha256, text FROM config_versions "
                           "WHERE target_id=? AND id<? ORDER BY id DESC LIMIT 1", (target_id, version_id))
        return Version(*rows[0]) if rows else None

    def freeze(self, target_id: str, version_id: int | None, now: float, reason: str = "manual") -> Freeze:
        """Make a stored version the baseline (None lifts the freeze)."""
        if not self.writable:
            raise PermissionError("this history store is open read-only")
        with self._tx() as c:
            fid = self._insert_freeze(c, target_id, version_id, now, reason, None, None)
        return Freeze(fid, target_id, now, self.version(version_id) if version_id is not None else None, reason)

    @staticmethod
    def _insert_freeze(c: Tx, target_id: str, version_id: int | None, now: float, reason: str,
                       phase_id: str | None, phase_start: float | None) -> int:
        return c.insert("INSERT INTO config_freezes (target_id, ts, version_id, reason, phase_id, phase_start) "
                        "VALUES (?,?,?,?,?,?)", (target_id, now, version_id, reason, phase_id, phase_start))

    def close(self) -> None:
        if self._owned:
            self.db.close()
