"""SQLite's rollups by pass (Store.defer_rollups, issue 18): the same rollups as the per-batch upsert, every
stored result counted once, after a pass, a crash, or a prune that gave rowids out again."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

from netwatch.store import Store
from netwatch.store.rollup import BOUNDS_SECONDS, BUCKET_SECONDS, decode_hist, rollup_rows

T0 = 1_800_000_000.0   # a bucket boundary


def batches(seed: int, count: int = 30) -> list[list[tuple[Any, ...]]]:
    """Results as the recorder stores them, with every odd latency: none, negative, zero, exactly on a bound,
    past the last bound, a failed result that has one; several of one check in one bucket and batch."""
    rng = random.Random(seed)
    odd = [None, -1.0, 0.0, *BOUNDS_SECONDS[:3], BOUNDS_SECONDS[-1], BOUNDS_SECONDS[-1] * 3, 1e-7]
    out, ts = [], T0
    for _ in range(count):
        batch = []
        for _ in range(rng.randint(1, 40)):
            ok = rng.random() > 0.2
            latency = rng.choice(odd) if rng.random() < 0.3 else rng.random() * rng.choice([1e-3, 0.1, 2.0])
            batch.append((f"c{rng.randint(0, 12)}/icmp", ts + rng.random() * 50, 0.01, int(ok),
                          int(rng.random() < 0.3), None if ok else "timeout", latency))
        out.append(batch)
        ts += 45.0
    return out


def expected(all_batches: list[list[tuple[Any, ...]]]) -> dict[tuple[str, float], tuple[Any, ...]]:
    """What the per-batch upsert adds up to (the Python path, PostgreSQL's), decoded."""
    totals: dict[tuple[str, float], list[Any]] = {}
    for batch in all_batches:
        for key, row in rollup_rows(batch).items():
            t = totals.setdefault(key, [0, 0, 0, 0, 0.0, 0.0, [0] * (len(BOUNDS_SECONDS) + 1)])
            for i in range(4):
                t[i] += row[3 + i]
            t[4] += row[7]
            t[5] = max(t[5], row[8])
            t[6] = [a + b for a, b in zip(t[6], decode_hist(str(row[9])))]
    return {key: (t[0], t[1], t[2], t[3], round(t[4], 9), t[5], t[6]) for key, t in totals.items()}


def stored(store: Store) -> dict[tuple[str, float], tuple[Any, ...]]:
    return {(r[0], r[1]): (r[2], r[3], r[4], r[5], round(r[6], 9), r[7], r[8])
            for r in store.rollups_between(0, 10 ** 10)}


def raw_rollups(path: Path) -> dict[tuple[str, float], int]:
    conn = sqlite3.connect(path)
    try:
        return {(r[0], r[1]): r[2] for r in conn.execute("SELECT check_id, bucket_start, count FROM rollups")}
    finally:
        conn.close()


def test_a_pass_adds_up_to_what_the_per_batch_upsert_does(tmp_path: Path) -> None:
    for seed in range(5):
        data = batches(seed)
        at_once = Store.open(str(tmp_path / f"once{seed}.db"))
        deferred = Store.open(str(tmp_path / f"deferred{seed}.db"))
        deferred.defer_rollups(3600.0)
        try:
            for batch in data:
                at_once.record_rows(batch)
                deferred.record_rows(batch)
            want = expected(data)
            assert stored(at_once) == want
            assert stored(deferred) == want      # this process's reader passes first
        finally:
            at_once.close()
            deferred.close()


def test_deferred_results_reach_the_rollups_at_the_next_pass_or_at_close(tmp_path: Path) -> None:
    path = tmp_path / "nw.db"
    store = Store.open(str(path))
    store.defer_rollups(3600.0)
    data = batches(7, 6)
    store.record_rows(data[0])        # the first is a pass (none ran yet)
    for batch in data[1:]:
        store.record_rows(batch)
    seen = raw_rollups(path)          # another reader, before the next pass: only the first batch
    assert sum(seen.values()) == len(data[0])
    store.close()                     # the way out passes
    assert sum(raw_rollups(path).values()) == sum(len(b) for b in data)


def test_results_of_a_run_that_died_before_its_pass_are_counted_once_by_the_next_run(tmp_path: Path) -> None:
    path = str(tmp_path / "nw.db")
    data = batches(11, 8)
    first = Store.open(path)
    first.defer_rollups(3600.0)
    for batch in data[:5]:
        first.record_rows(batch)
    first.db.close()                  # killed: no flush, no pass since the first batch
    second = Store.open(path)
    second.defer_rollups(3600.0)
    try:
        for batch in data[5:]:
            second.record_rows(batch)  # its first record_rows is a pass over everything after the mark
        assert stored(second) == expected(data)
    finally:
        second.close()


def test_rowids_given_out_again_after_a_prune_are_still_counted(tmp_path: Path) -> None:
    """A store idle past its retention: the prune removes every result, SQLite starts rowids at 1 again."""
    path = str(tmp_path / "nw.db")
    store = Store.open(path)
    try:
        old, new = batches(3, 4), batches(4, 3)
        for batch in old:
            store.record_rows(batch)
        store.prune(T0 + 10 ** 7, 1.0, 10 ** 9)   # every raw result is past a 1 s retention; rollups are kept
        with store.db.read() as tx:
            assert tx.fetchone("SELECT COUNT(*) FROM results") == (0,)
        for batch in new:
            store.record_rows(batch)
        assert stored(store) == expected(old + new)
    finally:
        store.close()


def test_late_rows_are_rolled_up_like_the_others(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "nw.db"))
    store.defer_rollups(3600.0)
    try:
        data = batches(5, 4)
        store.record_rows(data[0])
        store.record_rows(data[1], late=True)
        store.record_rows(data[2])
        store.record_rows(data[3], late=True)
        assert stored(store) == expected(data)
        with store.db.read() as tx:
            assert tx.fetchone("SELECT SUM(late) FROM results") == (len(data[1]) + len(data[3]),)
    finally:
        store.close()


def test_a_closed_bucket_is_compacted_by_the_pass_that_moves_past_it(tmp_path: Path) -> None:
    path = tmp_path / "nw.db"
    store = Store.open(str(path))
    try:
        for i in range(4):
            store.record_rows([("a/icmp", T0 + i, 0.01, 1, 0, None, 0.001)])   # four fragments of one bin
        conn = sqlite3.connect(path)
        [(text,)] = conn.execute("SELECT latency_hist FROM rollups WHERE bucket_start=?", (T0,)).fetchall()
        assert text.count(",") == 3
        store.record_rows([("a/icmp", T0 + BUCKET_SECONDS, 0.01, 1, 0, None, 0.001)])
        [(text,)] = conn.execute("SELECT latency_hist FROM rollups WHERE bucket_start=?", (T0,)).fetchall()
        conn.close()
        assert "," not in text and sum(decode_hist(text)) == 4
    finally:
        store.close()
