"""Real `netwatch run` nodes on one private PostgreSQL (loopback): the helpers other cluster tests start nodes
with (test_board, test_spool, test_summary_sms, tests/deploy). The scenarios that were here (steady state,
kill -9 of a prober and of the coordinator mid-outage, three-site votes) run in the namespace lab
(tests/cluster/test_lab.py)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import psycopg
import pytest

from netwatch.cluster.slots import slot_of
from tests.e2e.paging_support import tcp_target, venue
from tests.peers import postgres
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import NetwatchProcess, free_port, wait_for

SLOTS = 16
TTL, RENEW = 6.0, 1.0


@pytest.fixture
def sinks() -> Iterator[dict[str, HttpSink]]:
    made = {"chat": HttpSink().start()}
    yield made
    for s in made.values():
        s.stop()


@pytest.fixture
def database(pg_cluster: postgres.Cluster) -> Iterator[str]:
    name = pg_cluster.create_database("nodes")
    try:
        yield name
    finally:
        pg_cluster.drop_database(name)


def sql(pg: postgres.Cluster, database: str, text: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(pg.url(database), password=pg.password, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(text, args).fetchall()  # type: ignore[arg-type]


def cluster_config(pg: postgres.Cluster, database: str, tmp_path: Path, sinks: dict[str, HttpSink],
                   targets: str, alert: str = "{fail_after: 2, recover_after: 2}") -> str:
    pw = tmp_path / "pg-password"
    pw.write_text(pg.password)
    text = venue(sinks, targets, alert=alert,
                 channel_opts="group_wait: 0s, rate_per_minute: 120, burst: 10, timeout: 2s")
    return text.replace('store: "{store}"\n', f"""cluster:
  dsn: {{url: "{pg.url(database)}", password_file: {pw}}}
  node: ${{NETWATCH_NODE}}
  site: dc
  sites: {{dc: {{}}}}
  slots: {SLOTS}
  lease_ttl: {TTL:g}s
  lease_renew: {RENEW:g}s
  fence_margin: 2s
""")


class Nodes:
    """`netwatch run` per node, each in its own directory (its own log), stopped by PID at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[NetwatchProcess] = []

    def start(self, text: str, node: str, env: dict[str, str] | None = None) -> NetwatchProcess:
        home = self.tmp_path / node
        home.mkdir(exist_ok=True)
        listen = f"127.0.0.1:{free_port()}"
        path = home / "netwatch.yaml"
        path.write_text(text.replace("{listen}", listen))
        proc = NetwatchProcess(path, listen, home, {"NETWATCH_NODE": node, **(env or {})})
        self.started.append(proc)
        proc.wait_ready()
        return proc


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    made = Nodes(tmp_path)
    yield made
    for proc in made.started:
        proc.stop()


def owners(pg: postgres.Cluster, database: str) -> dict[int, str | None]:
    return {s: n for s, n in sql(pg, database, "SELECT slot, CASE WHEN expires > now() THEN node END "
                                               "FROM cluster_slots WHERE site = %s", "dc")}
