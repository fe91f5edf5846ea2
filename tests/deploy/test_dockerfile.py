"""The Dockerfile and the systemd unit: non-root, pinned base, only CAP_NET_RAW, and they run netwatch."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import REPO

DOCKERFILE = REPO / "Dockerfile"
UNIT = REPO / "deploy" / "netwatch.service"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^\s*(\w+)\s+(.*)$", joined, re.M)]


def final_stage(steps: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last:]


def test_base_images_are_pinned() -> None:
    for op, args in instructions(DOCKERFILE.read_text()):
        if op == "FROM":
            image = args.split()[0]
            assert "@sha256:" in image or re.search(r":\d+\.\d+\.\d+[\w.-]*$", image), \
                f"pin an exact base image release: {image}"
            assert ":latest" not in image


def test_final_image_runs_as_an_unprivileged_user() -> None:
    users = [args for op, args in final_stage(instructions(DOCKERFILE.read_text())) if op == "USER"]
    assert users, "the final stage needs a USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users


def test_entrypoint_runs_netwatch() -> None:
    stage = final_stage(instructions(DOCKERFILE.read_text()))
    entrypoint = json.loads(next(args for op, args in stage if op == "ENTRYPOINT"))
    cmd = json.loads(next(args for op, args in stage if op == "CMD"))
    assert entrypoint[-2:] == ["-m", "netwatch"] or entrypoint == ["netwatch"], entrypoint
    assert cmd[:1] == ["run"] and "/etc/netwatch/venue.yaml" in cmd


def test_only_net_raw_is_granted() -> None:
    text = DOCKERFILE.read_text()
    setcaps = re.findall(r"setcap\s+(\S+)", text)
    assert setcaps == ["cap_net_raw=ep"], setcaps
    assert "NET_ADMIN" not in re.sub(r"#.*", "", text).upper()


def test_dockerignore_keeps_local_state_out() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("*")] == "*" and "!netwatch/" in lines
    copied = {args.split()[0] for op, args in instructions(DOCKERFILE.read_text()) if op == "COPY"
              and not args.startswith("--from")}
    for path in copied:
        assert f"!{path.rstrip('/')}/" in lines or f"!{path}" in lines or path == ".", path
    for path in ("pyproject.toml", "setup.py", "README.md", "netwatch"):
        assert (REPO / path).exists()


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]   # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def test_systemd_unit_has_the_same_limits_as_the_container() -> None:
    service = unit()["Service"]
    assert service["User"] not in ("root", "0")
    assert service["AmbientCapabilities"] == "CAP_NET_RAW" == service["CapabilityBoundingSet"]
    assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
    assert "netwatch run -c " in service["ExecStart"]
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"   # netwatch reloads its venue file on SIGHUP


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    netwatch = shutil.which("netwatch")
    if netwatch is None:
        pytest.skip("netwatch is not installed as a command")
    # verify wants the binaries to exist: point the unit at the installed command.
    (tmp_path / "netwatch.service").write_text(UNIT.read_text().replace("/usr/local/bin/netwatch", netwatch))
    r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "netwatch.service")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout + r.stderr == "", r.stdout + r.stderr
