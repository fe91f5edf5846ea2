"""Site isolation in the namespace lab: a venue cut from everything but PostgreSQL pages once, as a site."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.cluster.lab import Lab, available, isolate
from tests.cluster.test_lab import Listener
from tests.peers.sinks import HttpSink
from tests.support import wait_for

pytestmark = [pytest.mark.root, pytest.mark.skipif(not available(), reason="needs root, ip and nft")]

TTL, RENEW, MARGIN = 6.0, 1.0, 2.0
SLOTS = 8


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Lab, HttpSink, Path]]:
    home = tmp_path_factory.mktemp("isolab")
    lab = Lab().open()
    sink: HttpSink | None = None
    try:
        for role in ("pg", "tgt", "gw", "dc1", "venue"):
            lab.add(role)
        url = lab.start_postgres()
        tgt, gw = lab.members["tgt"].address, lab.members["gw"].address
        for port in (7001, 7002):
            lab.in_ns("tgt", lambda p=port: Listener(tgt, p))
        sink = lab.in_ns("tgt", lambda: HttpSink(port=7100, host=tgt).start())
        pw = home / "pg-password"
        pw.write_text(lab.pg_password)
        config = f"""
listen: 127.0.0.1:9800
site: {{name: lab}}
zones: [{{id: hall, name: Hall}}]
channels:
  chat: {{urls: ["{sink.url('/chat')}"], lang: vi, group_wait: 0s, rate_per_minute: 120, burst: 10, timeout: 2s}}
paging: {{backoff_initial: 200ms, backoff_max: 1s}}
cluster:
  dsn: {{url: "{url}", password_file: {pw}}}
  node: ${{NETWATCH_NODE}}
  site: ${{NETWATCH_SITE}}
  sites:
    dc: {{anchors: [{gw}, "{tgt}:7100"]}}
    venue: {{anchors: [{gw}, "{tgt}:7100"]}}
  slots: {SLOTS}
  lease_ttl: {TTL:g}s
  lease_renew: {RENEW:g}s
  fence_margin: {MARGIN:g}s
defaults:
  interval: 1s
  timeout: 500ms
  alert: {{fail_after: 4, recover_after: 2}}
targets:
  - id: cam
    host: {tgt}
    zone: hall
    checks: [{{kind: tcp, port: 7001, vantage: [venue]}}]
  - id: hall
    host: {tgt}
    zone: hall
    checks: [{{kind: tcp, port: 7002}}]
