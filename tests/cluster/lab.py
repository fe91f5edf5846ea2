"""A namespace lab for cluster scenarios: one bridge, a namespace per member, nftables cuts.

Every address is inside namespaces this module creates (10.231.K.0/24, K from the pid) and deletes in
`close()`; the test process reaches them from worker threads moved into a namespace with setns(2),
so it never gets an address of its own on the lab network.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TypeVar

from tests.peers import postgres

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
    return done


def available() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None and shutil.which("nft") is not None


@dataclass
class Member:
    name: str      # the namespace
    address: str


@dataclass
class Lab:
    prefix: str = field(default_factory=lambda: f"nwc{os.getpid() % 10000}{secrets.token_hex(1)}")
    subnet: int = field(default_factory=lambda: 100 + os.getpid() % 150)
    members: dict[str, Member] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pg_dir: Path | None = None
    pg_password: str = field(default_factory=lambda: secrets.token_hex(12))
    pg_port: int = 5432

    @property
    def hub(self) -> str:
        return f"{self.prefix}hub"

    def open(self) -> "Lab":
        sh("ip", "netns", "add", self.hub)
        sh("ip", "-n", self.hub, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.hub, "link", "set", "br0", "up")
        return self

    def add(self, role: str) -> Member:
        """A namespace on the bridge with the next address (.1, .2, ...)."""
        index = len(self.members) + 1
        ns = f"{self.prefix}{role}"
        host_end, ns_end = f"{self.prefix[:9]}{index}h", f"{self.prefix[:9]}{index}p"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", ns_end)
        sh("ip", "link", "set", host_end, "netns", self.hub)
        sh("ip", "link", "set", ns_end, "netns", ns)
        sh("ip", "-n", self.hub, "link", "set", host_end, "master", "br0")
        sh("ip", "-n", self.hub, "link", "set", host_end, "up")
        address = f"10.231.{self.subnet}.{index}"
        sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", ns_end)
        sh("ip", "-n", ns, "link", "set", ns_end, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        member = Member(ns, address)
        self.members[role] = member
        return member

    def in_ns(self, role: str, fn: Callable[[], T]) -> T:
        """Run `fn` in a thread moved into the member's namespace (sockets it opens live there)."""
        out: dict[str, Any] = {}

        def run() -> None:
            fd = os.open(f"/run/netns/{self.members[role].name}", os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns failed")
            finally:
                os.close(fd)
            try:
                out["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                out["error"] = exc

        t = threading.Thread(target=run)
        t.start()
        t.join()
        if "error" in out:
            raise out["error"]
        return out["value"]  # type: ignore[no-any-return]

    # -- PostgreSQL in its own namespace ---------------------------------------------------
    def start_postgres(self, role: str = "pg") -> str:
        member = self.members[role]
        directory = Path(tempfile.mkdtemp(prefix="nw-lab-pg-"))
        shutil.chown(directory, "postgres", "postgres")
        pwfile = directory / "pw"
        pwfile.write_text(self.pg_password + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        sh("runuser", "-u", "postgres", "--", str(postgres.BIN / "initdb"), "-D", str(directory / "data"),
           "-U", postgres.USER, "--pwfile", str(pwfile), "-A", "scram-sha-256", "-E", "UTF8", "--no-sync")
        pwfile.unlink()
        with open(directory / "data" / "pg_hba.conf", "a") as f:
            f.write(f"host all all 10.231.{self.subnet}.0/24 scram-sha-256\n")
        self.pg_dir = directory
        self._pg_ctl(role, "start")
        self.sql("CREATE DATABASE netwatch", database="postgres")
        return self.pg_url()

    def pg_url(self, database: str = "netwatch") -> str:
        return f"postgresql://{postgres.USER}@{self.members['pg'].address}:{self.pg_port}/{database}"

    def sql(self, text: str, *args: Any, database: str = "netwatch") -> list[tuple[Any, ...]]:
        """A statement from a thread in the PostgreSQL namespace (the test process has no lab address)."""
        import psycopg

        def run() -> list[tuple[Any, ...]]:
            with psycopg.connect(self.pg_url(database), password=self.pg_password, autocommit=True,
                                 connect_timeout=5) as conn:
                cur = conn.execute(text, args)  # type: ignore[arg-type]
                return cur.fetchall() if cur.description else []
        return self.in_ns("pg", run)

    def _pg_ctl(self, role: str, action: str, *extra: str) -> None:
        assert self.pg_dir is not None
        member = self.members[role]
        opts = (f"-c listen_addresses={member.address} -c port={self.pg_port} "
                f"-c unix_socket_directories={self.pg_dir} -c fsync=off -c max_connections=100")
        env_pw = {**os.environ, "PGPASSWORD": self.pg_password}
        done = subprocess.run(["ip", "netns", "exec", member.name, "runuser", "-u", "postgres", "--",
                               str(postgres.BIN / "pg_ctl"), "-D", str(self.pg_dir / "data"), "-l",
                               str(self.pg_dir / "log"), "-w", "-t", "60", *extra, "-o", opts, action],
                              capture_output=True, text=True, timeout=120, env=env_pw)
        if done.returncode != 0 and action != "stop":
            raise RuntimeError(f"pg_ctl {action}: {done.stderr}")

    def stop_postgres(self) -> None:
        if self.pg_dir is not None:
            self._pg_ctl("pg", "stop", "-m", "immediate")
            shutil.rmtree(self.pg_dir, ignore_errors=True)
            self.pg_dir = None

    # -- processes and faults ----------------------------------------------------------------
    def run(self, role: str, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        """Start a process inside the member's namespace (`ip netns exec` execs it: its pid is ours)."""
        out = open(log, "wb")
        proc = subprocess.Popen(["ip", "netns", "exec", self.members[role].name, sys.executable, *args],
                                env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def run_binary(self, role: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        """Start any program (Alertmanager, Prometheus) inside the member's namespace; killed by PID in close()."""
        out = open(log, "wb")
        proc = subprocess.Popen(["ip", "netns", "exec", self.members[role].name, *argv], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def crash_postgres(self, role: str = "pg") -> None:
        """`pg_ctl restart -m immediate`: PostgreSQL stops without a checkpoint (a crash) and recovers from WAL."""
        self._pg_ctl(role, "restart", "-m", "immediate")

    def cut(self, role: str, peer: str, port: int | None = None) -> None:
        """Drop every packet between the member and a peer address (both directions), like a partition;
        with `port`, only the member's TCP connections to that port of the peer (one service blocked)."""
        ns = self.members[role].name
        address = self.members[peer].address
        if sh("ip", "netns", "exec", ns, "nft", "list", "table", "inet", "chaos", check=False).returncode != 0:
            sh("ip", "netns", "exec", ns, "nft", "add", "table", "inet", "chaos")
            for chain, hook in (("in", "input"), ("out", "output")):
                sh("ip", "netns", "exec", ns, "nft", "add", "chain", "inet", "chaos", chain,
                   f"{{ type filter hook {hook} priority 0; policy accept; }}")
        if port is not None:
            sh("ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "chaos", "out", "ip", "daddr", address,
               "tcp", "dport", str(port), "drop")
            return
        sh("ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "chaos", "in", "ip", "saddr", address, "drop")
        sh("ip", "netns", "exec", ns, "nft", "add", "rule", "inet", "chaos", "out", "ip", "daddr", address, "drop")

    def heal(self, role: str) -> None:
        sh("ip", "netns", "exec", self.members[role].name, "nft", "flush", "table", "inet", "chaos", check=False)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        try:
            self.stop_postgres()
        finally:
            for member in self.members.values():
                sh("ip", "netns", "del", member.name, check=False)
            sh("ip", "netns", "del", self.hub, check=False)


def isolate(lab: Lab, role: str, keep: tuple[str, ...] = ()) -> None:
    """Cut a member from every other member except those in `keep` (a site whose uplink is gone)."""
    for peer in lab.members:
        if peer != role and peer not in keep:
            lab.cut(role, peer)
