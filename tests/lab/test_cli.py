"""`netwatch demo` refuses a bad scenario before starting anything (exit 2, one clear line)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO


@pytest.mark.parametrize("text, message", [
    ("duration: 1m\nsteps:\n  - {at: 5s, do: isolate, device: toaster}\n",
     "steps[0].device: the lab has no 'toaster'"),
    ("duration: 1m\nsteps:\n  - {at: 5s, do: melt}\n", "steps[0].do: unknown action 'melt'"),
    ("duration: [\n", "not valid YAML"),
])
def test_bad_scenario_exits_2(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    done = subprocess.run([sys.executable, "-m", "netwatch", "demo", "--scenario", str(path), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 2
    assert done.stderr.startswith(f"netwatch demo: {path}: ") and message in done.stderr
    assert not (tmp_path / "out").exists()
