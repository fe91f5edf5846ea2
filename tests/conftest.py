"""Fixtures shared by every test module (helpers live in tests/support.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import pytest

from tests.support import NetwatchProcess, free_port

if TYPE_CHECKING:
    from netwatch.config.store import StoreSpec
    from tests.peers import postgres

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


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator["postgres.Cluster"]:
    """One private PostgreSQL for the whole run; tests get their own database from `store_spec`."""
    from tests.peers import postgres
    if not postgres.available():
        pytest.skip("PostgreSQL 15 is not installed (scripts/install.sh installs the `postgresql` package)")
    cluster = postgres.start_cluster()
    try:
        yield cluster
    finally:
        postgres.remove(cluster)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_spec(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator["StoreSpec"]:
    """A fresh, empty history store on the back end of `backend`."""
    from netwatch.config.store import StoreSpec
    if backend == "sqlite":
        yield StoreSpec(path=str(tmp_path / "netwatch.db"))
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = cluster.create_database(request.node.originalname)
    try:
        yield cluster.spec(name)
    finally:
        cluster.drop_database(name)


@pytest.fixture
def store_yaml(store_spec: "StoreSpec", tmp_path: Path) -> str:
    """The `store:` value for a config file naming `store_spec` (a password file for PostgreSQL)."""
    if store_spec.url is None:
        return json.dumps(store_spec.path)
    pw = tmp_path / "store-password"
    pw.write_text(store_spec.password_text() or "")
    pw.chmod(0o600)
    return json.dumps({"url": store_spec.url, "password_file": str(pw)})
