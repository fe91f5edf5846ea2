"""The history store of a bench run: a SQLite file, or a private PostgreSQL 15 cluster (`--store postgresql`).

The cluster is the tests' own (tests/peers/postgres.py: initdb into a temporary directory, a free loopback
port, never the system cluster; needs root), started for the run and removed after it. `query` takes
SQLite-style `?` placeholders on both back ends, so a bench reads its figures with one SQL text.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class BenchStore:
    def __init__(self, kind: str, work: Path) -> None:
        if kind not in ("sqlite", "postgresql"):
            raise SystemExit(f"--store: sqlite or postgresql, not {kind!r}")
        self.kind = kind
        self.path = work / "netwatch.db"
        self.cluster: Any = None
        self.database = ""
        self.yaml = json.dumps(str(self.path))    # the `store:` value of the bench's config
        if kind == "postgresql":
            from tests.peers import postgres
            if not postgres.available():
                raise SystemExit("--store postgresql needs PostgreSQL 15 (scripts/install.sh) and root")
            self.cluster = postgres.start_cluster()
            self.database = self.cluster.create_database("bench")
            password = work / "pg-password"
            password.write_text(self.cluster.password)
            os.chmod(password, 0o600)
            self.yaml = json.dumps({"url": self.cluster.url(self.database), "password_file": str(password)})

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.cluster is None:
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                return conn.execute(sql, tuple(args)).fetchall()
            finally:
                conn.close()
        import psycopg
        with psycopg.connect(self.cluster.url(self.database), password=self.cluster.password,
                             connect_timeout=10) as pg:
            return pg.execute(sql.replace("?", "%s"), tuple(args)).fetchall()  # type: ignore[arg-type]

    def server_cpu_seconds(self) -> float:
        """CPU of the PostgreSQL cluster's processes (postmaster and backends), from /proc; 0 for SQLite."""
        if self.cluster is None:
            return 0.0
        pid_file = self.cluster.directory / "data" / "postmaster.pid"
        root = int(pid_file.read_text().split()[0])
        total = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry.name) == root or int(stat[1]) == root:
                # utime, stime, and the reaped children's cutime, cstime (backends that have exited)
                total += sum(int(x) for x in stat[11:15]) / os.sysconf("SC_CLK_TCK")
        return total

    def size_mb(self) -> float:
        if self.cluster is None:
            return self.path.stat().st_size / 1e6
        return float(self.query("SELECT pg_database_size(current_database())")[0][0]) / 1e6

    def close(self) -> None:
        if self.cluster is not None:
            from tests.peers import postgres
            postgres.remove(self.cluster)
            self.cluster = None
