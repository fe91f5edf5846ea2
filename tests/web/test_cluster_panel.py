"""The cluster panel's pure parts: one status read in flight at most, and the view of a Status."""

from __future__ import annotations

import asyncio
import threading

import pytest

from netwatch.store.cluster import NodeRow, Status
from netwatch.web.cluster import StatusReads, view


def status(*nodes: NodeRow, coordinator: str | None = "dc-1") -> Status:
    return Status(8, sum(n.slots for n in nodes if n.live), nodes, coordinator, 3, 9.5 if coordinator else None, "h1")


async def test_screens_polling_a_hung_database_share_one_read() -> None:
    release, calls = threading.Event(), []

    def read() -> Status:
        calls.append(1)
        release.wait(5)
        return status(NodeRow("dc-1", "dc", "h1", 0.4, 10.0, 8, None))

    reads = StatusReads(read)
    results = await asyncio.gather(*(reads.get(0.2) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, asyncio.TimeoutError) for r in results), results
    assert len(calls) == 1            # five screens, one worker thread waiting on the database
    release.set()
    got = await reads.get(5.0)        # the same read, finished: no second one queued behind it
    assert got.nodes[0].node == "dc-1" and len(calls) == 1
    await reads.get(5.0)              # a finished read is not reused: the next poll reads again
    assert len(calls) == 2


async def test_a_failed_read_raises_to_the_board() -> None:
    def read() -> Status:
        raise RuntimeError("cluster database pg.dc.lan: connection refused")   # example

    with pytest.raises(RuntimeError):
        await StatusReads(read).get(2.0)


def test_view_names_fenced_and_refusing_nodes_and_sites() -> None:
    data = view(status(NodeRow("dc-1", "dc", "h1", 0.5, 12.0, 8, None),
                       NodeRow("dc-2", "dc", "h1", 20.0, -5.0, 0, None),
                       NodeRow("ven-1", "venue", "h2", 0.7, 12.0, 0, "config hash differs\x1b[31m")), 100.0)
    nodes = {n["node"]: n for n in data["nodes"]}
    assert [nodes[n]["state"] for n in ("dc-1", "dc-2", "ven-1")] == ["live", "fenced", "refused"]
    assert nodes["dc-1"]["coordinator"] and not nodes["dc-2"]["coordinator"]
    assert nodes["dc-2"]["lease_left_seconds"] == 0.0
    assert nodes["ven-1"]["config_differs"] and "\x1b" not in nodes["ven-1"]["refused"]
    assert data["sites"] == [{"site": "dc", "nodes": 2, "live": 1, "slots": 8, "state": "degraded",
                              "isolated": False, "suspect": False},
                             {"site": "venue", "nodes": 1, "live": 0, "slots": 0, "state": "down",
                              "isolated": False, "suspect": False}]
    assert data["coordinator"] == {"node": "dc-1", "epoch": 3, "lease_left_seconds": 9.5}
    assert view(status(coordinator=None), 1.0)["coordinator"] is None
    secret = view(status(NodeRow("dc-3", "dc", "h1", 0.1, 9.0, 0, "bad dsn pw s3cret-value")), 1.0,
                  lambda t: t.replace("s3cret-value", "********"))
    assert secret["nodes"][0]["refused"] == "bad dsn pw ********"


def test_view_flags_isolated_and_suspect_sites_even_without_a_node_row() -> None:
    from dataclasses import replace
    base = status(NodeRow("dc-1", "dc", "h1", 0.5, 12.0, 8, None), NodeRow("ven-1", "venue", "h1", 0.5, 12.0, 0, None))
    data = view(replace(base, isolated_sites=frozenset({"venue"}), suspect_sites=frozenset({"pop"})), 1.0)
    sites = {s["site"]: s for s in data["sites"]}
    assert (sites["venue"]["isolated"], sites["venue"]["suspect"], sites["venue"]["state"]) == (True, False, "ok")
    assert sites["pop"] == {"site": "pop", "nodes": 0, "live": 0, "slots": 0, "state": "down",
                            "isolated": False, "suspect": True}
    assert (data["isolated_sites"], data["suspect_sites"]) == (["venue"], ["pop"])
    assert view(base, 1.0)["isolated_sites"] == []     # a reader that applied no rules flags nothing
