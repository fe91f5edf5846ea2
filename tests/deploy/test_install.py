"""scripts/install.sh: always a venv in the checkout, a `netwatch` command on PATH, said where.

The interpreter is a recording stand-in (no download, nothing installed for real): what matters
here is which interpreter the script installs into and what it links, on a python3 that is not
Debian's "externally managed" one (pyenv, other distributions) as well as on Debian's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FAKE_PYTHON = r"""#!/usr/bin/env bash
# Records every call; `-m venv DIR` makes DIR/bin/python (this script again) and nothing else.
echo "$0 $*" >> "$FAKE_LOG"
if [ "${1:-}" = "-c" ]; then
  case "$2" in
    *ensurepip*) [ -n "${FAKE_NO_VENV:-}" ] && exit 1; exit 0 ;;
    *EXTERNALLY-MANAGED*) exit "${FAKE_EXTERNALLY_MANAGED:-1}" ;;
  esac
  exit 0
fi
if [ "${1:-}" = "-m" ] && [ "${2:-}" = "venv" ]; then
  dir="${@: -1}"
  mkdir -p "$dir/bin"
  cp "$0" "$dir/bin/python"
  exit 0
fi
if [ "${1:-}" = "-m" ] && [ "${2:-}" = "pip" ]; then
  bin="$(dirname "$0")"
  printf '#!/bin/sh\necho "netwatch 0.0-fake"\n' > "$bin/netwatch"
  chmod +x "$bin/netwatch"
  exit 0
fi
exit 0
"""


def _checkout(tmp_path: Path) -> Path:
    work = tmp_path / "netwatch"
    (work / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "install.sh", work / "scripts" / "install.sh")
    return work


def _fake_path(tmp_path: Path) -> Path:
    fake = tmp_path / "fakebin"
    fake.mkdir()
    python = fake / "python3"
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    # apt-get must not run for real: record it and succeed.
    apt = fake / "apt-get"
    apt.write_text('#!/bin/sh\necho "apt-get $*" >> "$FAKE_LOG"\n')
    apt.chmod(0o755)
    return fake


def _install(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], Path, list[str]]:
    work = _checkout(tmp_path)
    fake = _fake_path(tmp_path)
    log = tmp_path / "calls.log"
    log.write_text("")
    bin_dir = tmp_path / "bin"
    run_env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "FAKE_LOG": str(log),
               "NETWATCH_BIN_DIR": str(bin_dir), **env}
    done = subprocess.run(["bash", "scripts/install.sh"], cwd=work, env=run_env, capture_output=True, text=True,
                          timeout=120)
    return done, work, log.read_text().splitlines()


@pytest.mark.parametrize("externally_managed", ["0", "1"], ids=["debian-python", "pyenv-python"])
def test_installs_into_the_checkouts_venv_and_links_the_command(tmp_path: Path, externally_managed: str) -> None:
    done, work, calls = _install(tmp_path, FAKE_EXTERNALLY_MANAGED=externally_managed)
    assert done.returncode == 0, done.stdout + done.stderr
    venv_python = work / ".venv" / "bin" / "python"
    pip_calls = [c for c in calls if " -m pip " in c]
    assert pip_calls and all(c.startswith(f"{venv_python} ") for c in pip_calls), calls  # never the global one
    assert (work / ".netwatch-python").read_text().strip() == str(venv_python)
    link = tmp_path / "bin" / "netwatch"
    assert link.is_symlink() and os.readlink(link) == str(work / ".venv" / "bin" / "netwatch")
    assert subprocess.run([str(link), "--version"], capture_output=True, text=True).stdout.strip() == \
        "netwatch 0.0-fake"
    assert f"the command: {link} -> {work / '.venv' / 'bin' / 'netwatch'}" in done.stdout
    assert not any(c.startswith("apt-get") for c in calls)


def test_installs_python3_venv_when_the_venv_module_is_missing(tmp_path: Path) -> None:
    done, work, calls = _install(tmp_path, FAKE_NO_VENV="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(c.startswith("apt-get install") and c.endswith("python3-venv") for c in calls), calls
    assert (work / ".venv" / "bin" / "python").exists()
