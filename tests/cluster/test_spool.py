"""The local spool: a node cut off from PostgreSQL keeps probing into SQLite and uploads it late, paging nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from netwatch.model import Outcome, Result
from netwatch.store.spool import Spool
from tests.cluster.proxy import Relay
from tests.cluster.test_nodes import Nodes, cluster_config, database, nodes, sinks, sql  # noqa: F401 - fixtures
from tests.e2e.paging_support import tcp_target
from tests.peers import postgres
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import wait_for


def result(i: int) -> Result:
    return Result("web/tcp", "web", "tcp", 1_800_000_000.0 + i, 0.01, Outcome(ok=i % 2 == 0, error=None if i % 2 == 0
                                                                              else "timeout"))


def test_spool_is_bounded_and_hands_rows_back_in_order(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path / "state" / "spool-dc-1.db"), max_rows=5)
    assert spool.pending() == 0 and not (tmp_path / "state").exists()     # never created until needed
    spool.add([(result(i), 0.01 * i) for i in range(8)])
    assert spool.pending() == 5 and spool.dropped_total == 3              # the oldest went first
    ids, rows = spool.take(2)
    assert [r.started_at - 1_800_000_000.0 for r, _ in rows] == [3.0, 4.0]
    assert rows[0][0].outcome.error == "timeout" and rows[1][0].outcome.ok and rows[1][1] == 0.04
    spool.done(ids)
    assert spool.pending() == 3 and spool.uploaded_total == 2
    spool.close()
    again = Spool(str(tmp_path / "state" / "spool-dc-1.db"), max_rows=5)    # survives a restart
    assert again.pending() == 3
    again.close()


def test_a_node_cut_off_from_postgresql_spools_and_uploads_late_without_paging(
        pg_cluster: postgres.Cluster, database: str, tmp_path: Path, sinks: dict[str, HttpSink],  # noqa: F811
        nodes: Nodes) -> None:  # noqa: F811
    relay = Relay(pg_cluster.port)
    web = TcpTarget().up()
    try:
        text = cluster_config(pg_cluster, database, tmp_path, sinks, tcp_target("web0", web.port))
        text = text.replace(f"127.0.0.1:{pg_cluster.port}/", f"127.0.0.1:{relay.port}/")
        assert f":{relay.port}/" in text
        node = nodes.start(text, "dc-1")
        wait_for(lambda: sql(pg_cluster, database, "SELECT count(*) FROM results")[0][0] >= 3, 30,
                 what="results written")
        relay.cut.set()                                       # a partition between the node and PostgreSQL
        cut_at = time.time()
        wait_for(lambda: node.metrics()["netwatch_cluster_fenced"][0][1] == 1.0, 15, 0.2, what="the node fences")
        fenced_at = time.time()
        web.down()                                            # an outage seen only while cut off
        time.sleep(3.0)
        relay.cut.clear()
        healed_at = time.time()
        wait_for(lambda: sql(pg_cluster, database, "SELECT count(*) FROM results WHERE late = 1")[0][0] >= 4, 30,
                 0.3, what="spooled results uploaded")
        late = sql(pg_cluster, database, "SELECT min(ts), max(ts), count(*), sum(1 - ok) FROM results WHERE late = 1")
        [(first, last, count, failed)] = late
        print(f"\nspool: fenced {fenced_at - cut_at:.2f} s after the cut; {count} results uploaded late "
              f"({failed} failing) covering {first - cut_at:.2f} .. {last - cut_at:.2f} s after the cut")
        # the node spools until its first renew after the heal succeeds (database calls time out first)
        assert cut_at - 1 <= first and last <= healed_at + 8
        assert failed >= 2                                    # the outage is in history...
        time.sleep(2.0)
        # ...and paged nothing retroactively: no transition or incident dated inside the cut-off window
        assert sql(pg_cluster, database, "SELECT count(*) FROM transitions WHERE to_state = 'down' "
                                         "AND since < %s", healed_at)[0][0] == 0
        assert sinks["chat"].received == [] or all("web0" not in str(m.body.get("title"))
                                                    or m.at > healed_at for m in sinks["chat"].received)
        spooled = node.metrics()["netwatch_cluster_spool_results_total"]
        assert {labels["result"]: v for labels, v in spooled}["uploaded"] == count
    finally:
        web.down()
        relay.close()


def test_spool_and_summary_keys() -> None:
    from netwatch.config import ConfigError, loads
    base = """
site: {name: Đại hội}
targets: [{id: portal, host: 127.0.0.1, checks: [{kind: tcp, port: 443}]}]
cluster:
  dsn: postgresql://nw@127.0.0.55:5432/netwatch
  node: venue-1
  site: venue
"""
    config = loads(base, "venue.yaml", {})
    assert config.cluster is not None
    assert (config.cluster.spool_path, config.cluster.spool_max_rows) == ("spool-venue-1.db", 100_000)
    assert config.cluster.summary_sms_after_seconds is None                    # off unless set
    config = loads(base + "  spool: /var/spool/nw.db\n  spool_max_rows: 0\n  summary_sms_after: 2m\n",
                   "venue.yaml", {})
    assert config.cluster is not None
    assert (config.cluster.spool_path, config.cluster.spool_max_rows) == ("/var/spool/nw.db", 0)
    assert config.cluster.summary_sms_after_seconds == 120.0
    # the spool path is node-local: it does not change the config hash
    other = loads(base + "  spool: /elsewhere.db\n  spool_max_rows: 0\n  summary_sms_after: 2m\n", "venue.yaml", {})
    assert other.cluster is not None and other.cluster.config_hash == config.cluster.config_hash
    with pytest.raises(ConfigError) as caught:
        loads(base + "  spool_max_rows: -1\n  summary_sms_after: 0s\n", "venue.yaml", {})
    text = "\n".join(str(p) for p in caught.value.problems)
    assert "venue.yaml:8:3: cluster.spool_max_rows: must be 0 (no spool) or more" in text, text
    assert "venue.yaml:9:3: cluster.summary_sms_after: must be greater than zero" in text, text
