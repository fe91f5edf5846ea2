"""Fixtures shared by every test module (helpers live in tests/support.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.support import NetwatchProcess, free_port

ARTIFACTS = Path(os.environ.get("NETWATCH_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (raw sockets, namespaces, nftables); CI runs as root")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def netwatch_process(tmp_path: Path) -> Iterator[Callable[..., NetwatchProcess]]:
    """Start `netwatch run` on a config text; `{listen}` and `{store}` in the text are filled in."""
    started: list[NetwatchProcess] = []

    def start(config_text: str, env: dict[str, str] | None = None, wait: bool = True,
              args: tuple[str, ...] = ("run",)) -> NetwatchProcess:
        listen = f"127.0.0.1:{free_port()}"
        path = tmp_path / f"venue{len(started)}.yaml"
        path.write_text(config_text.replace("{listen}", listen).replace("{store}", str(tmp_path / "netwatch.db")))
        proc = NetwatchProcess(path, listen, tmp_path, env, args)
        started.append(proc)
        if wait:
            proc.wait_ready()
        return proc

    yield start
    for proc in started:
        proc.stop()
