"""A device reboot pages once in a cluster: a real snmpd restarts under two `netwatch run` nodes of one site."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from netwatch.cluster.slots import slot_of
from tests.cluster.test_nodes import SLOTS, Nodes, cluster_config, database, nodes, owners, sinks, sql  # noqa: F401
from tests.peers import postgres, snmpd
from tests.peers.sinks import HttpSink
from tests.support import wait_for

pytestmark = pytest.mark.skipif(not snmpd.available(), reason="net-snmp snmpd not installed")
DEVICES = 10


def test_each_rebooted_device_pages_once_whichever_node_polls_it(
        pg_cluster: postgres.Cluster, database: str, tmp_path: Path, sinks: dict[str, HttpSink],  # noqa: F811
        nodes: Nodes) -> None:  # noqa: F811
    """Each node pages the reboots its own polls see (sysUpTime went back). A poll's reboot notice on the node
    that is not the coordinator was committed under the coordinator's lease and refused: those devices'
    reboots paged nobody."""
    agent = snmpd.Snmpd(tmp_path / "agent").start()
    try:
        targets = "".join(f"""  - id: sw{i}
    host: 127.0.0.1
    zone: hall
    checks:
      - {{kind: snmp, community: {snmpd.COMMUNITY}, port: {agent.port}, interval: 1s, watch: none}}
""" for i in range(DEVICES))
        text = cluster_config(pg_cluster, database, tmp_path, sinks, targets, "{fail_after: 5, recover_after: 1}")
        nodes.start(text, "dc-1")
        wait_for(lambda: set(owners(pg_cluster, database).values()) == {"dc-1"}, 20, what="dc-1 owns every slot")
        nodes.start(text, "dc-2")
        wait_for(lambda: sorted(list(owners(pg_cluster, database).values()).count(n) for n in ("dc-1", "dc-2"))
                 == [SLOTS // 2, SLOTS // 2], 20, what="each node holds its fair share")
        slots = owners(pg_cluster, database)
        on = {n: {f"sw{i}" for i in range(DEVICES) if slots[slot_of(f"sw{i}/snmp", "dc", SLOTS)] == n}
              for n in ("dc-1", "dc-2")}
        assert on["dc-2"], f"no device polled by the node that does not coordinate: {on}"
        settled = time.time()

        def polled() -> bool:   # every device polled (by its current owner) a few times since the split
            rows = dict(sql(pg_cluster, database, "SELECT check_id, count(*) FROM results WHERE ts > %s AND ok = 1 "
                                                  "GROUP BY check_id", settled + 1.0))
            return all(rows.get(f"sw{i}/snmp", 0) >= 2 for i in range(DEVICES))
        wait_for(polled, 30, 0.3, what="every device polled twice by its owner")
        agent.restart()

        def paged() -> dict[str, int]:
            counts: dict[str, int] = {}
            for m in sinks["chat"].received:
                for key in str(m.body.get("dedup_key", "")).split(","):   # a message may carry a batch of rows
                    if key.startswith("reboot-"):
                        device = key.split("-")[1]
                        counts[device] = counts.get(device, 0) + 1
            return counts
        wait_for(lambda: len(paged()) == DEVICES, 30, 0.3, what=f"a reboot notice for every device ({on})")
        time.sleep(3.0)
        assert paged() == {f"sw{i}": 1 for i in range(DEVICES)}, (paged(), on)
        assert sql(pg_cluster, database, "SELECT count(*) FROM incidents") == [(0,)]    # a reboot is no outage
    finally:
        agent.stop()
