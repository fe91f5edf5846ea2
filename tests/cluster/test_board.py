"""The board's cluster panel (/api/v1/cluster) on two real `netwatch run` nodes sharing a private PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
from pathlib import Path
from typing import Any, Callable

import psycopg

from tests.cluster.test_nodes import SLOTS, Nodes, cluster_config, database, nodes, owners, sinks  # noqa: F401 (fixtures)
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
        assert data["sites"] == [{"site": "dc", "nodes": 2, "live": 2, "slots": SLOTS, "state": "ok"}]
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
        assert data["sites"] == [{"site": "dc", "nodes": 2, "live": 1, "slots": SLOTS, "state": "degraded"}]

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
