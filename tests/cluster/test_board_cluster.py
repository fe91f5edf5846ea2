"""The board's cluster view: two real nodes on one private PostgreSQL, read through /api/v1/board."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cluster.test_nodes import SLOTS, Nodes, cluster_config, database, nodes, owners, sinks  # noqa: F401
from tests.e2e.paging_support import tcp_target
from tests.peers import postgres
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import http_get, wait_for


def test_the_board_shows_nodes_sites_slots_coordinator_and_a_dead_node(
        pg_cluster: postgres.Cluster, database: str, tmp_path: Path, sinks: dict[str, HttpSink],  # noqa: F811
        nodes: Nodes) -> None:  # noqa: F811
    web = TcpTarget().up()
    text = cluster_config(pg_cluster, database, tmp_path, sinks, tcp_target("web0", web.port))
    procs = {"dc-1": nodes.start(text, "dc-1"), "dc-2": nodes.start(text, "dc-2")}
    wait_for(lambda: sorted(list(owners(pg_cluster, database).values()).count(n) for n in procs)
             == [SLOTS // 2, SLOTS // 2], 30, 0.2, what="balanced slots")

    def board() -> dict:
        return json.loads(http_get(procs["dc-1"].base_url + "/api/v1/board")[1])["cluster"]
    def settled() -> dict | None:
        v = board()
        return v if len(v.get("nodes", [])) == 2 and all(n["slots"] == SLOTS // 2 for n in v["nodes"]) else None
    view = wait_for(settled, 15, 0.5, what="both nodes on the board")
    assert view["this_node"] == "dc-1" and view["site"] == "dc" and not view["fenced"]
    assert view["slots"] == SLOTS and view["owned"] == SLOTS and view["coordinator"] in procs
    assert {(n["node"], n["site"], n["state"]) for n in view["nodes"]} == {("dc-1", "dc", "live"), ("dc-2", "dc", "live")}
    procs["dc-2"].kill9()
    wait_for(lambda: {n["node"]: n["state"] for n in board()["nodes"]}.get("dc-2") == "fenced", 20, 0.5,
             what="the dead node shown as expired")
    web.down()


def test_a_single_node_board_has_no_cluster_view(tmp_path: Path, sinks: dict[str, HttpSink]) -> None:  # noqa: F811
    from tests.e2e.paging_support import venue
    from tests.support import NetwatchProcess, free_port
    listen = f"127.0.0.1:{free_port()}"
    path = tmp_path / "netwatch.yaml"
    path.write_text(venue(sinks, tcp_target("web0", 9)).replace("{listen}", listen)
                    .replace("{store}", str(tmp_path / "h.db")))
    proc = NetwatchProcess(path, listen, tmp_path)
    try:
        proc.wait_ready()
        assert "cluster" not in json.loads(http_get(proc.base_url + "/api/v1/board")[1])
    finally:
        proc.stop()
