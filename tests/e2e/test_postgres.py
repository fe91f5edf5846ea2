"""End to end on PostgreSQL: `netwatch run` pages a DOWN, the CLI lists, acks and reports it; the
password never shows; a wrong password or a missing database is one line and exit 1."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

from tests.e2e.paging_support import kinds, tcp_target, venue
from tests.peers.postgres import Cluster
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import NetwatchProcess, free_port, http_get, wait_for

OPERATORS = """
operators:
  - {name: lan, role: operator, token: "lan-secret-token-1"}
"""


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os
    return subprocess.run([sys.executable, "-m", "netwatch", "--lang", "en", *args], capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def with_store(text: str, store_yaml: str) -> str:
    return text.replace('store: "{store}"', f"store: {store_yaml}")


def test_run_pages_a_down_and_the_cli_lists_acks_and_reports_it(
        netwatch_process: Callable[..., NetwatchProcess], sinks: dict[str, HttpSink], tmp_path: Path,
        pg_cluster: Cluster) -> None:
    name = pg_cluster.create_database("e2e_run")
    try:
        url = pg_cluster.url(name)
        # The password reaches the config through the environment, inside the URL.
        store_yaml = json.dumps(url.replace(f"{pg_cluster.url('x').split('@')[0]}@",
                                            "postgresql://nw:${NW_PG_PASSWORD}@"))
        env = {"NW_PG_PASSWORD": pg_cluster.password}
        web = TcpTarget().up()
        started = dt.datetime.now(dt.timezone.utc)
        nw = netwatch_process(with_store(venue({"chat": sinks["chat"]}, tcp_target("web1", web.port),
                                               extra=OPERATORS), store_yaml), env=env)
        config = str(nw.config_path)
        wait_for(lambda: "web1/tcp" in http_get(nw.base_url + "/metrics")[1], 10, what="first result")
        web.down()
        chat = sinks["chat"].wait_count(1, 15)
        assert "PROBLEM #1" in chat[0].body["title"] and "web1" in chat[0].body["title"]

        listed = cli("incidents", "-c", config, env=env)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.startswith("#1 ") and "web1/tcp" in listed.stdout
        acked = cli("ack", "-c", config, "1", "--by", "lan", "--note", "đang kiểm tra", env=env)
        assert acked.returncode == 0 and acked.stdout == "#1 acknowledged by lan\n", acked.stderr
        # The daemon sees the CLI's commit (another process) and tells the channel.
        wait_for(lambda: "ack" in kinds(sinks["chat"]), 10, what="the ack notice")
        assert "acked by lan" in cli("incidents", "-c", config, env=env).stdout

        report = cli("report", "-c", config, "--from", started.astimezone().strftime("%Y-%m-%dT%H:%M:%S"),
                     "-o", "-", env=env)
        assert report.returncode == 0, report.stderr
        data = json.loads(report.stdout)
        [row] = [r for r in data["checks"] if r["check"] == "web1/tcp"]
        assert row["outage_count"] == 1 and row["outages"][0]["acknowledged_by"] == "lan"

        checked = cli("check", "-c", config, env=env)
        assert checked.returncode == 0, checked.stderr
        assert url in checked.stdout                      # the store is named, without its password
        metrics = http_get(nw.base_url + "/metrics")[1]
        assert "netwatch_store_write_errors_total 0.0" in metrics
        assert nw.stop() == 0
        for text in (nw.log_path.read_text(errors="replace"), metrics, listed.stdout, checked.stdout, report.stdout, report.stderr):
            assert pg_cluster.password not in text
    finally:
        pg_cluster.drop_database(name)


def test_wrong_password_or_missing_database_is_one_line_and_exit_1(tmp_path: Path, pg_cluster: Cluster) -> None:
    name = pg_cluster.create_database("e2e_bad")
    try:
        wrong = "not-the-password-" + pg_cluster.password[:4]
        cases = {
            "wrong password": json.dumps({"url": pg_cluster.url(name), "password_file": str(tmp_path / "pw")}),
            "missing database": json.dumps(pg_cluster.url("no_such_db").replace("nw@", f"nw:{pg_cluster.password}@")),
        }
        (tmp_path / "pw").write_text(wrong)
        (tmp_path / "pw").chmod(0o600)   # a group-readable secret file would add its own warning line
        for what, store in cases.items():
            config = tmp_path / "venue.yaml"
            config.write_text(f"listen: 127.0.0.1:{free_port()}\nstore: {store}\ntargets: []\n")
            for args in (("run", "-c", str(config)), ("incidents", "-c", str(config))):
                done = cli(*args)
                assert done.returncode == 1, (what, args, done.stdout, done.stderr)
                # `run` logs its start at INFO first; the failure itself is one line.
                lines = [line for line in done.stderr.splitlines() if line.strip() and " INFO " not in line]
                assert len(lines) == 1, (what, args, done.stderr)
                assert "cannot open history store postgresql://nw@127.0.0.1" in lines[0], lines[0]
                assert ("password authentication failed" if what == "wrong password"
                        else 'database "no_such_db" does not exist') in lines[0]
                assert wrong not in done.stderr and pg_cluster.password not in done.stderr
    finally:
        pg_cluster.drop_database(name)
