"""Approved page baselines in the history store, handed to web_integrity probes in their ProbeContext.

The daemon hands a writable `Baselines.of_store(store, ...)`; `netwatch probe` a read-only one
(`open_readonly(spec)`) so a one-off run compares with the daemon's baselines without writing. With
none a web_integrity check still applies its forbidden/required rules and says it has no baseline.

A baseline keeps the page as fetched (compressed) next to its fingerprint, so changing a check's
include/ignore selectors recomputes the fingerprint from the approved page instead of silently
approving whatever the site shows now.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from netwatch.egov.fingerprint import Fingerprint
from netwatch.store.baselines import BaselineRows
from netwatch.store.configs import open_readonly
from netwatch.store.db import DB_ERRORS

__all__ = ["Baseline", "Baselines"]

MAX_STORED_BODY_BYTES = 8 << 20


@dataclass(frozen=True)
class Baseline:
    target_id: str
    url: str
    taken_at: float
    approved_by: str
    body: bytes
    content_type: str | None
    fingerprints: dict[str, Fingerprint]   # by Profile.digest()


class Baselines:
    """Approved pages over the store's `baselines` rows. Thread-safe; call from worker threads, not the loop."""

    def __init__(self, rows: BaselineRows, writable: bool, phase_at: Callable[[float], Any] | None = None) -> None:
        self.rows = rows
        self.writable = writable
        self._phase_at = phase_at
        # Digest of the last defacement reported per (target, "url profile"): one history event per
        # distinct change, not one per probe run while it lasts.
        self.reported: dict[tuple[str, str], str] = {}

    @staticmethod
    def of_store(store: Any, phase_at: Callable[[float], Any] | None = None) -> "Baselines":
        """On the daemon's Store (`phase_at(ts)` returns the event phase)."""
        return Baselines(BaselineRows(store.db), True, phase_at)

    @staticmethod
    def open_readonly(spec: Any) -> "Baselines | None":
        """On the config's store without writing; None when there is none (or it cannot be opened)."""
        try:
            db = open_readonly(spec)
        except DB_ERRORS:
            return None
        return Baselines(BaselineRows(db, readonly=True), False) if db is not None else None

    def phase_at(self, ts: float) -> Any:
        return self._phase_at(ts) if self._phase_at is not None else None

    def get(self, target_id: str, url: str) -> Baseline | None:
        row = self.rows.get(target_id, url)
        if row is None:
            return None
        taken_at, approved_by, body, content_type, fingerprints = row
        return Baseline(target_id, url, taken_at, str(approved_by or ""), zlib.decompress(body),
                        content_type, {k: Fingerprint.from_json(v) for k, v in json.loads(fingerprints).items()})

    def put(self, target_id: str, url: str, body: bytes, content_type: str | None,
            fingerprints: dict[str, Fingerprint], taken_at: float, approved_by: str) -> None:
        if not self.writable:
            raise PermissionError("baselines are read-only here")
        self.rows.put(target_id, url, (taken_at, approved_by, zlib.compress(body[:MAX_STORED_BODY_BYTES], 6),
                                       content_type, json.dumps({k: v.to_json() for k, v in fingerprints.items()},
                                                                ensure_ascii=False)))
        for key in [k for k in self.reported if k[0] == target_id and k[1].split(" ", 1)[0] == url]:
            self.reported.pop(key, None)

    def add_fingerprint(self, target_id: str, url: str, profile: str, fp: Fingerprint) -> None:
        """Remember a fingerprint recomputed for another profile (no-op when read-only)."""
        if not self.writable:
            return

        def change(text: str) -> str:
            data = json.loads(text)
            data[profile] = fp.to_json()
            return json.dumps(data, ensure_ascii=False)

        self.rows.update_fingerprints(target_id, url, change)

    def delete(self, target_id: str, url: str) -> bool:
        if not self.writable:
            raise PermissionError("baselines are read-only here")
        return self.rows.delete(target_id, url)

    def listing(self) -> Iterator[tuple[str, str, float, str]]:
        """(target_id, url, taken_at, approved_by) of every baseline."""
        return iter([(t, u, ts, str(by or "")) for t, u, ts, by in self.rows.listing()])
