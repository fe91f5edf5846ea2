"""SNMP traps into a running netwatch: recorded as events, linkDown re-polls the device at once."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from netwatch.scheduler import spread_offset
from tests.peers import snmpd
from tests.support import metric_value, wait_for

pytestmark = pytest.mark.skipif(not snmpd.available(), reason="net-snmp snmpd/snmptrap not installed")

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_link_down_trap_is_recorded_and_repolls(netwatch_process, tmp_path: Path) -> None:
    agent = snmpd.Snmpd(tmp_path / "agent").start()
    trap_port = snmpd.free_udp_port()
    nw = netwatch_process(f"""\
listen: "{{listen}}"
store: "{{store}}"
traps: {{port: {trap_port}, communities: [trap-secret]}}
targets:
  - id: sw1
    host: 127.0.0.1
    checks:
      - {{kind: snmp, community: {snmpd.COMMUNITY}, port: {agent.port}, interval: 1m, watch: all}}
""")
    db = tmp_path / "netwatch.db"
    # The device's first scheduled poll is spread into the minute; a poll within seconds of the
    # trap can then only come from the trap.
    assert spread_offset("sw1/snmp", 60.0) > 15.0
    try:
        for community in ("wrong-community", "trap-secret"):
            subprocess.run(["snmptrap", "-v", "2c", "-c", community, f"127.0.0.1:{trap_port}", "", LINK_DOWN,
                            f"{IF_INDEX}.1", "i", "1"], check=True, capture_output=True, timeout=10)
        events = wait_for(lambda: rows(db, "SELECT target_id, kind, summary FROM events WHERE kind='trap'"), 5,
                          what="trap event in history")
        assert events == [("sw1", "trap", "linkDown 1")]
        wait_for(lambda: metric_value(nw.metrics(), "netwatch_probe_success", check="sw1/snmp") == 1.0, 5,
                 what="immediate poll after the trap")
        m = nw.metrics()
        assert metric_value(m, "netwatch_snmp_traps_total", result="accepted") == 1.0
        assert metric_value(m, "netwatch_snmp_traps_total", result="bad_community") == 1.0
        assert "trap-secret" not in nw.log()
    finally:
        agent.stop()


def test_reload_rebinds_the_receiver(netwatch_process, tmp_path: Path) -> None:
    first, second = snmpd.free_udp_port(), snmpd.free_udp_port()
    text = """\
listen: "{listen}"
store: "{store}"
traps: {port: PORT, communities: [c1]}
targets:
  - {id: sw1, host: 127.0.0.1}
"""
    nw = netwatch_process(text.replace("PORT", str(first)))
    nw.config_path.write_text(nw.config_path.read_text().replace(f"port: {first}", f"port: {second}"))
    nw.signal(signal.SIGHUP)
    wait_for(lambda: "config reloaded" in nw.log(), 5, what="reload")

    def accepted_after_trap() -> bool:
        subprocess.run(["snmptrap", "-v", "2c", "-c", "c1", f"127.0.0.1:{second}", "", LINK_DOWN],
                       check=True, capture_output=True, timeout=10)
        return metric_value(nw.metrics(), "netwatch_snmp_traps_total", result="accepted") >= 1.0

    wait_for(accepted_after_trap, 10, interval_seconds=0.3, what="a trap on the new port")
