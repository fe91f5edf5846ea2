"""The board's cluster panel (/api/v1/cluster) on two real `netwatch run` nodes sharing a private PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
from pathlib import Path
from typing import Any, Callable

import psycopg

from netwatch.cluster.slots import slot_of
from netwatch.store.cluster import ClusterStore
from tests.cluster.test_nodes import (SLOTS, Nodes, cluster_config, database, nodes, owners, sinks,  # noqa: F401
                                      sql)
from tests.e2e.paging_support import tcp_target, venue
from tests.peers import postgres
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import NetwatchProcess, http_get, wait_for


def cluster_api(proc: NetwatchProcess) -> tuple[int, dict[str, Any]]:
    try:
        code, body = http_get(proc.base_url + "/api/v1/cluster", 10.0)
    except urllib.error.HTTPError as exc:
        code, body = exc.code, exc.read().decode("utf-8", "replace")
    return code, json.loads(body) if body.strip().startswith("{") else {}


def board(proc: NetwatchProcess) -> dict[str, Any]:
    return dict(json.loads(http_get(proc.base_url + "/api/v1/board")[1]))


def by_node(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["node"]: n for n in data.get("nodes", [])}


def test_two_nodes_on_the_panel_then_kill_9_then_an_unreadable_database(
        pg_cluster: postgres.Cluster, database: str, tmp_path: Path, sinks: dict[str, HttpSink],  # noqa: F811
        nodes: Nodes) -> None:  # noqa: F811
    web = [TcpTarget().up() for _ in range(4)]
    try:
        text = cluster_config(pg_cluster, database, tmp_path, sinks,
                              "".join(tcp_target(f"web{i}", t.port) for i, t in enumerate(web)))
        a = nodes.start(text, "dc-1")
        wait_for(lambda: set(owners(pg_cluster, database).values()) == {"dc-1"}, 20, what="dc-1 owns every slot")
        b = nodes.start(text, "dc-2")
        wait_for(lambda: sorted(list(owners(pg_cluster, database).values()).count(n) for n in ("dc-1", "dc-2"))
                 == [SLOTS // 2, SLOTS // 2], 20, what="each node holds its fair share")
        assert board(b)["cluster"] is True   # the page polls the panel only in cluster mode

        def settled() -> dict[str, Any] | None:
            code, data = cluster_api(b)
            nodes_ = by_node(data)
            ok = (code == 200 and set(nodes_) == {"dc-1", "dc-2"}
                  and [nodes_[n]["slots"] for n in ("dc-1", "dc-2")] == [SLOTS // 2, SLOTS // 2])
            return data if ok else None
        data = wait_for(settled, 10, 0.2, what="both nodes with their share on dc-2's panel")
        assert data["slots"] == SLOTS and data["owned"] == SLOTS and data["unowned"] == 0
        assert data["coordinator"]["node"] == "dc-1" and data["coordinator"]["lease_left_seconds"] > 0
        one, two = by_node(data)["dc-1"], by_node(data)["dc-2"]
        assert one["state"] == two["state"] == "live" and one["coordinator"] and not two["coordinator"]
        assert one["site"] == "dc" and 0 <= one["last_renew_age_seconds"] < 3.0
        assert not one["config_differs"] and one["refused"] is None
        assert data["sites"] == [{"site": "dc", "nodes": 2, "live": 2, "slots": SLOTS, "state": "ok",
                                  "isolated": False, "suspect": False}]
        assert (data["isolated_sites"], data["suspect_sites"]) == ([], [])
        code, other = cluster_api(a)   # any node shows the whole cluster
        assert code == 200 and set(by_node(other)) == {"dc-1", "dc-2"}

        # kill -9 the coordinator: the survivor's panel shows it fenced, itself coordinating, the site short
        a.kill9()

        def taken_over() -> dict[str, Any] | None:
            code, data = cluster_api(b)
            nodes_ = by_node(data)
            ok = (code == 200 and nodes_.get("dc-1", {}).get("state") == "fenced"
                  and (data.get("coordinator") or {}).get("node") == "dc-2" and nodes_["dc-2"]["slots"] == SLOTS)
            return data if ok else None
        data = wait_for(taken_over, 30, 0.3, what="dc-1 fenced, dc-2 coordinating on the panel")
        assert by_node(data)["dc-1"]["slots"] == 0 and by_node(data)["dc-1"]["last_renew_age_seconds"] > 3.0
        assert data["sites"] == [{"site": "dc", "nodes": 2, "live": 1, "slots": SLOTS, "state": "degraded",
                                  "isolated": False, "suspect": False}]

        # A status read that cannot finish (its table locked): the panel's words, fast, and the board unharmed.
        locked, release = threading.Event(), threading.Event()

        def hold_lock() -> None:
            with psycopg.connect(pg_cluster.url(database), password=pg_cluster.password, connect_timeout=5) as conn:
                conn.execute("LOCK TABLE cluster_nodes IN ACCESS EXCLUSIVE MODE")
                locked.set()
                release.wait(20)
                conn.rollback()
        holder = threading.Thread(target=hold_lock, daemon=True)
        holder.start()
        try:
            assert locked.wait(10)
            started = time.monotonic()
            code, data = cluster_api(b)
            took = time.monotonic() - started
            assert code == 503, (code, data)
            assert data["words"]["vi"] == "không đọc được trạng thái cụm" and data["error"] == "unreadable"
            assert took < 4.0, took   # bounded by the board's wait, not by the database
            print(f"\nlocked cluster table -> 503 with the panel's words in {took:.2f} s")
            assert "cluster" in board(b)   # the board itself still answers
        finally:
            release.set()
            holder.join(10)
        wait_for(lambda: cluster_api(b)[0] == 200, 15, 0.3, what="the panel readable again")
        assert "cluster status not read" in b.log()
        assert pg_cluster.password not in b.log()
    finally:
        for t in web:
            t.down()


def test_a_single_node_has_no_cluster_panel(netwatch_process: Callable[..., NetwatchProcess]) -> None:
    target = TcpTarget().up()
    sink = HttpSink().start()
    try:
        proc = netwatch_process(venue({"chat": sink}, tcp_target("web0", target.port)))
        data = board(proc)
        assert data["cluster"] is False
        code, _ = cluster_api(proc)
        assert code == 404
    finally:
        sink.stop()
        target.down()


class OtherSites:
    """The venue's and a POP's nodes as the database sees them (rows written as live nodes write them): the
    venue's view of its anchor, and both sites' votes on the checks that list all three sites."""

    def __init__(self, pg: postgres.Cluster, database: str, config_hash: str, anchor: str, checks: list[str]) -> None:
        self.store = ClusterStore(pg.url(database), pg.password, "test")
        self.anchor, self.checks = anchor, checks
        self.leases = {}
        for site in ("venue", "pop"):
            self.store.join(f"{site}-1", site, config_hash, 300)
            self.leases[site] = self.store.claim(f"{site}-1", site, SLOTS, 300)
        self.venue_sees_anchor = False
        self.pop_votes_down = True
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.report, daemon=True)
        self.thread.start()

    def report(self) -> None:   # as live nodes do, every probe round
        while not self.stop.is_set():
            self.store.record_anchors("venue-1", "venue", {self.anchor: self.venue_sees_anchor})
            for cid in self.checks:
                for site, down in (("venue", False), ("pop", self.pop_votes_down)):
                    slot = slot_of(cid, site, SLOTS)
                    self.store.record_step(f"{site}-1", slot, self.leases[site][slot], cid, site, not down,
                                           time.time(), 1, 1)
            self.stop.wait(0.5)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.store.close()


def gauge(proc: NetwatchProcess, name: str) -> dict[str, float]:
    return {labels["site"]: value for labels, value in proc.metrics().get(name, [])}


def test_isolated_and_suspect_sites_on_the_panel_as_in_metrics_and_cluster_status(
        pg_cluster: postgres.Cluster, database: str, tmp_path: Path, sinks: dict[str, HttpSink],  # noqa: F811
        nodes: Nodes) -> None:  # noqa: F811
    anchor_server = TcpTarget().up()
    web = [TcpTarget().up() for _ in range(5)]
    others: OtherSites | None = None
    anchor = f"127.0.0.1:{anchor_server.port}"
    try:
        targets = "".join(f"  - {{id: c{i}, host: 127.0.0.1, zone: hall, checks: [{{kind: tcp, port: {t.port}, "
                          "vantage: [dc, venue, pop]}]}\n" for i, t in enumerate(web))
        text = cluster_config(pg_cluster, database, tmp_path, sinks, targets).replace(
            "  sites: {dc: {}}\n",
            f"  sites: {{dc: {{anchors: ['{anchor}']}}, venue: {{anchors: ['{anchor}']}}, pop: {{}}}}\n")
        a = nodes.start(text, "dc-1")
        wait_for(lambda: set(owners(pg_cluster, database).values()) == {"dc-1"}, 20, what="dc-1 owns every slot")
        b = nodes.start(text, "dc-2")
        [(config_hash,)] = sql(pg_cluster, database, "SELECT config_hash FROM cluster_nodes WHERE node = 'dc-1'")
        # dc sees the anchor up; the venue sees it fail (isolated); the POP votes every check down while dc and
        # the venue see them up (suspect)
        others = OtherSites(pg_cluster, database, config_hash, anchor, [f"c{i}/tcp" for i in range(5)])

        def flagged(proc: NetwatchProcess, isolated: list[str], suspect: list[str]) -> dict[str, Any] | None:
            code, data = cluster_api(proc)
            ok = code == 200 and (data.get("isolated_sites"), data.get("suspect_sites")) == (isolated, suspect)
            return data if ok else None
        data = wait_for(lambda: flagged(b, ["venue"], ["pop"]), 20, 0.3, what="venue isolated, pop suspect on dc-2")
        sites = {s["site"]: s for s in data["sites"]}
        assert (sites["venue"]["isolated"], sites["venue"]["suspect"]) == (True, False)
        assert (sites["pop"]["isolated"], sites["pop"]["suspect"]) == (False, True)
        assert (sites["dc"]["isolated"], sites["dc"]["suspect"], sites["dc"]["nodes"]) == (False, False, 2)
        assert flagged(a, ["venue"], ["pop"]), cluster_api(a)     # every node's panel says the same

        # `netwatch cluster status` (the same rule, read by the command): the same sites
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NETWATCH_NODE": "ops",
               "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        done = subprocess.run([sys.executable, "-m", "netwatch", "cluster", "status", "-c",
                               str(tmp_path / "dc-1" / "netwatch.yaml"), "--json"],
                              capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        status = json.loads(done.stdout)
        assert (status["isolated_sites"], status["suspect_sites"]) == (["venue"], ["pop"])

        # the metrics: isolation on every node, suspect as the coordinator's verdict (dc-1 started first)
        def metrics_say(proc: NetwatchProcess, suspect_pop: float) -> bool:
            isolated = gauge(proc, "netwatch_cluster_site_isolated")
            suspect = gauge(proc, "netwatch_cluster_site_suspect")
            return (isolated == {"dc": 0.0, "venue": 1.0, "pop": 0.0}
                    and suspect == {"dc": 0.0, "venue": 0.0, "pop": suspect_pop})
        wait_for(lambda: metrics_say(a, 1.0), 15, 0.3, what="dc-1's /metrics: venue isolated, pop suspect")
        wait_for(lambda: metrics_say(b, 0.0), 15, 0.3, what="dc-2's /metrics: venue isolated, no verdict on pop")

        # the venue's uplink is back and the POP agrees again: the panel and the metrics clear
        others.venue_sees_anchor, others.pop_votes_down = True, False
        wait_for(lambda: flagged(b, [], []), 20, 0.3, what="no flagged site on dc-2's panel")
        wait_for(lambda: gauge(a, "netwatch_cluster_site_isolated").get("venue") == 0.0
                 and gauge(a, "netwatch_cluster_site_suspect").get("pop") == 0.0, 20, 0.3,
                 what="dc-1's /metrics clear")
    finally:
        if others is not None:
            others.close()
        for t in (anchor_server, *web):
            t.down()
