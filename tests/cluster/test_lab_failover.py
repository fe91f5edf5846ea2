"""Failover scenarios in the namespace lab: the coordinator partitioned mid-outage, two Alertmanagers cut
from each other, PostgreSQL crashed and restarted (`pg_ctl restart -m immediate`). Short leases (TTL 6 s)."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from netwatch.cluster.slots import slot_of
from tests.cluster.lab import Lab, available
from tests.peers.sinks import HttpSink
from tests.support import wait_for

pytestmark = [pytest.mark.root, pytest.mark.skipif(not available(), reason="needs root, ip and nft")]

TTL, RENEW, MARGIN = 6.0, 1.0, 2.0
HANDOVER = 3.0          # cluster.handover_after: a coordinator that cannot deliver for this long steps aside
CHAT_TIMEOUT = 2.0
SLOTS = 16
NODES = (("dc1", "dc-1"), ("dc2", "dc-2"))
CHECKS = 6
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


class Target:
    """A TCP port in the target namespace the test switches off (refused) and on."""

    def __init__(self, lab: Lab, host: str, port: int) -> None:
        self.lab, self.host, self.port = lab, host, port
        self.sock: socket.socket | None = None
        self.up()

    def up(self) -> None:
        if self.sock is None:   # bound from a thread inside the target namespace
            self.sock = self.lab.in_ns("tgt", lambda: socket.create_server((self.host, self.port)))
            threading.Thread(target=self._accept, args=(self.sock,), daemon=True).start()

    def down(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @staticmethod
    def _accept(sock: socket.socket) -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            conn.close()


class World:
    def __init__(self, lab: Lab, sink: HttpSink, targets: list[Target], home: Path, token: str) -> None:
        self.lab, self.sink, self.targets, self.home, self.token = lab, sink, targets, home, token

    def coordinator(self) -> str | None:
        rows = self.lab.sql("SELECT node FROM cluster_coordinator WHERE expires > now()")
        return rows[0][0] if rows and rows[0][0] else None

    def owners(self) -> dict[int, str | None]:
        return dict(self.lab.sql("SELECT slot, CASE WHEN expires > now() THEN node END FROM cluster_slots "
                                 "WHERE site = 'dc'"))

    def balanced(self) -> bool:
        values = list(self.owners().values())
        return sorted(values.count(n) for _, n in NODES) == [SLOTS // 2, SLOTS // 2]

    def pages(self, since: float) -> list[str]:
        return [str(m.body.get("dedup_key")) for m in self.sink.received if m.at >= since]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("failover")
    lab = Lab().open()
    sink: HttpSink | None = None
    try:
        for role in ("pg", "tgt", *(n[0] for n in NODES), "am1", "am2"):
            lab.add(role)
        url = lab.start_postgres()
        tgt = lab.members["tgt"].address
        targets = [Target(lab, tgt, 7000 + i) for i in range(CHECKS)]
        sink = lab.in_ns("tgt", lambda: HttpSink(port=7100, host=tgt).start())
        pw = home / "pg-password"
        pw.write_text(lab.pg_password)
        token = secrets.token_hex(24)
        checks = "".join(f"""  - id: web{i}
    host: {tgt}
    zone: hall
    checks: [{{kind: tcp, port: {7000 + i}}}]
""" for i in range(CHECKS))
        config = f"""
listen: ${{NETWATCH_LISTEN}}
site: {{name: lab}}
zones: [{{id: hall, name: Hall}}]
channels:
  chat: {{urls: ["{sink.url('/chat')}"], lang: en, group_wait: 0s, rate_per_minute: 120, burst: 10, timeout: {CHAT_TIMEOUT:g}s}}
paging:
  backoff_initial: 200ms
  backoff_max: 1s
  alertmanager: {{token: "${{AM_TOKEN}}"}}
cluster:
  dsn: {{url: "{url}", password_file: {pw}}}
  node: ${{NETWATCH_NODE}}
  site: dc
  sites: {{dc: {{}}}}
  slots: {SLOTS}
  lease_ttl: {TTL:g}s
  lease_renew: {RENEW:g}s
  fence_margin: {MARGIN:g}s
  handover_after: {HANDOVER:g}s
