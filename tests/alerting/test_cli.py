"""The paging commands as a person runs them: oncall, maintenance add/list/end, ack errors, incidents."""

from __future__ import annotations

import contextlib
import io
import sqlite3
from pathlib import Path

from netwatch.cli import main

CONFIG = """
store: "{store}"
site: {{timezone: Asia/Ho_Chi_Minh}}
zones: [{{id: hall}}]
channels:
  chat: {{urls: ["json://127.0.0.1:9/chat"]}}
oncall:
  contacts:
    - {{id: an, name: Nguyễn Văn An, phone: "+84901234567", chat: {{telegram: "@an"}}, notify: [chat]}}
    - {{id: binh, name: Trần Bình, phone: "+84907654321", notify: [chat]}}
  shifts:
    - {{contact: an, start: "2026-12-14T07:00", end: "2026-12-14T19:00", repeat: daily}}
    - {{contact: binh, start: "2026-12-14T19:00", end: "2026-12-15T07:00", repeat: daily}}
    - {{contact: binh, start: "2026-12-14T07:00", end: "2026-12-15T07:00", repeat: daily, role: lead}}
operators:
  - {{name: lan, role: operator, token: "0123456789abcdef"}}
targets:
  - {{id: web1, host: 127.0.0.1, zone: hall, checks: [{{kind: tcp, port: 1}}]}}
"""


class Ran:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(config: Path, *args: str) -> Ran:
    """The CLI's own main() in this process (the e2e tests run it as a process)."""
    argv = (["maintenance", args[1], "-c", str(config), *args[2:]] if args[0] == "maintenance"
            else [args[0], "-c", str(config), *args[1:]])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return Ran(code, out.getvalue(), err.getvalue())


def test_paging_commands(tmp_path: Path) -> None:
    config = tmp_path / "venue.yaml"
    config.write_text(CONFIG.format(store=tmp_path / "nw.db"))
    day = run(config, "oncall", "--at", "2026-12-16T08:30")
    assert day.returncode == 0, day.stderr
    assert "primary    Nguyễn Văn An" in day.stdout and "lead       Trần Bình" in day.stdout
    assert "until 19:00 16/12" in day.stdout
    night = run(config, "oncall", "--at", "2026-12-16T23:00")
    assert "primary    Trần Bình" in night.stdout and "Nguyễn" not in night.stdout.split("contacts:")[0]
    early = run(config, "oncall", "--at", "2026-12-01T08:00")
    assert "nobody" in early.stdout

    added = run(config, "maintenance", "add", "--zone", "hall", "--start", "2026-12-14T22:00", "--for", "2h",
                "--repeat", "daily", "--by", "lan", "--reason", "cabling")
    assert added.returncode == 0, added.stderr
    assert "2026-12-14 22:00 - 2026-12-15 00:00 (Asia/Ho_Chi_Minh)" in added.stdout
    assert run(config, "maintenance", "add", "--zone", "nowhere", "--for", "1h", "--by", "lan").returncode == 2
    assert run(config, "maintenance", "add", "--zone", "hall", "--for", "1h").returncode == 2    # no operator
    assert run(config, "maintenance", "add", "--for", "1h", "--by", "lan").returncode == 2      # no scope
    listed = run(config, "maintenance", "list")
    assert "hall cabling (by lan)" in listed.stdout
    assert run(config, "maintenance", "end", "1", "--by", "lan").returncode == 0
    assert run(config, "maintenance", "end", "1", "--by", "lan").returncode == 1
    assert "hall" not in run(config, "maintenance", "list").stdout

    missing = run(config, "ack", "42", "--by", "lan")
    assert missing.returncode == 1 and "no incident #42" in missing.stderr
    assert run(config, "ack", "42", "--by", "mallory").returncode == 2
    assert run(config, "incidents").stdout == ""
    conn = sqlite3.connect(tmp_path / "nw.db")
    assert [r[0] for r in conn.execute("SELECT action FROM audit ORDER BY id")] == ["maintenance_add",
                                                                                      "maintenance_end"]
