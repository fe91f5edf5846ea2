"""A new user's first commands: language switch anywhere, store directory, port taken, demo length."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _netwatch(*args: str, cwd: Path = REPO, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NETWATCH_LANG"}
    return subprocess.run([sys.executable, "-m", "netwatch", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def _venue(tmp_path: Path, store: str, listen: str = "127.0.0.1:9800") -> Path:
    path = tmp_path / "venue.yaml"
    path.write_text(textwrap.dedent(f"""\
        store: {store}
        listen: {listen}
        zones: [{{id: hall}}]
        targets:
          - {{id: sw, host: 127.0.0.1, zone: hall, checks: [{{kind: tcp, port: 9}}]}}
        """), encoding="utf-8")
    return path


def test_lang_is_accepted_after_the_subcommand(tmp_path: Path) -> None:
    venue = _venue(tmp_path, str(tmp_path / "nw.db"))
    after = _netwatch("check", "-c", str(venue), "--lang", "en")
    assert after.returncode == 0, after.stderr
    assert after.stdout.startswith("Config is valid:")
    before = _netwatch("--lang", "en", "check", "-c", str(venue))
    assert before.stdout == after.stdout
    assert _netwatch("check", "-c", str(venue)).stdout.startswith("Cấu hình hợp lệ:")
    nested = _netwatch("maintenance", "list", "-c", str(venue), "--lang", "en")
    assert nested.returncode == 0 and nested.stdout.strip().lower() == "no maintenance windows"


def test_store_directory_is_created_for_a_fresh_config(tmp_path: Path) -> None:
    store = tmp_path / "var" / "lib" / "netwatch" / "netwatch.db"
    venue = _venue(tmp_path, str(store))
    for command in (["incidents"], ["maintenance", "list"]):
        out = _netwatch(*command, "-c", str(venue), "--lang", "en")
        assert out.returncode == 0, out.stderr
        assert "Traceback" not in out.stderr
    assert store.exists()
    assert oct(store.parent.stat().st_mode & 0o777) == oct(0o750)


def test_store_directory_that_cannot_be_made_is_named_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    venue = _venue(tmp_path, str(blocker / "sub" / "netwatch.db"))
    out = _netwatch("incidents", "-c", str(venue))
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert f"directory {blocker / 'sub'} does not exist and cannot be created" in lines[0]
    assert "store:" in lines[0]


def test_run_with_its_port_taken_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        venue = _venue(tmp_path, str(tmp_path / "nw.db"), listen=f"127.0.0.1:{port}")
        out = _netwatch("run", "-c", str(venue), "--lang", "en", timeout=120)
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if " INFO " not in line]
    assert errors == [f"netwatch run: cannot listen on 127.0.0.1:{port} (`listen:` in {venue}): "
                      "Address already in use; stop the program using it or change `listen:`"]


def test_demo_says_how_long_it_takes_and_that_fast_exists(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "demo", "--lang", "en", "--plain",
                             "--out", str(tmp_path / "demo"), "--listen", "127.0.0.1:0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
    assert first.strip() == "The demo takes about 6.5 minutes (Ctrl+C stops it; --fast: about 50 seconds)."
