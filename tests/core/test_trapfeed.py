"""Trap storms: a running netwatch records a burst of traps per sender, then a steady trickle, and counts the rest."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Callable

from netwatch.trapfeed import TRAP_BURST
from tests.peers.trapsend import send_link_down
from tests.support import NetwatchProcess, free_port, metric_value, wait_for


def test_a_trap_storm_is_rate_limited_per_sender(netwatch_process: Callable[..., NetwatchProcess],
                                                 tmp_path: Path) -> None:
    import socket

    trap_port = free_port(socket.SOCK_DGRAM)
    nw = netwatch_process(f"""\
listen: "{{listen}}"
store: "{{store}}"
traps: {{port: {trap_port}, communities: [storm-community]}}
targets:
  - {{id: sw1, host: 127.0.0.1, checks: []}}
""")
    send_link_down(trap_port, "storm-community", 1)
    wait_for(lambda: metric_value(nw.metrics(), "netwatch_snmp_traps_total", result="accepted") == 1.0, 10,
             what="one trap accepted")
    for _ in range(10):
        send_link_down(trap_port, "storm-community", 100)
        time.sleep(0.01)  # pace the sender a little so the socket buffer keeps most of them
    wait_for(lambda: (metric_value(nw.metrics(), "netwatch_snmp_traps_total", result="rate_limited") or 0) > 500,
             10, what="traps beyond the bucket counted as rate_limited")
    m = nw.metrics()
    accepted = metric_value(m, "netwatch_snmp_traps_total", result="accepted") or 0
    limited = metric_value(m, "netwatch_snmp_traps_total", result="rate_limited") or 0
    time.sleep(1.5)  # the recorder flushes every second
    conn = sqlite3.connect(tmp_path / "netwatch.db")
    stored = conn.execute("SELECT COUNT(*) FROM events WHERE kind='trap'").fetchone()[0]
    conn.close()
    assert stored <= TRAP_BURST + 20, (stored, accepted, limited)
    assert "trap storm from sw1" in nw.log()
