"""Cluster scenarios in the namespace lab: nodes, PostgreSQL and targets in namespaces, nftables cuts."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.cluster.lab import Lab, available
from tests.peers.sinks import HttpSink
from tests.support import wait_for

pytestmark = [pytest.mark.root, pytest.mark.skipif(not available(), reason="needs root, ip and nft")]

TTL, RENEW, MARGIN = 6.0, 1.0, 2.0
SLOTS = 16
NODES = (("dc1", "dc-1", "dc"), ("dc2", "dc-2", "dc"), ("venue", "venue-1", "venue"), ("pop", "pop-1", "pop"))


class Listener:
    """A TCP target that records who connected when (to see which node probes it, and until when)."""

    def __init__(self, host: str, port: int) -> None:
        self.seen: list[tuple[float, str]] = []
        self.sock = socket.create_server((host, port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.seen.append((time.time(), peer[0]))
            conn.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, HttpSink, dict[str, Listener], Path]]:
    home = tmp_path_factory.mktemp("lab")
    lab = Lab().open()
    sink: HttpSink | None = None
    try:
        for role in ("pg", "tgt", *(n[0] for n in NODES)):
            lab.add(role)
        url = lab.start_postgres()
        tgt = lab.members["tgt"].address
        listeners = {name: lab.in_ns("tgt", lambda p=port: Listener(tgt, p))
                     for name, port in (("web0", 7000), ("web1", 7001), ("web2", 7002), ("portal", 7010))}
        sink = lab.in_ns("tgt", lambda: HttpSink(port=7100, host=tgt).start())
        pw = home / "pg-password"
        pw.write_text(lab.pg_password)
        checks = "".join(f"""  - id: {name}
    host: {tgt}
    zone: hall
    checks: [{{kind: tcp, port: {7000 + i}, vantage: [dc]}}]
""" for i, name in enumerate(("web0", "web1", "web2")))
        config = f"""
listen: 127.0.0.1:9800
site: {{name: lab}}
zones: [{{id: hall, name: Hall}}]
channels:
  chat: {{urls: ["{sink.url('/chat')}"], lang: en, group_wait: 0s, rate_per_minute: 120, burst: 10, timeout: 2s}}
paging: {{backoff_initial: 200ms, backoff_max: 1s}}
cluster:
  dsn: {{url: "{url}", password_file: {pw}}}
  node: ${{NETWATCH_NODE}}
  site: ${{NETWATCH_SITE}}
  sites: {{dc: {{}}, venue: {{}}, pop: {{}}}}
  slots: {SLOTS}
  lease_ttl: {TTL:g}s
  lease_renew: {RENEW:g}s
  fence_margin: {MARGIN:g}s
defaults:
  interval: 500ms
  timeout: 300ms
  alert: {{fail_after: 2, recover_after: 2}}
targets:
{checks}  - id: portal
    host: {tgt}
    zone: hall
    checks: [{{kind: tcp, port: 7010, vantage: [dc, venue, pop], confirm: 2}}]
