"""End to end: PostgreSQL stops (`pg_ctl stop -m immediate`) under a running `netwatch run` while a target
goes down (issue 11, item 3). The DOWN page still leaves within its normal bound (from memory),
"monitoring degraded" is paged once, write errors are counted; when PostgreSQL is back the buffered
results and every transition are written and each dedup key reaches the gateway once."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.e2e.paging_support import page_key, tcp_target, venue
from tests.peers import postgres
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import NetwatchProcess, metric_value, wait_for

NORMAL_BOUND_SECONDS = 7.0     # fail_after 2 x 500 ms + timeout, plus the 2 s before a page leaves from memory
OUTAGE_SECONDS = 15.0


@pytest.fixture
def own_cluster() -> Iterator[postgres.Cluster]:
    """A cluster of this test's own: stopping the session's shared one would fail the tests after it."""
    if not postgres.available():
        pytest.skip("needs PostgreSQL 15 and root to start it")
    cluster = postgres.start_cluster()
    try:
        yield cluster
    finally:
        postgres.remove(cluster)


def sql(cluster: postgres.Cluster, database: str, text: str) -> list[tuple[Any, ...]]:
    import psycopg
    with psycopg.connect(cluster.url(database), password=cluster.password, connect_timeout=5) as conn:
        return conn.execute(text).fetchall()  # type: ignore[arg-type]


def test_postgres_stopped_mid_outage_pages_from_memory_and_loses_no_transition(
        netwatch_process: Callable[..., NetwatchProcess], own_cluster: postgres.Cluster, tmp_path: Path) -> None:
    db = own_cluster.create_database("pg_outage")
    pw = tmp_path / "pg-password"
    pw.write_text(own_cluster.password)
    pw.chmod(0o600)
    sms, chat = HttpSink().start(), HttpSink().start()
    room, hall = TcpTarget().up(), TcpTarget().up()
    try:
        config = venue({"sms": sms, "chat": chat}, tcp_target("room1", room.port) + tcp_target("hall1", hall.port))
        config = config.replace('store: "{store}"', "store: " + json.dumps({"url": own_cluster.url(db),
                                                                              "password_file": str(pw)}))
        nw = netwatch_process(config.replace("lang: en", "lang: vi"))
        wait_for(lambda: len(sql(own_cluster, db, "SELECT 1 FROM transitions WHERE to_state='up'")) == 2, 15,
                 what="both targets up, written")
        results_before = sql(own_cluster, db, "SELECT COUNT(*) FROM results")[0][0]

        own_cluster.stop()                       # pg_ctl stop -m immediate: a crash, connections cut
        stopped_at = time.time()
        room.down()
        down_at = time.time()
        wait_for(lambda: any("room1" in r.body.get("message", "") for r in sms.received), NORMAL_BOUND_SECONDS,
                 0.1, "the DOWN page while PostgreSQL is stopped")
        page = next(r for r in sms.received if "room1" in r.body.get("message", ""))
        assert page.at - down_at <= NORMAL_BOUND_SECONDS, page.at - down_at

        wait_for(lambda: any(str(r.body.get("dedup_key", "")).startswith("degraded-") for r in chat.received),
                 12, 0.2, "the monitoring-degraded notice")
        assert (metric_value(nw.metrics(), "netwatch_store_write_errors_total") or 0) > 0
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.time() - stopped_at)))   # results pile up meanwhile

        own_cluster.start()
        started_at = time.time()
        wait_for(lambda: sql(own_cluster, db, "SELECT COUNT(*) FROM outbox WHERE kind='problem' AND state='sent'")
                 == [(2,)], 40, 0.5, "the incident and its outbox rows written, marked sent")
        written_after = time.time() - started_at
        # Every transition is there: both ups, and room1's down decided while PostgreSQL was stopped.
        transitions = sql(own_cluster, db, "SELECT check_id, to_state, since FROM transitions ORDER BY id")
        assert [(c, s) for c, s, _ in transitions] == [(c, "up") for c, _, _ in transitions[:2]] + [
            ("room1/tcp", "down")], transitions
        since = transitions[2][2]
        assert stopped_at <= since <= down_at + 1.0
        # The results of the outage were buffered and written (2 checks at 500 ms for ~15 s: about 60).
        wait_for(lambda: sql(own_cluster, db, "SELECT COUNT(*) FROM results")[0][0] - results_before
                 >= 2 * OUTAGE_SECONDS, 20, 0.5, "the buffered results written")
        assert sql(own_cluster, db, "SELECT DISTINCT dedup_key FROM outbox WHERE kind='problem'") == [
            (page_key("room1/tcp", since),)]
        assert page.body["dedup_key"] == page_key("room1/tcp", since)

        room.up()
        wait_for(lambda: any(str(r.body.get("dedup_key", "")).endswith("-resolved") for r in sms.received), 15,
                 0.2, "the recovery page")
        time.sleep(1.5)
        for sink in (sms, chat):      # exactly one delivery per dedup key at each gateway
            keys = [k for r in sink.received for k in str(r.body["dedup_key"]).split(",")]
            assert len(keys) == len(set(keys)), keys
        assert len([r for r in chat.received if str(r.body.get("dedup_key")).startswith("degraded-")]) == 1
        assert metric_value(nw.metrics(), "netwatch_monitoring_degraded") == 0
        log = nw.log()
        assert own_cluster.password not in log
        print(f"\nPostgreSQL stopped {OUTAGE_SECONDS:.0f} s: DOWN page {page.at - down_at:.1f} s after the fault; "
              f"written {written_after:.1f} s after PostgreSQL was back")
    finally:
        room.down()
        hall.down()
        sms.stop()
        chat.stop()