"""
        path = home / "netwatch.yaml"
        path.write_text(config)
        # dc-1 first, so that it holds the coordinator lease (it must reach the paging gateway).
        lab.run("dc1", ["-m", "netwatch", "run", "-c", str(path)],
                {"NETWATCH_NODE": "dc-1", "NETWATCH_SITE": "dc", "PYTHONUNBUFFERED": "1"}, home / "dc-1.log")
        wait_for(lambda: lab.sql("SELECT to_regclass('cluster_coordinator') IS NOT NULL")[0][0]
                 and lab.sql("SELECT node FROM cluster_coordinator WHERE expires > now()") == [("dc-1",)],
                 60, 0.5, what="dc-1 coordinates")
        lab.run("venue", ["-m", "netwatch", "run", "-c", str(path)],
                {"NETWATCH_NODE": "venue-1", "NETWATCH_SITE": "venue", "PYTHONUNBUFFERED": "1"}, home / "venue-1.log")
        yield lab, sink, home
    finally:
        if sink is not None:
            sink.stop()
        lab.close()


def dump(lab: Lab, home: Path) -> None:
    print(lab.sql("SELECT id, state, check_id, title FROM incidents ORDER BY id"))
    print(lab.sql("SELECT check_id, from_state, to_state, error FROM transitions ORDER BY id"))
    print(lab.sql("SELECT site, anchor, node, up, now() - at FROM cluster_anchors"))
    for log in sorted(home.glob("*.log")):
        print(log.name, log.read_text()[-3000:])


def test_site_cut_from_everything_but_postgresql_pages_once_as_a_site(lab: tuple[Lab, HttpSink, Path]) -> None:
    the_lab, sink, home = lab
    wait_for(lambda: the_lab.sql("SELECT count(*) FROM cluster_anchors WHERE up")[0][0] == 4
             and the_lab.sql("SELECT count(*) FROM cluster_votes WHERE check_id = 'cam/tcp' AND NOT down")[0][0] == 1,
             60, 0.5, what="both sites see their anchors up and the venue votes")
    time.sleep(3.0)   # a few steady rounds
    assert sink.received == []
    isolate(the_lab, "venue", keep=("pg",))
    cut_at = time.time()
    try:
        sink.wait_count(1, 30)
        time.sleep(8.0)       # longer than the venue checks need to go down (4 x 1 s) and any hold to end
        assert len(sink.received) == 1, [m.text for m in sink.received]
    except AssertionError:
        dump(the_lab, home)
        raise
    page = sink.received[0]
    assert "venue" in page.text and "mất liên lạc với điểm giám sát" in page.text, page.text
    paged_after = page.at - cut_at
    incidents = the_lab.sql("SELECT check_id, state FROM incidents ORDER BY id")
    assert incidents == [("site-isolated:venue", "open")], incidents
    # the venue's own failures were held as unreachable (no per-check incident above); votes not written down
    assert the_lab.sql("SELECT down FROM cluster_votes WHERE check_id = 'cam/tcp'") == [(False,)]
    the_lab.heal("venue")
    healed_at = time.time()
    try:
        sink.wait_count(2, 30)
        time.sleep(6.0)
        assert len(sink.received) == 2, [m.text for m in sink.received]
    except AssertionError:
        dump(the_lab, home)
        raise
    recovered_after = sink.received[1].at - healed_at
    keys = [str(m.body.get("dedup_key", "")) for m in sink.received]
    assert the_lab.sql("SELECT check_id, state FROM incidents ORDER BY id") == [("site-isolated:venue", "resolved")]
    print(f"\nsite isolation: one page {paged_after:.2f} s after the cut, one recovery {recovered_after:.2f} s "
          f"after the heal, no per-check page; keys {keys}")


def test_site_cut_from_everything_pages_once_as_a_lost_site(lab: tuple[Lab, HttpSink, Path]) -> None:
    """PostgreSQL too: the venue node fences (and spools); dc-1 sees its views stop and pages the site once."""
    the_lab, sink, home = lab
    before = len(sink.received)
    wait_for(lambda: the_lab.sql("SELECT count(*) FROM cluster_anchors WHERE up AND now() - at < interval '3s'")[0][0]
             == 4, 30, 0.5, what="both sites report their anchors again")
    isolate(the_lab, "venue")
    cut_at = time.time()
    try:
        sink.wait_count(before + 1, 40)
        time.sleep(6.0)
        assert len(sink.received) == before + 1, [m.text for m in sink.received[before:]]
    except AssertionError:
        dump(the_lab, home)
        raise
    page = sink.received[before]
    assert "venue" in page.text and "mất liên lạc với điểm giám sát" in page.text, page.text
    paged_after = page.at - cut_at
    assert the_lab.sql("SELECT check_id FROM incidents WHERE state = 'open'") == [("site-isolated:venue",)]
    the_lab.heal("venue")
    healed_at = time.time()
    try:
        sink.wait_count(before + 2, 40)
        time.sleep(6.0)
        assert len(sink.received) == before + 2, [m.text for m in sink.received[before:]]
    except AssertionError:
        dump(the_lab, home)
        raise
    assert the_lab.sql("SELECT count(*) FROM incidents WHERE state <> 'resolved'") == [(0,)]
    late = the_lab.sql("SELECT count(*) FROM results WHERE late = 1")[0][0]
    print(f"\nsite cut from everything: one page {paged_after:.2f} s after the cut, one recovery "
          f"{sink.received[before + 1].at - healed_at:.2f} s after the heal; {late} spooled results uploaded late")