"""
        path = home / "netwatch.yaml"
        path.write_text(config)
        for role, node, site in NODES:
            lab.run(role, ["-m", "netwatch", "run", "-c", str(path)],
                    {"NETWATCH_NODE": node, "NETWATCH_SITE": site, "PYTHONUNBUFFERED": "1"}, home / f"{node}.log")
        yield lab, sink, listeners, home
    finally:
        if sink is not None:
            sink.stop()
        lab.close()


def owners(lab: Lab, site: str) -> dict[int, str | None]:
    return dict(lab.sql("SELECT slot, CASE WHEN expires > now() THEN node END FROM cluster_slots WHERE site = %s",
                        site))


def test_steady_state_every_slot_owned_and_each_check_probed_once_per_interval(
        lab: tuple[Lab, HttpSink, dict[str, Listener], Path]) -> None:
    the_lab, sink, listeners, home = lab
    wait_for(lambda: the_lab.sql("SELECT to_regclass('cluster_slots') IS NOT NULL")[0][0]
             and sorted(list(owners(the_lab, "dc").values()).count(n) for n in ("dc-1", "dc-2"))
             == [SLOTS // 2, SLOTS // 2], 60, 0.5, what="the dc nodes share the dc slots")
    for site, node in (("venue", "venue-1"), ("pop", "pop-1")):
        wait_for(lambda s=site, n=node: set(owners(the_lab, s).values()) == {n}, 20, what=f"{node} owns {site}")
    start = time.time()
    time.sleep(4.0)
    for name in ("web0", "web1", "web2"):
        hits = [a for t, a in listeners[name].seen if start <= t < start + 4.0]
        assert 5 <= len(hits) <= 10, (name, len(hits))               # once per 0.5 s, by one dc node
        assert len(set(hits)) == 1
    portal = {a for t, a in listeners["portal"].seen if t >= start}
    assert len(portal) == 3                                            # one prober per site
    assert sink.received == []


def test_partitioned_prober_fences_itself_before_its_leases_expire(
        lab: tuple[Lab, HttpSink, dict[str, Listener], Path]) -> None:
    the_lab, sink, listeners, home = lab
    dc2 = the_lab.members["dc2"].address
    mine = [s for s, n in owners(the_lab, "dc").items() if n == "dc-2"]
    assert mine
    the_lab.cut("dc2", "pg")
    cut_at = time.time()
    time.sleep(RENEW + 0.5)           # a renew in flight at the cut may still have been accepted
    [(expires_at,)] = the_lab.sql("SELECT max(extract(epoch FROM expires))::float8 FROM cluster_slots "
                                  "WHERE node = 'dc-2'")
    wait_for(lambda: set(owners(the_lab, "dc").values()) == {"dc-1"}, TTL + 4 * RENEW, 0.2,
             what="dc-1 takes over dc-2's slots")
    reowned = time.time() - cut_at
    time.sleep(1.0)
    last_probe = max((t for name in ("web0", "web1", "web2") for t, a in listeners[name].seen if a == dc2),
                     default=0.0)
    print(f"\npartition -> dc-2's last probe {last_probe - cut_at:.2f} s after the cut, its leases expire "
          f"{expires_at - cut_at:.2f} s after it (database time); re-owned after {reowned:.2f} s")
    assert last_probe < expires_at, "dc-2 probed after its leases expired in database time"
    assert last_probe <= expires_at - MARGIN + 0.6     # fenced at TTL - margin after the last renew sent
    the_lab.heal("dc2")
    wait_for(lambda: "dc-2" in owners(the_lab, "dc").values(), 20, what="dc-2 claims again after the cut heals")
    assert sink.received == []


def test_two_of_three_confirmation(lab: tuple[Lab, HttpSink, dict[str, Listener], Path]) -> None:
    the_lab, sink, listeners, home = lab
    wait_for(lambda: sorted(r[0] for r in the_lab.sql("SELECT site FROM cluster_votes WHERE check_id = "
                                                      "'portal/tcp' AND NOT down")) == ["dc", "pop", "venue"],
             20, what="three fresh up votes")
    # Only the portal's port: whichever node coordinates must still reach the paging gateway (in tgt too).
    the_lab.cut("venue", "tgt", port=7010)                             # blocked from one site only
    wait_for(lambda: the_lab.sql("SELECT down FROM cluster_votes WHERE check_id = 'portal/tcp' AND site = 'venue'")
             == [(True,)], 15, what="venue votes down")
    time.sleep(3.0)
    assert sink.received == [], [m.body.get("title") for m in sink.received]
    blocked_two = time.time()
    the_lab.cut("pop", "tgt", port=7010)                               # now from two of three
    try:
        sink.wait_count(1, 20)
    except AssertionError:
        print(the_lab.sql("SELECT id, channel, kind, state, attempts, last_error, dedup_key FROM outbox"))
        print(the_lab.sql("SELECT id, key, state, check_id, severity, category, notify, dependants FROM incidents"))
        print(the_lab.sql("SELECT kind, check_id, summary FROM events ORDER BY id DESC LIMIT 10"))
        print(the_lab.sql("SELECT check_id, from_state, to_state, error FROM transitions ORDER BY id"))
        print(the_lab.sql("SELECT check_id, site, down, at FROM cluster_votes"))
        raise
    time.sleep(3.0)
    assert len(sink.received) == 1 and "portal" in str(sink.received[0].body.get("title"))
    print(f"\n2-of-3: page {sink.received[0].at - blocked_two:.2f} s after the second site lost the target")
    the_lab.heal("venue")
    the_lab.heal("pop")
    wait_for(lambda: len(sink.received) >= 2, 25, what="one recovery")
    time.sleep(2.0)
    keys = [str(m.body.get("dedup_key")) for m in sink.received]
    assert len(keys) == 2 and len(set(keys)) == 2 and keys[1].endswith("resolved"), keys
