"""Real net-snmp snmpd peers on loopback or inside a test-made network namespace, plus net-snmp CLI helpers."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

COMMUNITY = "nw-test-community"
V3_USER = "nwuser"
V3_AUTH = "auth-pass-8chars"
V3_PRIV = "priv-pass-8chars"
_ENV = {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}   # numeric OIDs only; no MIB noise

_counter = itertools.count(1)


def available() -> bool:
    return shutil.which("snmpd") is not None and shutil.which("snmpget") is not None


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Namespace:
    """A network namespace joined to the root namespace by a veth pair with 10.231.N.0/30 addresses."""

    name: str
    host_address: str        # our end, in the root namespace
    peer_address: str        # the end inside the namespace, where snmpd listens
    host_link: str
    ports: list[str] = field(default_factory=list)

    def run(self, *cmd: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.name, *cmd], check=True, capture_output=True)

    def set_link(self, port: str, up: bool) -> None:
        """Administratively up/down (IFF_UP): snmpd reports it as ifAdminStatus."""
        subprocess.run(["ip", "-n", self.name, "link", "set", port, "up" if up else "down"], check=True)

    def set_carrier(self, port: str, up: bool) -> None:
        """Cable in/out: take the far end of port's veth down, so port stays admin up but loses carrier."""
        far = port.replace("port", "far", 1)
        subprocess.run(["ip", "-n", self.name, "link", "set", far, "up" if up else "down"], check=True)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_link], capture_output=True)


def make_namespace(purpose: str, interfaces: int = 0, cabled: int = 0) -> Namespace:
    """Namespace `nwt_<purpose>_<pid>_<n>` with `interfaces` ifb links port1..portN (all up), then `cabled`
    veth ports (port<N+1>.. with far ends far<N+1>..) whose carrier `set_carrier` can pull."""
    n = next(_counter)
    pid = os.getpid()
    name = f"nwt_{purpose}_{pid}_{n}"
    third = (pid + n * 7) % 250 + 1
    host, peer = f"10.231.{third}.1", f"10.231.{third}.2"
    host_link, peer_link = f"nws{pid % 10000}h{n}", f"nws{pid % 10000}p{n}"
    sh = lambda *c: subprocess.run(list(c), check=True, capture_output=True)  # noqa: E731
    sh("ip", "netns", "add", name)
    ns = Namespace(name, host, peer, host_link)
    try:
        sh("ip", "link", "add", host_link, "type", "veth", "peer", "name", peer_link)
        sh("ip", "link", "set", peer_link, "netns", name)
        sh("ip", "addr", "add", f"{host}/30", "dev", host_link)
        sh("ip", "link", "set", host_link, "up")
        sh("ip", "-n", name, "addr", "add", f"{peer}/30", "dev", peer_link)
        sh("ip", "-n", name, "link", "set", peer_link, "up")
        sh("ip", "-n", name, "link", "set", "lo", "up")
        for i in range(1, interfaces + 1):
            # Debian's kernel here has no `dummy` module; ifb links behave the same for the ifTable.
            sh("ip", "-n", name, "link", "add", f"port{i}", "type", "ifb")
            sh("ip", "-n", name, "link", "set", f"port{i}", "up")
            ns.ports.append(f"port{i}")
        for i in range(interfaces + 1, interfaces + cabled + 1):
            sh("ip", "-n", name, "link", "add", f"port{i}", "type", "veth", "peer", "name", f"far{i}")
            sh("ip", "-n", name, "link", "set", f"far{i}", "up")
            sh("ip", "-n", name, "link", "set", f"port{i}", "up")
            ns.ports.append(f"port{i}")
    except BaseException:
        ns.delete()
        raise
    return ns


class Snmpd:
    """Our own snmpd (never the system one): its config, pid file and persistent dir live in `workdir`."""

    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int | None = None,
                 community: str = COMMUNITY, netns: Namespace | None = None, client_source: str | None = None,
                 v3: bool = True) -> None:
        self.workdir = workdir
        self.host = host
        self.port = port or (free_udp_port(host) if netns is None else 16100 + next(_counter))
        self.community = community
        self.netns = netns
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "persist").mkdir(exist_ok=True)
        source = client_source or ("127.0.0.1" if netns is None else netns.host_address)
        lines = [f"agentaddress udp:{host}:{self.port}", f"rocommunity {community} {source}"]
        if v3:
            lines += [f"createUser {V3_USER} SHA-256 {V3_AUTH} AES {V3_PRIV}", f"rouser {V3_USER} priv"]
        (workdir / "snmpd.conf").write_text("\n".join(lines) + "\n")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> "Snmpd":
        cmd = ["snmpd", "-f", "-Lo", "-C", "-c", str(self.workdir / "snmpd.conf"), "-p",
               str(self.workdir / "snmpd.pid"), "-I", "-smux", f"--persistentDir={self.workdir / 'persist'}"]
        if self.netns is not None:
            cmd = ["ip", "netns", "exec", self.netns.name, *cmd]
        env = {**_ENV, "SNMP_PERSISTENT_DIR": str(self.workdir / "persist"), "SNMPCONFPATH": str(self.workdir)}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        self.wait_ready()
        return self

    def wait_ready(self, timeout_seconds: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"snmpd exited with {self.proc.returncode}")
            r = subprocess.run(["snmpget", "-v2c", "-c", self.community, "-t", "0.3", "-r", "0", "-On",
                                self.address, "1.3.6.1.2.1.1.3.0"], capture_output=True, env=_ENV)
            if r.returncode == 0:
                return
        raise RuntimeError("snmpd did not answer in time")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()        # our own child, by its PID
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cpu_seconds(self) -> float:
        """User+system CPU of the snmpd process (through `ip netns exec`, which execs snmpd in place)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def netsnmp(tool: str, *args: str) -> str:
    """Run a net-snmp command-line tool with numeric output and return stdout."""
    r = subprocess.run([tool, "-On", "-Oe", *args], capture_output=True, text=True, env=_ENV, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(f"{tool} failed: {r.stderr.strip()}")
    return r.stdout


def parse_netsnmp(text: str) -> dict[str, str]:
    """`.1.3.6.1.2.1.1.5.0 = STRING: "vm"` lines -> {"1.3.6.1.2.1.1.5.0": '"vm"'} (the value part)."""
    out = {}
    for line in text.splitlines():
        if " = " not in line:
            continue
        oid, value = line.split(" = ", 1)
        out[oid.strip().lstrip(".")] = value.split(": ", 1)[1] if ": " in value else value
    return out
