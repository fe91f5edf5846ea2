"""Recorder and store hardening: history keeps secrets masked, oversized event data stays readable."""

from __future__ import annotations

from pathlib import Path

import pytest

from netwatch.alerting import incidents
from netwatch.alerting.decide import Change, Decision, Page
from netwatch.model import AlertPolicy, Check, Event, State, Target, Transition
from netwatch.recorder import Recorder
from netwatch.store import Store

SECRET = "s3cretQueryKey42"


def _redact(text: str) -> str:
    return text.replace(SECRET, "********")


async def test_transition_detail_and_events_are_redacted_before_they_are_stored(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "h.db"))
    run_id = store.start_run("test", 1, 1000.0)
    committed: list[int] = []
    recorder = Recorder(store, run_id, {}, 86400.0, 86400.0, redact=_redact, on_commit=lambda: committed.append(1))
    transition = Transition("site/http", "site", 1000.0, 999.0, State.UP, State.DOWN, "status",
                            f"got 500 from http://127.0.0.1:8080/?key={SECRET}, expected 200")
    recorder.add_decision(Decision((Change(transition, _page(transition)),)))
    recorder.add_event(1000.0, "site/http", "site", Event("drift", f"line with {SECRET}",
                                                          {"diff": [f"+ key {SECRET}"], "nested": {"k": SECRET}}))
    assert await recorder.flush()
    texts = [str(row) for table in ("transitions", "events")
             for row in store.conn.execute(f"SELECT * FROM {table}").fetchall()]
    assert texts and not any(SECRET in t for t in texts), texts
    assert "********" in texts[0]
    # The decision's page is written with its own transition: the incident points at that very row.
    assert store.conn.execute("SELECT i.check_id, t.to_state FROM incidents i JOIN transitions t "
                              "ON t.id = i.transition_id").fetchall() == [("site/http", "down")]
    assert committed == [1]
    store.close()


def _page(t: Transition) -> Page:
    check = Check(id=t.check_id, target=Target(id=t.target_id, host="127.0.0.1"), kind="tcp",
                  interval_seconds=10.0, timeout_seconds=5.0, alert=AlertPolicy(), settings=None)
    return Page(check, "critical", "availability", ("chat",), False, 0,
                {"check": t.check_id, "since": t.since, "detail": _redact(t.detail)}, None, None)


def test_oversized_event_data_is_stored_as_valid_json(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "h.db"))
    store.record_events([(1000.0, "sw/snmp", "sw", Event("trap", "linkDown", {"varbinds": ["x" * 100] * 500}))])
    store.record_events([(1001.0, "sw/snmp", "sw", Event("trap", "small", {"a": 1}))])
    rows = store.events_between(0.0, 2000.0)
    assert [r[4] for r in rows] == ["linkDown", "small"]
    assert rows[0][5].get("truncated") is True
    assert rows[1][5] == {"a": 1}
    store.close()


async def test_a_failed_write_is_retried_with_the_same_transition_and_committed_once(tmp_path: Path,
                                                                                     monkeypatch) -> None:
    import sqlite3

    store = Store.open(str(tmp_path / "h.db"))
    done: list[int] = []
    recorder = Recorder(store, store.start_run("test", 1, 1000.0), {}, 86400.0, 86400.0,
                        on_commit=lambda: done.append(1))
    calls: list[str] = []
    real_open = incidents.open_incident

    def open_incident(c, new, now):  # type: ignore[no-untyped-def]
        # The incident is written inside the transition's transaction: failing here must roll back both.
        calls.append(new.check_id)
        if len(calls) == 1:
            raise sqlite3.OperationalError("database or disk is full")
        return real_open(c, new, now)

    monkeypatch.setattr(incidents, "open_incident", open_incident)
    transition = Transition("a/tcp", "a", 1000.0, 999.0, State.UP, State.DOWN, "refused", "")
    recorder.add_decision(Decision((Change(transition, _page(transition)),)))
    assert not await recorder.flush()
    assert done == [] and store.conn.execute("SELECT COUNT(*) FROM transitions").fetchone() == (0,)
    assert store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone() == (0,)
    assert await recorder.flush()
    assert calls == ["a/tcp", "a/tcp"] and done == [1]
    assert store.conn.execute("SELECT COUNT(*) FROM transitions").fetchone() == (1,)
    assert store.conn.execute("SELECT COUNT(*) FROM incidents").fetchone() == (1,)
    assert store.conn.execute("SELECT COUNT(*) FROM outbox").fetchone() == (1,)
    store.close()


async def test_pending_results_hold_only_what_the_store_reads(tmp_path: Path) -> None:
    from netwatch.model import Outcome, Result, Series

    store = Store.open(str(tmp_path / "h.db"))
    recorder = Recorder(store, store.start_run("test", 1, 1000.0), {"snmp": "response_seconds"}, 86400.0, 86400.0)
    series = tuple(Series("if_in_octets_total", (("if_name", f"Gi0/{i}"),), float(i)) for i in range(500))
    import time

    result = Result("sw/snmp", "sw", "snmp", time.time(), 0.2, Outcome(
        ok=True, degraded="cpu", detail="x" * 500, series=series,
        measurements={"response_seconds": 0.05, "cpu_ratio": 0.9}))
    recorder.add_result(result)
    # The pending row is what the store writes, nothing more (no Series, detail or other measurements).
    assert recorder.results == [("sw/snmp", result.started_at, 0.2, 1, 1, None, 0.05)]
    assert await recorder.flush()
    row = store.conn.execute("SELECT check_id, ok, degraded, latency_seconds FROM results").fetchone()
    assert row[:3] == ("sw/snmp", 1, 1) and abs(row[3] - 0.05) < 1e-9
    store.close()


async def test_an_idle_flush_hops_to_no_thread_but_the_heartbeat_still_beats(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Every second the recorder flushes; with nothing pending and no heartbeat or prune due, that costs no hop
    to a worker thread. The heartbeat (the run's last_seen_at) is still written when due."""
    import asyncio

    import netwatch.recorder as recorder_module

    store = Store.open(str(tmp_path / "h.db"))
    run_id = store.start_run("test", 1, 1000.0)
    now = [1000.0]
    monkeypatch.setattr(recorder_module.time, "time", lambda: now[0])
    hops: list[object] = []
    real_to_thread = asyncio.to_thread

    async def counted(func: object, *args: object) -> object:
        hops.append(func)
        return await real_to_thread(func, *args)   # type: ignore[arg-type]
    monkeypatch.setattr(recorder_module.asyncio, "to_thread", counted)
    recorder = Recorder(store, run_id, {}, 86400.0, 86400.0)
    assert await recorder.flush()   # the first: heartbeat and prune are due
    assert len(hops) == 1
    now[0] += 1.0
    assert await recorder.flush() and await recorder.flush()
    assert len(hops) == 1
    now[0] += recorder_module.HEARTBEAT_SECONDS
    assert await recorder.flush()
    assert len(hops) == 2
    assert store.conn.execute("SELECT last_seen_at FROM runs WHERE id=?", (run_id,)).fetchone()[0] == now[0]
    recorder.add_event(now[0], None, None, Event("note", "something to write"))
    assert await recorder.flush()
    assert len(hops) == 3
    store.close()
