"""Crash safety: a full disk under the store, and kill -9 while a notice is on the wire."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.e2e.paging_support import kinds, page_key, query, tcp_target, venue
from tests.peers.sinks import HttpSink, TcpTarget
from tests.support import REPO, NetwatchProcess, free_port, http_get, metric_value, parse_metrics, wait_for


class FullDisk:
    """`netwatch run` in a private mount namespace whose store directory is a small tmpfs."""

    def __init__(self, tmp_path: Path, config_text: str, full_from_start: bool = False) -> None:
        self.dir = tmp_path / "store"
        self.dir.mkdir()
        self.listen = f"127.0.0.1:{free_port()}"
        self.config = tmp_path / "venue.yaml"
        self.config.write_text(config_text.replace("{listen}", self.listen)
                               .replace("{store}", str(self.dir / "netwatch.db")))
        self.log_path = tmp_path / "netwatch.log"
        self._log = open(self.log_path, "wb")
        fill = f"(cat /dev/zero > {self.dir}/filler 2>/dev/null; true) && " if full_from_start else ""
        script = (f"mount -t tmpfs -o size=4m tmpfs {self.dir} && {fill}"
                  f"exec {sys.executable} -m netwatch run -c {self.config}")
        self.proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script], cwd=REPO,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def inside(self, command: str) -> subprocess.CompletedProcess[str]:
        """A shell command in netwatch's mount namespace (where the tmpfs is)."""
        return subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", "sh", "-c", command],
                              capture_output=True, text=True, timeout=30)

    def fill(self) -> None:
        self.inside(f"cat /dev/zero > {self.dir}/filler 2>/dev/null; true")
        assert int(self.inside(f"df --output=avail {self.dir} | tail -1").stdout.strip()) < 64, "the tmpfs is full"

    def free(self) -> None:
        self.inside(f"rm -f {self.dir}/filler")

    def query(self, sql: str) -> str:
        """The rows as Python's repr, read inside the namespace."""
        code = ("import sqlite3, sys; print(sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True, timeout=10)"
                ".execute(sys.argv[2]).fetchall())")
        return subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", sys.executable, "-c", code,
                               str(self.dir / "netwatch.db"), sql], capture_output=True, text=True, timeout=30).stdout

    def metrics(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        return parse_metrics(http_get(f"http://{self.listen}/metrics")[1])

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    s = HttpSink().start()
    yield s
    s.stop()


def _last_result(disk: FullDisk) -> float:
    return metric_value(disk.metrics(), "netwatch_check_last_result_timestamp_seconds", check="web1/tcp") or 0.0


@pytest.mark.root
def test_disk_full_keeps_monitoring_and_loses_no_transition(sink: HttpSink, tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
        pytest.skip("needs root, unshare and nsenter")
    web = TcpTarget().up()
    disk = FullDisk(tmp_path, venue({"chat": sink}, tcp_target("web1", web.port)))
    try:
        wait_for(lambda: http_get(f"http://{disk.listen}/healthz", 1)[0] == 200, 20, 0.1, "netwatch ready")
        wait_for(lambda: "'up'" in disk.query("SELECT to_state FROM transitions"), 15, 0.2, "the UP transition stored")
        disk.fill()
        web.down()
        # Monitoring goes on: results keep coming, /metrics answers, the store error is logged and paged.
        wait_for(lambda: metric_value(disk.metrics(), "netwatch_check_state", check="web1/tcp", state="down") == 1.0,
                 15, 0.2, "the check DOWN in /metrics while the disk is full")
        wait_for(lambda: "history store write failed" in disk.log(), 15, 0.2, "the store error logged")
        wait_for(lambda: metric_value(disk.metrics(), "netwatch_monitoring_degraded") == 1.0, 15, 0.2,
                 "monitoring degraded raised")
        wait_for(lambda: "degraded" in kinds(sink), 15, 0.2, "the monitoring-degraded notice delivered")
        m = disk.metrics()
        assert (metric_value(m, "netwatch_store_write_errors_total") or 0) >= 1
        assert (metric_value(m, "netwatch_store_pending_rows", table="transitions") or 0) >= 1
        before = _last_result(disk)
        wait_for(lambda: _last_result(disk) > before, 10, 0.2, "probes still running")
        assert "'down'" not in disk.query("SELECT to_state FROM transitions")  # not written yet: kept in memory
        disk.free()
        wait_for(lambda: "'down'" in disk.query("SELECT to_state FROM transitions"), 20, 0.2,
                 "the DOWN transition written once space returned")
        # Paged from memory while the disk was full (docs/operations.md), or from the outbox now: once either way.
        wait_for(lambda: "problem" in kinds(sink), 20, 0.2, "the DOWN notice paged")
        wait_for(lambda: metric_value(disk.metrics(), "netwatch_monitoring_degraded") == 0.0, 20, 0.2,
                 "monitoring degraded cleared")
        wait_for(lambda: metric_value(disk.metrics(), "netwatch_store_pending_rows", table="transitions") == 0.0,
                 10, 0.2, "nothing left pending")
        time.sleep(1.5)
        assert kinds(sink).count("problem") == 1
        assert disk.proc.poll() is None
    finally:
        web.down()
        code = disk.stop()
    assert code == 0, disk.log()[-3000:]
    assert "Traceback" not in disk.log()


@pytest.mark.root
def test_a_full_disk_at_start_is_a_clear_error_not_a_traceback(sink: HttpSink, tmp_path: Path) -> None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare")
    disk = FullDisk(tmp_path, venue({"chat": sink}, tcp_target("web1", free_port())), full_from_start=True)
    assert disk.proc.wait(30) == 1
    disk.stop()
    log = disk.log()
    assert "cannot open history store" in log and "not starting" in log
    assert "Traceback" not in log


def test_kill9_while_a_notice_is_on_the_wire_resends_it_with_the_same_key(
        netwatch_process: Callable[..., NetwatchProcess], tmp_path: Path) -> None:
    chat = HttpSink(hang=True).start()   # takes the request, never answers
    web = TcpTarget().up()
    try:
        config = venue({"chat": chat}, tcp_target("web1", web.port))
        nw = netwatch_process(config)
        store = tmp_path / "netwatch.db"
        wait_for(lambda: query(store, "SELECT 1 FROM transitions WHERE to_state='up'"), 10)
        web.down()
        wait_for(lambda: chat.attempts, 15, 0.05, "the DOWN notice on the wire")
        nw.kill9()
        chat.hang = False
        netwatch_process(config)
        chat.wait_count(1, 15)
        time.sleep(1.5)
        assert kinds(chat) == ["problem"]          # once at the gateway that answered
        assert chat.received[0].body["dedup_key"] == stored_key(store)
        assert query(store, "SELECT state FROM outbox WHERE kind='problem'") == [("sent",)]
    finally:
        web.down()
        chat.stop()


def stored_key(store: Path) -> str:
    """The dedup key of the one incident's DOWN page: its check and its start in ms (the same from memory)."""
    (check_id, since), = query(store, "SELECT check_id, since FROM incidents")
    return page_key(check_id, since)
