"""End to end: a router that times out slower than its switches refuse still pages once, for itself."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.e2e.paging_support import kinds, query, tcp_target, venue
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import NetwatchProcess, free_port, wait_for

PARENT_INTERVAL_SECONDS = 1.0
PARENT_FAIL_AFTER = 3
PARENT_TIMEOUT_SECONDS = 0.5
HOLD_BOUND_SECONDS = PARENT_INTERVAL_SECONDS * PARENT_FAIL_AFTER + PARENT_TIMEOUT_SECONDS
CHILD_ALERT = "{fail_after: 1, recover_after: 1}"


class SilentHttp:
    """An HTTP server on loopback that answers 200 until `silence()`: then it accepts and never replies."""

    def __init__(self) -> None:
        self.port = free_port()
        self.silent = threading.Event()
        self._held: list[socket.socket] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self.port))
        self._sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        if self.silent.is_set():
            self._held.append(conn)      # keep it open: the client waits for its own timeout
            return
        try:
            conn.settimeout(2.0)
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 8192:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            if self.silent.is_set():
                self._held.append(conn)
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                         b"Connection: close\r\n\r\nok")
            conn.close()
        except OSError:
            conn.close()

    def silence(self) -> None:
        self.silent.set()

    def close(self) -> None:
        self._sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def router() -> Iterator[SilentHttp]:
    server = SilentHttp()
    yield server
    server.close()


def router_target(port: int) -> str:
    return f"""  - id: core-router
    host: 127.0.0.1
    zone: hall
    checks: [{{kind: http, url: "http://127.0.0.1:{port}/", interval: {PARENT_INTERVAL_SECONDS:g}s,
              timeout: {int(PARENT_TIMEOUT_SECONDS * 1000)}ms,
              alert: {{fail_after: {PARENT_FAIL_AFTER}, recover_after: 1}}}}]
"""


def start(netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], router: SilentHttp,
          children: list[TcpTarget], store: Path) -> NetwatchProcess:
    targets = router_target(router.port) + "".join(
        tcp_target(f"ap{i}", c.port, depends_on="core-router", alert=CHILD_ALERT) for i, c in enumerate(children))
    nw = netwatch_process(venue(sinks, targets))
    wait_for(lambda: len(query(store, "SELECT 1 FROM transitions WHERE to_state='up'")) == len(children) + 1, 15,
             what="every check up")
    return nw


def test_router_timing_out_pages_once_while_children_refusing_faster_are_unreachable(
        netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], router: SilentHttp,
        tmp_path: Path) -> None:
    children = [TcpTarget().up() for _ in range(4)]
    store = tmp_path / "netwatch.db"
    nw = start(netwatch_process, sinks, router, children, store)
    router.silence()
    for c in children:
        c.down()
    # The children are confirmed down within one of their 0.5 s intervals, seconds before the router.
    wait_for(lambda: len(query(store, "SELECT 1 FROM transitions WHERE to_state='down' AND check_id LIKE 'ap%'"))
             == len(children), 10, what="children recorded down at once")
    chat = sinks["chat"].wait_count(1, 15)
    wait_for(lambda: len(query(store, "SELECT 1 FROM transitions WHERE to_state='unreachable'")) == len(children),
             10, what="children unreachable")
    time.sleep(HOLD_BOUND_SECONDS + 1.0)     # past any hold: nothing else may page
    assert len(sinks["chat"].received) == 1, [r.body["title"] for r in sinks["chat"].received]
    assert len(sinks["sms"].received) == 1
    assert "core-router" in chat[0].body["title"]
    assert f"Affected: {len(children)} dependent devices" in chat[0].body["message"]
    assert query(store, "SELECT COUNT(*) FROM incidents WHERE check_id LIKE 'ap%'") == [(0,)]
    assert query(store, "SELECT DISTINCT cause FROM transitions WHERE to_state='unreachable'") == [("core-router",)]
    router_down = query(store, "SELECT ts FROM transitions WHERE check_id='core-router/http' AND to_state='down'")
    child_down = query(store, "SELECT MAX(ts) FROM transitions WHERE to_state='down' AND check_id LIKE 'ap%'")
    assert child_down[0][0] < router_down[0][0], "the children were not confirmed before their parent"
    metrics = nw.metrics()
    unreachable = [labels["check"] for labels, v in metrics["netwatch_check_state"]
                   if labels["state"] == "unreachable" and v == 1]
    assert sorted(unreachable) == [f"ap{i}/tcp" for i in range(len(children))]


def test_child_failing_alone_pages_within_the_hold_bound(
        netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], router: SilentHttp,
        tmp_path: Path) -> None:
    children = [TcpTarget().up() for _ in range(2)]
    store = tmp_path / "netwatch.db"
    start(netwatch_process, sinks, router, children, store)
    broke_at = time.time()
    children[0].down()
    chat = sinks["chat"].wait_count(1, 10)
    assert chat[0].at - broke_at < HOLD_BOUND_SECONDS, f"paged after {chat[0].at - broke_at:.1f}s"
    assert chat[0].body["title"].startswith("PROBLEM") and "ap0 (" in chat[0].body["title"]
    time.sleep(1.0)
    assert kinds(sinks["chat"]) == ["problem"] and kinds(sinks["sms"]) == ["problem"]
    assert query(store, "SELECT COUNT(*) FROM transitions WHERE to_state='unreachable'") == [(0,)]
    children[0].up()
    sinks["chat"].wait_count(2, 10)
    assert kinds(sinks["chat"]) == ["problem", "resolved"]