defaults:
  interval: 500ms
  timeout: 300ms
  alert: {{fail_after: 2, recover_after: 2}}
targets:
{checks}"""
        path = home / "netwatch.yaml"
        path.write_text(config)
        for role, node in NODES:
            lab.run(role, ["-m", "netwatch", "run", "-c", str(path)],
                    {"NETWATCH_NODE": node, "NETWATCH_LISTEN": f"{lab.members[role].address}:9800",
                     "AM_TOKEN": token, "PYTHONUNBUFFERED": "1"}, home / f"{node}.log")
        world = World(lab, sink, targets, home, token)
        wait_for(lambda: lab.sql("SELECT to_regclass('cluster_slots') IS NOT NULL")[0][0] and world.balanced()
                 and world.coordinator() is not None, 60, 0.5, what="two balanced dc nodes and a coordinator")
        yield world
    finally:
        if sink is not None:
            sink.stop()
        lab.close()


def test_coordinator_partitioned_mid_outage_one_problem_and_one_recovery_per_dedup_key(world: World) -> None:
    lab, sink = world.lab, world.sink
    start = time.time()
    coordinator = world.coordinator()
    assert coordinator is not None
    role = next(r for r, n in NODES if n == coordinator)
    standby = next(n for _, n in NODES if n != coordinator)
    owners = world.owners()
    # the hard case: the target is probed by the coordinator itself, so its slot moves too
    victim = next((i for i in range(CHECKS) if owners[slot_of(f"web{i}/tcp", "dc", SLOTS)] == coordinator), 0)
    world.targets[victim].down()
    wait_for(lambda: any(k.endswith("-problem") for k in world.pages(start)), 20, 0.1, what="the problem page")
    lab.cut(role, "pg")                                           # the coordinator loses PostgreSQL mid-outage
    cut_at = time.monotonic()
    try:
        wait_for(lambda: world.coordinator() == standby, TTL + 4 * RENEW + 2, 0.2, what="the standby coordinates")
        took_over = time.monotonic() - cut_at
        wait_for(lambda: set(world.owners().values()) == {standby}, 10, 0.2, what="the standby owns every slot")
        time.sleep(2.0)                                           # a re-page of the open outage would show here
        world.targets[victim].up()
        wait_for(lambda: any(k.endswith("-resolved") for k in world.pages(start)), 25, 0.1, what="the recovery")
        recovered = time.monotonic() - cut_at
        time.sleep(2.0)
    finally:
        lab.heal(role)
    keys = world.pages(start)
    print(f"\ncoordinator partition -> standby coordinating after {took_over:.2f} s, recovery page "
          f"{recovered:.2f} s after the cut; messages {keys}")
    assert len(keys) == 2 and keys[0].endswith("-problem") and keys[1].endswith("-resolved"), keys
    assert keys[0][:-len("-problem")] == keys[1][:-len("-resolved")]
    assert took_over <= TTL + 2 * RENEW + 1.5
    [(opened,)] = lab.sql("SELECT count(*) FROM incidents WHERE check_id = %s AND opened_at >= %s",
                          f"web{victim}/tcp", start - 5)
    assert opened == 1
    wait_for(world.balanced, 30, 0.5, what="the healed node takes its share again")


def test_a_coordinator_cut_from_the_gateway_hands_over_and_the_standby_pages(world: World) -> None:
    """Only the coordinator's path to the chat gateway is cut (PostgreSQL and the targets stay reachable):
    its sends fail, and past `handover_after` it gives the coordinator lease away so the standby delivers
    the page; exactly one problem and one recovery message per dedup key."""
    lab = world.lab
    wait_for(world.balanced, 30, 0.5, what="two balanced dc nodes")
    coordinator = world.coordinator()
    assert coordinator is not None
    role = next(r for r, n in NODES if n == coordinator)
    standby = next(n for _, n in NODES if n != coordinator)
    start = time.time()
    lab.cut(role, "tgt", port=world.sink.port)           # the coordinator's path to the gateway, nothing else
    cut_at = time.monotonic()
    victim = 1
    try:
        world.targets[victim].down()
        room = TTL - MARGIN - RENEW                       # sends in flight end before the lease is given back
        bound = HANDOVER + room + 3 * RENEW + CHAT_TIMEOUT + 5.0
        wait_for(lambda: any(k.endswith("-problem") for k in world.pages(start)), bound + 10, 0.1,
                 what="the problem page from the standby")
        paged = time.monotonic() - cut_at
        assert world.coordinator() == standby
        world.targets[victim].up()
        wait_for(lambda: any(k.endswith("-resolved") for k in world.pages(start)), 20, 0.1, what="the recovery")
        time.sleep(2.0)
    finally:
        lab.heal(role)
    keys = world.pages(start)
    handovers = lab.sql("SELECT count(*) FROM cluster_ownership WHERE reason = 'coordinator' AND previous = %s "
                        "AND node = %s AND at >= to_timestamp(%s)", coordinator, standby, start)[0][0]
    print(f"\ncoordinator cut from the gateway -> page from the standby {paged:.2f} s after the fault "
          f"(handover_after {HANDOVER:g} s); messages {keys}")
    assert len(keys) == 2 and keys[0].endswith("-problem") and keys[1].endswith("-resolved"), keys
    assert keys[0][:-len("-problem")] == keys[1][:-len("-resolved")]
    assert paged <= bound, paged
    assert handovers == 1


def alertmanager_config(world: World, path: Path) -> None:
    token = path.parent / "relay-token"
    token.write_text(world.token)
    hooks = "".join(f"""      - url: http://{world.lab.members[role].address}:9800/api/v1/alertmanager
        send_resolved: true
        http_config: {{authorization: {{type: Bearer, credentials_file: {token}}}}}
