"""A reload applies every section, retention included, and says which key waits for a restart."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from netwatch.app import Monitor
from netwatch.config import load
from netwatch.model import Outcome, Result
from netwatch.store import Store

VENUE = """\
listen: "127.0.0.1:{port}"
store: "{store}"
retention: {{results: {results}}}
targets:
  - {{id: web, host: 127.0.0.1, checks: [{{kind: tcp, port: 9, interval: 1h}}]}}
"""


async def test_reload_applies_retention_and_names_the_keys_that_need_a_restart(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "venue.yaml"
    path.write_text(VENUE.format(port=9801, store=tmp_path / "nw.db", results="30d"))
    config = load(str(path))
    store = Store.open(config.store)
    monitor = Monitor(config, store)
    try:
        import time

        old = time.time() - 5 * 86400        # kept under 30 days, past 2 days
        check = config.checks[0]
        monitor.recorder.add_result(Result(check.id, "web", "tcp", old, 0.01, Outcome(ok=True)))
        assert await monitor.recorder.flush()
        assert store.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 1

        path.write_text(VENUE.format(port=9802, store=tmp_path / "other.db", results="2d"))
        with caplog.at_level(logging.WARNING, logger="netwatch.config"):
            assert monitor.reload(str(path))
        assert monitor.recorder.retention[0] == 2 * 86400
        assert "store changed; it takes effect at the next restart" in caplog.text
        assert str(monitor.config.store) == str(tmp_path / "nw.db")   # still what is written to
        assert monitor.config.listen.port == 9802        # listen is rebound (web/listener.py), not kept
        assert await monitor.recorder.flush()            # the next write prunes with the new retention
        assert store.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 0
    finally:
        store.close()
