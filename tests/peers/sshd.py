"""A real Debian OpenSSH sshd on loopback posing as a router: forced command, own host keys, own log."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from tests.support import free_port, wait_for

_accounts = itertools.count(1)

SSHD = "/usr/sbin/sshd"

RUNNING_CONFIG = """Building configuration...

Current configuration : 1187 bytes
!
! Last configuration change at 07:00:01 ICT Mon Dec 14 2026 by admin
!
version 15.2
hostname hoitruong-core1
!
enable secret 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0
username admin privilege 15 secret 9 $9$nhEmQVczB7dqsO$X.HsgL6x1il0RxkOSSvyQYwucySCt7qFm4v7pqCxkKM
!
interface GigabitEthernet0/1
 description uplink-vnpt
 ip address 127.0.10.1 255.255.255.252
 ip ospf message-digest-key 1 md5 7 0822455D0A16
!
snmp-server community hoitruong-ro RO 10
snmp-server location Hoi truong tinh
tacacs-server key 7 045802150C2E
line vty 0 4
 transport input ssh
end
"""

# The forced command plays a router CLI: it answers a few commands and rejects the rest, like IOS.
DEVICE_SCRIPT = """#!/bin/sh
case "$SSH_ORIGINAL_COMMAND" in
  "show running-config") exec cat "{dir}/running-config" ;;
  "show version") echo "Cisco IOS Software, C3560 Software (fake), Version 15.2" ;;
  "show flood") exec head -c 3000000 /dev/zero ;;
  "show slow") exec sleep 30 ;;
  *) echo "% Invalid input detected at '^' marker." >&2; exit 1 ;;
esac
"""


def available() -> bool:
    return os.path.exists(SSHD) and shutil.which("ssh-keygen") is not None


def keygen(path: Path, kind: str = "ed25519") -> Path:
    """A fresh key pair at path / path.pub (no passphrase)."""
    for p in (path, path.with_name(path.name + ".pub")):
        if p.exists():
            p.unlink()
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "netwatch-test", "-f", str(path)],
                   check=True, capture_output=True)
    return path


class Sshd:
    """`sshd -D -f CONFIG -p PORT -h HOSTKEY` on 127.0.0.1 as root with key auth and a forced command."""

    def __init__(self, workdir: Path, user: str = "root") -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.user = user
        self.port = free_port()
        self.host_key = keygen(self.dir / "host_ed25519")
        self.client_key = keygen(self.dir / "client_ed25519")
        self.log_path = self.dir / "sshd.log"
        self.config_path = self.dir / "sshd_config"
        self.running_config = self.dir / "running-config"
        self.running_config.write_text(RUNNING_CONFIG)
        script = self.dir / "device.sh"
        script.write_text(DEVICE_SCRIPT.format(dir=self.dir))
        script.chmod(0o755)
        (self.dir / "authorized_keys").write_text((self.dir / "client_ed25519.pub").read_text())
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self, password_auth: bool = False, keyboard_interactive: bool = False) -> None:
        # Keyboard-interactive needs PAM on Linux; plain password auth then goes through PAM too.
        self.config_path.write_text(f"""ListenAddress 127.0.0.1
PidFile {self.dir}/sshd.pid
AuthorizedKeysFile {self.dir}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication {"yes" if password_auth and not keyboard_interactive else "no"}
KbdInteractiveAuthentication {"yes" if keyboard_interactive else "no"}
UsePAM {"yes" if keyboard_interactive else "no"}
StrictModes no
AllowUsers {self.user}
ForceCommand {self.dir}/device.sh
PrintMotd no
PrintLastLog no
# Tests and benchmarks open many sessions at once; the default (10:30:100) drops some at random.
MaxStartups 200
LogLevel DEBUG1
""")

    def start(self, password_auth: bool = False, keyboard_interactive: bool = False) -> "Sshd":
        # Debian's sshd insists on its privilege separation directory, normally made by systemd.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.write_config(password_auth, keyboard_interactive)
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-f", str(self.config_path), "-p", str(self.port), "-h", str(self.host_key),
             "-E", str(self.log_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(self._banner, 10.0, 0.05, f"sshd banner on 127.0.0.1:{self.port}")
        return self

    def _banner(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
            raise AssertionError(f"sshd exited with {self.proc.returncode}: {err}\n{self.log()}")
        with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
            return s.recv(64).startswith(b"SSH-2.0-")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def swap_host_key(self, kind: str = "ed25519") -> None:
        """Restart on the same port with a brand-new host key (a replaced or impersonated device)."""
        self.stop()
        self.host_key = keygen(self.dir / f"host_{kind}_swapped", kind)
        self.start()

    def set_running_config(self, text: str) -> None:
        self.running_config.write_text(text)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def auth_requests(self) -> list[str]:
        """sshd's record of every authentication request it received (DEBUG1 `userauth-request`)."""
        return [line for line in self.log().splitlines() if "userauth-request" in line]

    def known_hosts_line(self) -> str:
        kind, blob = (self.dir / (self.host_key.name + ".pub")).read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {blob}\n"


class LocalUser:
    """A throw-away local account with a password (for password logins), removed by `delete`."""

    def __init__(self, password: str) -> None:
        # Unique per account, not per process: a parametrised test makes several in one run.
        self.name = f"nwtssh{os.getpid() % 100000}x{next(_accounts)}"
        self.password = password
        subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh",
                        self.name], check=True, capture_output=True)
        subprocess.run(["chpasswd"], input=f"{self.name}:{password}".encode(), check=True, capture_output=True)

    def delete(self) -> None:
        # --force: sshd's session process for this user may still be exiting; the account must go.
        subprocess.run(["userdel", "--force", self.name], capture_output=True)
        wait_for(lambda: subprocess.run(["getent", "passwd", self.name], capture_output=True).returncode == 2,
                 10, 0.1, f"account {self.name} removed")


def can_add_users() -> bool:
    return shutil.which("useradd") is not None and shutil.which("chpasswd") is not None and os.geteuid() == 0