""" for role, _ in NODES)
    path.write_text(f"""route:
  receiver: netwatch
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
  - name: netwatch
    webhook_configs:
{hooks}""")


def post_alert(world: World, role: str, status: str) -> None:
    now = time.time()
    alert: dict[str, Any] = {"labels": {"alertname": "LabCoreSwitchDown", "severity": "critical", "zone": "hall",
                                        "instance": "core-sw"},
                             "annotations": {"summary": "core switch unreachable"},
                             "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60))}
    if status == "resolved":
        alert["endsAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 1))
    address = world.lab.members[role].address

    def send() -> None:
        request = urllib.request.Request(f"http://{address}:9093/api/v2/alerts", json.dumps([alert]).encode(),
                                         {"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    world.lab.in_ns(role, send)


@pytest.mark.skipif(ALERTMANAGER is None, reason="Debian prometheus-alertmanager not installed")
def test_two_alertmanagers_partitioned_from_each_other_one_incident_one_page(world: World) -> None:
    lab = world.lab
    assert ALERTMANAGER is not None
    config = world.home / "am" / "alertmanager.yml"
    config.parent.mkdir()
    alertmanager_config(world, config)
    for role, peer in (("am1", "am2"), ("am2", "am1")):
        data = world.home / "am" / role
        data.mkdir()
        lab.run_binary(role, [ALERTMANAGER, f"--config.file={config}", f"--storage.path={data}",
                              f"--web.listen-address={lab.members[role].address}:9093",
                              f"--cluster.listen-address={lab.members[role].address}:9094",
                              f"--cluster.peer={lab.members[peer].address}:9094",
                              "--cluster.peer-timeout=1s", "--cluster.gossip-interval=100ms",
                              "--cluster.pushpull-interval=1s"], world.home / "am" / f"{role}.log")
    for role in ("am1", "am2"):
        wait_for(lambda r=role: _ready(world, r), 30, 0.3, what=f"{role} ready")
    lab.cut("am1", "am2")                          # gossip cut: each one believes it must notify alone
    start = time.time()
    try:
        for role in ("am1", "am2"):
            post_alert(world, role, "firing")
        wait_for(lambda: any(k.startswith("am-") and k.endswith("-problem") for k in world.pages(start)), 20, 0.1,
                 what="the Alertmanager page")
        # both Alertmanagers post to both nodes (four webhooks) within group_wait; later repeats too
        wait_for(lambda: _webhooks(world) >= 4, 15, 0.2, what="both Alertmanagers notified both nodes")
        time.sleep(3.0)
        [(open_count,)] = lab.sql("SELECT count(*) FROM incidents WHERE source = 'alertmanager'")
        problems = [k for k in world.pages(start) if k.startswith("am-")]
        failed = _webhooks(world, "alertmanager_notifications_failed_total")
        print(f"\ntwo Alertmanagers cut from each other: {_webhooks(world)} webhook notifications "
              f"({failed} refused), {open_count} incident, messages {problems}")
        assert open_count == 1 and len(problems) == 1, problems
        assert failed == 0                         # a node that lost the race answers 200, not an error
        for role in ("am1", "am2"):
            post_alert(world, role, "resolved")
        wait_for(lambda: any(k.startswith("am-") and k.endswith("-resolved") for k in world.pages(start)), 20, 0.1,
                 what="the recovery")
        time.sleep(3.0)
    finally:
        lab.heal("am1")
    keys = [k for k in world.pages(start) if k.startswith("am-")]
    assert len(keys) == 2 and keys[1].endswith("-resolved"), keys
    assert lab.sql("SELECT count(*) FROM incidents WHERE source = 'alertmanager'") == [(1,)]


def _ready(world: World, role: str) -> bool:
    address = world.lab.members[role].address

    def get() -> bool:
        try:
            with urllib.request.urlopen(f"http://{address}:9093/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False
    return world.lab.in_ns(role, get)


def _webhooks(world: World, metric: str = "alertmanager_notifications_total") -> int:
    """Webhook notifications the two Alertmanagers made (their own counters; `_failed_total`: refused ones)."""
    total = 0
    for role in ("am1", "am2"):
        address = world.lab.members[role].address

        def get() -> str:
            with urllib.request.urlopen(f"http://{address}:9093/metrics", timeout=2) as response:
                return response.read().decode()
        for line in world.lab.in_ns(role, get).splitlines():
            if line.startswith(metric + "{") and 'integration="webhook"' in line:
                total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_postgres_crash_and_restart_loses_nothing_and_pages_once(world: World) -> None:
    lab = world.lab
    wait_for(world.balanced, 30, 0.5, what="both nodes share the slots")
    start = time.time()
    victim = 3
    world.targets[victim].down()
    time.sleep(0.3)                                 # the first failure is probed, maybe not yet confirmed
    crashed = time.time()
    lab.crash_postgres()                            # pg_ctl restart -m immediate: a crash, then WAL recovery
    back = time.time()
    wait_for(lambda: any(k.endswith("-problem") for k in world.pages(start)), 30, 0.1, what="the problem page")
    time.sleep(3.0)
    world.targets[victim].up()
    wait_for(lambda: any(k.endswith("-resolved") for k in world.pages(start)), 30, 0.1, what="the recovery")
    time.sleep(3.0)                                 # let the nodes write what they held during the crash
    keys = world.pages(start)
    rows = lab.sql("SELECT check_id, ts FROM results WHERE ts >= %s ORDER BY check_id, ts", start)
    gaps: dict[str, float] = {}
    last: dict[str, float] = {}
    for check_id, ts in rows:
        if check_id in last:
            gaps[check_id] = max(gaps.get(check_id, 0.0), ts - last[check_id])
        last[check_id] = ts
    transitions = lab.sql("SELECT to_state FROM transitions WHERE check_id = %s AND ts >= %s ORDER BY id",
                          f"web{victim}/tcp", start - 1)
    worst = max(gaps.values(), default=0.0)
    print(f"\npostgres crash: down {back - crashed:.2f} s; results of {len(last)} checks, widest gap "
          f"{worst:.2f} s; transitions {[t[0] for t in transitions]}; messages {keys}")
    assert len(last) == CHECKS
    assert worst < 2.0, gaps                        # nothing the nodes probed during the crash was lost
    assert [t[0] for t in transitions] == ["down", "up"]
    assert len(keys) == 2 and keys[0].endswith("-problem") and keys[1].endswith("-resolved"), keys
