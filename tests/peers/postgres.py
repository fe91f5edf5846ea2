"""A private PostgreSQL 15 cluster on a free loopback port (never the system cluster), one database per test."""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from netwatch.config.store import StoreSpec
from netwatch.fields import Secret
from tests.support import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "nw"
_counter = itertools.count(1)


def available() -> bool:
    return (BIN / "initdb").exists() and shutil.which("runuser") is not None


@dataclass
class Cluster:
    directory: Path
    port: int
    password: str

    def url(self, database: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def spec(self, database: str) -> StoreSpec:
        return StoreSpec(url=self.url(database), password=Secret(self.password))

    def admin(self, sql: str) -> None:
        import psycopg
        with psycopg.connect(self.url("postgres"), password=self.password, autocommit=True,
                             connect_timeout=10) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self, purpose: str = "t") -> str:
        """A new empty database (a copy of template0 is cheap with fsync off)."""
        name = f"{purpose[:30].lower()}_{os.getpid()}_{next(_counter)}"
        name = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["runuser", "-u", "postgres", "--", str(BIN / "pg_ctl"), "-D",
                               str(self.directory / "data"), *args], capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.directory} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        done = self._ctl("-l", str(self.directory / "log"), "-w", "-t", "60", "-o", opts, "start")
        if done.returncode != 0:
            log = (self.directory / "log").read_text(errors="replace") if (self.directory / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stderr}\n{log[-2000:]}")

    def stop(self) -> None:
        self._ctl("-m", "immediate", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()


def start_cluster() -> Cluster:
    """initdb into a temp dir owned by postgres (initdb refuses root), then start on a free port."""
    directory = Path(tempfile.mkdtemp(prefix="nw-pg-"))
    shutil.chown(directory, "postgres", "postgres")
    password = secrets.token_hex(12)
    pwfile = directory / "pw"
    pwfile.write_text(password + "\n")
    shutil.chown(pwfile, "postgres", "postgres")
    done = subprocess.run(["runuser", "-u", "postgres", "--", str(BIN / "initdb"), "-D", str(directory / "data"),
                           "-U", USER, "--pwfile", str(pwfile), "-A", "scram-sha-256", "-E", "UTF8",
                           "--no-sync"], capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {done.stderr[-2000:]}")
    pwfile.unlink()
    cluster = Cluster(directory, free_port(), password)
    for attempt in range(3):
        try:
            cluster.start()
            return cluster
        except RuntimeError:
            if attempt == 2:
                shutil.rmtree(directory, ignore_errors=True)
                raise
            cluster.port = free_port()  # lost the race for the port: try another
            time.sleep(0.2)
    return cluster


def remove(cluster: Cluster) -> None:
    cluster.stop()
    shutil.rmtree(cluster.directory, ignore_errors=True)
