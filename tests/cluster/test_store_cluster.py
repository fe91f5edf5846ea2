"""The cluster tables on a private PostgreSQL: leases in database time, SKIP LOCKED claims, fenced writes."""

from __future__ import annotations

import threading
from pathlib import Path
import time
from typing import Iterator

import psycopg
import pytest

from netwatch.store import Store
from netwatch.store.cluster import COORDINATOR_SLOT, ClusterError, ClusterStore, StaleLease, guard_coordinator
from tests.peers import postgres

SLOTS = 32


@pytest.fixture
def database(pg_cluster: postgres.Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = pg_cluster.create_database("cl")
    try:
        yield name
    finally:
        pg_cluster.drop_database(name)


@pytest.fixture
def node(pg_cluster: postgres.Cluster, database: str) -> Iterator[ClusterStore]:
    opened: list[ClusterStore] = []
    yield from _factory(pg_cluster, database, opened)


def _factory(pg: postgres.Cluster, database: str, opened: list[ClusterStore]) -> Iterator[ClusterStore]:
    store = ClusterStore(pg.url(database), pg.password, pg.url(database))
    store.ensure_schema(SLOTS)
    opened.append(store)
    try:
        yield store
    finally:
        for s in opened:
            s.close()


def another(pg: postgres.Cluster, database: str) -> ClusterStore:
    store = ClusterStore(pg.url(database), pg.password, pg.url(database))
    store.ensure_schema(SLOTS)
    return store


def test_two_nodes_claim_disjoint_slots_at_once(pg_cluster: postgres.Cluster, database: str,
                                                node: ClusterStore) -> None:
    other = another(pg_cluster, database)
    try:
        node.join("dc-1", "dc", "h", 6)
        other.join("dc-2", "dc", "h", 6)
        got: dict[str, dict[int, int]] = {}
        barrier = threading.Barrier(2)

        def run(name: str, store: ClusterStore) -> None:
            barrier.wait()
            got[name] = store.claim(name, "dc", 20, 6)

        threads = [threading.Thread(target=run, args=("dc-1", node)), threading.Thread(target=run, args=("dc-2", other))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not set(got["dc-1"]) & set(got["dc-2"])
        assert len(got["dc-1"]) + len(got["dc-2"]) == SLOTS      # SKIP LOCKED: the second takes what is left
        assert node.counts("dc") == (2, 0, SLOTS)
        owners = node.owners("dc")
        assert all(owners[s] == "dc-1" for s in got["dc-1"])
        history = node.ownership_history()
        assert len(history) == SLOTS and all(r[4] == "claim" and r[2] is None for r in history)
    finally:
        other.close()


def test_lease_expires_in_database_time_and_a_stale_write_is_refused(pg_cluster: postgres.Cluster, database: str,
                                                                     node: ClusterStore) -> None:
    other = another(pg_cluster, database)
    try:
        node.join("dc-1", "dc", "h", 1)
        mine = node.claim("dc-1", "dc", SLOTS, ttl_seconds=1.0)
        assert len(mine) == SLOTS
        slot = 5
        streak = node.record_step("dc-1", slot, mine[slot], "portal/http", "dc", ok=False, ts=1000.0,
                                  fail_after=3, recover_after=2)
        assert (streak.fails, streak.down, streak.first_failure) == (1, False, 1000.0)
        assert node.renew("dc-1", 1.0) == mine                  # still live: renewed, same epochs
        assert other.claim("dc-2", "dc", SLOTS, 6) == {}               # nothing free
        time.sleep(1.3)                                          # the lease runs out in database time
        assert node.renew("dc-1", 1.0) == {}                     # too late: nothing renewed
        taken = other.claim("dc-2", "dc", SLOTS, 6)
        assert set(taken) == set(range(SLOTS)) and taken[slot] == mine[slot] + 1
        # the old owner, not knowing yet, writes with its old epoch: the database refuses it
        with pytest.raises(StaleLease):
            node.record_step("dc-1", slot, mine[slot], "portal/http", "dc", ok=False, ts=1010.0,
                             fail_after=3, recover_after=2)
        # the new owner continues the streak where the old one stopped: 2nd failure, first one kept
        streak = other.record_step("dc-2", slot, taken[slot], "portal/http", "dc", ok=False, ts=1020.0,
                                   fail_after=3, recover_after=2)
        assert (streak.fails, streak.first_failure, streak.down) == (2, 1000.0, False)
        streak = other.record_step("dc-2", slot, taken[slot], "portal/http", "dc", ok=False, ts=1030.0,
                                   fail_after=3, recover_after=2)
        assert (streak.fails, streak.first_failure, streak.down) == (3, 1000.0, True)
        [(site, down, _, since)] = other.votes(["portal/http"])["portal/http"]
        assert (site, down, since) == ("dc", True, 1000.0)
        expired = [r for r in other.ownership_history() if r[1] == "dc-2"]
        assert len(expired) == SLOTS and all(r[2] == "dc-1" and r[4] == "expired" for r in expired)
        # a write for a slot it never held is refused too
        with pytest.raises(StaleLease):
            node.record_step("dc-1", slot, taken[slot], "x/y", "dc", ok=True, ts=1.0, fail_after=1, recover_after=1)
    finally:
        other.close()


def test_streak_recovery_and_blips(node: ClusterStore) -> None:
    node.join("dc-1", "dc", "h", 6)
    epochs = node.claim("dc-1", "dc", SLOTS, 6)
    step = lambda ok, ts: node.record_step("dc-1", 1, epochs[1], "c", "dc", ok, ts, 2, 2)  # noqa: E731
    assert step(False, 1).first_failure == 1
    assert step(True, 2).first_failure is None            # a blip below fail_after is forgotten
    assert step(False, 3).down is False
    s = step(False, 4)
    assert (s.down, s.first_failure) == (True, 3)
    assert (step(True, 5).down, step(True, 6).down) == (True, False)
    assert step(False, 7).first_failure == 7              # a new outage is dated afresh


def test_release_and_rebalance_history(pg_cluster: postgres.Cluster, database: str, node: ClusterStore) -> None:
    node.join("dc-1", "dc", "h", 6)
    node.claim("dc-1", "dc", SLOTS, 6)
    assert node.release("dc-1", [0, 1, 2, 99]) == [0, 1, 2]
    assert node.counts("dc") == (1, 3, SLOTS)
    assert [r[4] for r in node.ownership_history(3)] == ["rebalance"] * 3
    node.leave("dc-1")
    assert node.counts("dc") == (0, SLOTS, SLOTS)


def test_slot_count_is_fixed_for_the_cluster(pg_cluster: postgres.Cluster, database: str,
                                             node: ClusterStore) -> None:
    wrong = ClusterStore(pg_cluster.url(database), pg_cluster.password, "db")
    try:
        with pytest.raises(ClusterError, match="runs 32 slots, this node is configured for 64"):
            wrong.ensure_schema(64)
    finally:
        wrong.close()


def test_one_coordinator_and_its_guard_inside_the_decision_transaction(
        pg_cluster: postgres.Cluster, database: str, node: ClusterStore) -> None:
    other = another(pg_cluster, database)
    history = Store.open(pg_cluster.spec(database))
    try:
        first = node.coordinate("dc-1", 1.0)
        assert first == 1
        assert other.coordinate("dc-2", 1.0) is None
        assert node.coordinate("dc-1", 1.0) == 1                 # renewing keeps the epoch
        with history.transaction() as tx:
            guard_coordinator(tx, "dc-1", 1)
        time.sleep(1.2)
        assert other.coordinate("dc-2", 6.0) == 2
        with pytest.raises(StaleLease):
            with history.transaction() as tx:
                guard_coordinator(tx, "dc-1", 1)
        assert node.coordinate("dc-1", 6.0) is None
        assert [r[:5] for r in node.ownership_history(2)] == [
            (COORDINATOR_SLOT, "dc-2", "dc-1", 2, "coordinator"), (COORDINATOR_SLOT, "dc-1", None, 1, "coordinator-claim")]
        status = node.status()
        assert status.coordinator == "dc-2" and status.coordinator_epoch == 2
    finally:
        other.close()
        history.close()


def test_one_open_incident_per_check_target_and_alert_is_a_database_rule(
        pg_cluster: postgres.Cluster, database: str, node: ClusterStore) -> None:
    history = Store.open(pg_cluster.spec(database))
    try:
        node.ensure_incident_indexes()
        sql = ("INSERT INTO incidents (key, source, check_id, target_id, severity, category, state, since, opened_at) "
               "VALUES (?, ?, ?, ?, 'critical', 'outage', ?, 1, 1)")
        with history.transaction() as tx:
            tx.execute(sql, ("nw-1", "check", "portal/http", "portal", "open"))
            tx.execute(sql, ("am-f1", "alertmanager", None, None, "open"))
            tx.execute(sql, ("nw-0", "check", "portal/http", "portal", "resolved"))   # resolved ones do not count
            tx.execute(sql, ("nw-3", "check", "dvc/http", "dvc", "open"))             # another target's fault
        # a second open incident of the same check, of the same target (one fault, one incident), of an alert
        for row in [("nw-2", "check", "portal/http", "portal", "acked"),
                    ("nw-4", "check", "portal/web_integrity", "portal", "open"),
                    ("am-f1", "alertmanager", None, None, "open")]:
            with pytest.raises(Exception) as caught:
                with history.transaction() as tx:
                    tx.execute(sql, row)
            assert isinstance(caught.value.__cause__, psycopg.errors.UniqueViolation)
    finally:
        history.close()


def test_status_and_config_hash(pg_cluster: postgres.Cluster, database: str, node: ClusterStore) -> None:
    node.join("dc-1", "dc", "aaa", 6)
    node.join("dc-2", "dc", "aaa", 6)
    node.join("venue-1", "venue", "bbb", 6)
    assert node.cluster_hash() == "aaa"                      # no coordinator: the most common live hash
    node.coordinate("venue-1", 6)
    assert node.cluster_hash() == "bbb"                      # the coordinator's
    assert node.cluster_hash(exclude="venue-1") == "aaa"
    node.refuse("venue-1", "config differs")
    node.claim("dc-1", "dc", 10, 6)
    status = node.status()
    assert (status.slots, status.owned, status.coordinator) == (2 * SLOTS, 10, "venue-1")   # per site
    rows = {n.node: n for n in status.nodes}
    assert rows["dc-1"].slots == 10 and rows["dc-1"].live and not rows["venue-1"].live
    assert rows["venue-1"].refused == "config differs"


def test_unreachable_database_is_one_clear_error_without_the_password(pg_cluster: postgres.Cluster) -> None:
    from tests.support import free_port
    store = ClusterStore(f"postgresql://nw@127.0.0.1:{free_port()}/x", "s3cret-pw", "postgresql://nw@127.0.0.1/x",
                         connect_timeout_seconds=1)
    start = time.monotonic()
    with pytest.raises(ClusterError) as caught:
        store.status()
    assert time.monotonic() - start < 5
    assert "s3cret-pw" not in str(caught.value) and str(caught.value).startswith("cluster database postgresql://")


def test_cluster_status_command_only_reads(pg_cluster: postgres.Cluster, database: str, node: ClusterStore,
                                           tmp_path: "Path") -> None:
    import json
    import subprocess
    import sys

    pw = tmp_path / "pw"
    pw.write_text(pg_cluster.password)
    cfg = tmp_path / "cluster.yaml"
    cfg.write_text(f"""
listen: 127.0.0.1:1
cluster:
  dsn: {{url: "{pg_cluster.url(database)}", password_file: {pw}}}
  node: ${{NETWATCH_NODE}}
  site: dc
  sites: {{dc: {{}}, venue: {{}}}}
  slots: {SLOTS}
targets: []
""")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "NETWATCH_NODE": "ops"}

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "netwatch", "--lang", "en", "cluster", "status", "-c", str(cfg),
                               *extra], capture_output=True, text=True, timeout=60, env=env)

    node.join("dc-1", "dc", "h1", 300)            # long leases: the CLI's start-up is slow on a busy box
    node.join("venue-1", "venue", "h1", 0.001)
    node.claim("dc-1", "dc", 20, 300)
    node.coordinate("dc-1", 300)
    before = node.ownership_history()
    done = run()
    assert done.returncode == 0, done.stderr
    assert "Slots: 20/64 owned" in done.stdout and "Coordinator: dc-1 (epoch 1" in done.stdout
    assert "expired (fenced)" in done.stdout and "WARNING: 44 slots have no owner" in done.stdout
    assert pg_cluster.password not in done.stdout + done.stderr
    data = json.loads(run("--json").stdout)
    assert {n["node"]: (n["live"], n["slots"]) for n in data["nodes"]} == {"dc-1": (True, 20), "venue-1": (False, 0)}
    assert node.ownership_history() == before and "ops" not in {n["node"] for n in data["nodes"]}
    cfg.write_text(cfg.read_text().replace(pg_cluster.password, "x"))
    pw.write_text("wrong-password")
    bad = run()
    assert bad.returncode == 1 and bad.stderr.startswith("netwatch cluster: cluster database postgresql://")
    assert len(bad.stderr.strip().splitlines()) == 1
