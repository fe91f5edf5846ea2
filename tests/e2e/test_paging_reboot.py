"""End to end: a real snmpd restarts (sysUpTime back to zero, and its own coldStart trap): one reboot notice."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pytest

from tests.e2e.paging_support import kinds, query, venue
from tests.peers import snmpd
from tests.peers.sinks import HttpSink
from tests.support import NetwatchProcess, wait_for

pytestmark = pytest.mark.skipif(not snmpd.available(), reason="net-snmp snmpd/snmptrap not installed")


@pytest.mark.parametrize("trap", [True, False], ids=["trap-and-poll", "poll-only"])
def test_a_restarted_agent_pages_one_reboot_notice(
        netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], tmp_path: Path,
        trap: bool) -> None:
    trap_port = snmpd.free_udp_port()
    agent = snmpd.Snmpd(tmp_path / "agent")
    if trap:   # the agent sends its own coldStart trap to netwatch when it starts (net-snmp does, given a sink)
        with open(agent.workdir / "snmpd.conf", "a") as conf:
            conf.write(f"trap2sink 127.0.0.1:{trap_port} trap-secret\n")
    agent.start()           # before netwatch listens: this first coldStart reaches nobody
    try:
        target = f"""  - id: sw1
    name: Switch hội trường
    host: 127.0.0.1
    zone: hall
    checks:
      - {{kind: snmp, community: {snmpd.COMMUNITY}, port: {agent.port}, interval: 1s, watch: none}}
"""
        netwatch_process(venue(sinks, target, extra=f"traps: {{port: {trap_port}, communities: [trap-secret]}}",
                               alert="{fail_after: 5, recover_after: 1}"))
        db = tmp_path / "netwatch.db"
        wait_for(lambda: len(query(db, "SELECT 1 FROM results WHERE check_id='sw1/snmp' AND ok=1")) >= 3, 20,
                 what="three polls of the agent")
        agent.restart()
        chat = sinks["chat"].wait_count(1, 20)
        sms = sinks["sms"].wait_count(1, 20)
        # both sightings are in the history: the trap and the poll that saw sysUpTime go back
        wait_for(lambda: query(db, "SELECT 1 FROM events WHERE kind='reboot'"), 20, what="the poll's reboot event")
        if trap:
            wait_for(lambda: query(db, "SELECT 1 FROM events WHERE kind='trap' AND summary LIKE 'coldStart%'"), 20,
                     what="the coldStart trap")
        time.sleep(3.0)
        assert kinds(sinks["chat"]) == ["reboot"] and kinds(sinks["sms"]) == ["reboot"], "paged more than once"
        assert chat[0].body["title"] == "REBOOTED: Switch hội trường (Hall)"
        assert chat[0].body["message"].startswith("At ") and ", had been up " in chat[0].body["message"]
        assert sms[0].body["message"].startswith("REBOOTED: Switch hoi truong (Hall) at ")
        assert query(db, "SELECT COUNT(*) FROM incidents") == [(0,)]          # a reboot is no outage
        assert query(db, "SELECT COUNT(*) FROM transitions WHERE to_state='down'") == [(0,)]
    finally:
        agent.stop()
