"""Real mail peers on loopback: aiosmtpd (STARTTLS, implicit TLS, AUTH) delivering into Maildirs that
a Dovecot IMAP server of the test's own (own config, own ports, stopped by PID) serves."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.peers.certs import Leaf, Pki, make_pki
from tests.support import free_port, wait_for

MAIL_USER = "nobody"   # the uid Dovecot reads and writes the Maildirs as


@dataclass
class Mailboxes:
    """Maildirs under `root/<address>/`, shared by the SMTP handler (writer) and Dovecot (reader)."""

    root: Path
    passwords: dict[str, str]
    delay_seconds: float = 0.0       # hold each delivery this long (a slow mail system)
    drop: bool = False               # accept and lose every message (a broken queue)
    received: list[bytes] = field(default_factory=list)

    def maildir(self, address: str) -> Path:
        return self.root / address

    def prepare(self) -> None:
        uid, gid = _mail_ids()
        self.root.mkdir(parents=True, exist_ok=True)
        os.chown(self.root, uid, gid)
        for address in self.passwords:
            for sub in ("", "new", "cur", "tmp"):
                d = self.maildir(address) / sub
                d.mkdir(mode=0o700, exist_ok=True)
                os.chown(d, uid, gid)

    def deliver(self, address: str, data: bytes) -> None:
        """Maildir delivery: write in tmp/, then rename into new/ (atomic for the reader)."""
        uid, gid = _mail_ids()
        box = self.maildir(address)
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.netwatch-test"
        tmp = box / "tmp" / name
        tmp.write_bytes(data)
        os.chown(tmp, uid, gid)
        os.rename(tmp, box / "new" / name)

    def messages(self, address: str) -> list[Path]:
        box = self.maildir(address)
        return sorted(p for sub in ("new", "cur") for p in (box / sub).iterdir())


def _mail_ids() -> tuple[int, int]:
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()  # without root only aiosmtpd runs; nobody else reads the Maildirs
    entry = pwd.getpwnam(MAIL_USER)
    return entry.pw_uid, entry.pw_gid


class DeliveryHandler:
    """aiosmtpd handler: every accepted message goes into the local recipients' Maildirs."""

    def __init__(self, boxes: Mailboxes) -> None:
        self.boxes = boxes

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address not in self.boxes.passwords:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = bytes(envelope.original_content or envelope.content)
        self.boxes.received.append(data)
        if self.boxes.drop:
            return "250 2.0.0 queued"
        rcpts = list(envelope.rcpt_tos)

        def deliver() -> None:
            for rcpt in rcpts:
                self.boxes.deliver(rcpt, data)

        if self.boxes.delay_seconds:
            asyncio.get_running_loop().call_later(self.boxes.delay_seconds, deliver)
        else:
            deliver()
        return "250 2.0.0 delivered"


def _authenticator(passwords: dict[str, str]) -> Any:
    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
            ok = passwords.get(user) == auth_data.password.decode("utf-8", "replace")
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)

    return check


def server_context(leaf: Leaf) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.load_cert_chain(leaf.cert_file, leaf.key_file)
    return ctx


def start_smtp(boxes: Mailboxes, leaf: Leaf | None, implicit_tls: bool = False, require_auth: bool = True) -> Controller:
    """aiosmtpd in its own thread: STARTTLS + AUTH on a plain port, or implicit TLS (like 465)."""
    port = free_port()
    ctx = server_context(leaf) if leaf is not None else None
    kwargs: dict[str, Any] = dict(hostname="127.0.0.1", port=port, server_hostname="mail.tinh.test",
                                  authenticator=_authenticator(boxes.passwords), auth_required=require_auth,
                                  auth_require_tls=True)
    if implicit_tls:
        kwargs["ssl_context"] = ctx
        # aiosmtpd 1.4 only counts STARTTLS as encryption; the whole session is TLS here.
        kwargs["auth_require_tls"] = False
    elif ctx is not None:
        kwargs.update(tls_context=ctx, require_starttls=True)
    controller = _Controller(DeliveryHandler(boxes), **kwargs)
    controller.start()
    return controller


class _Controller(Controller):
    def factory(self) -> Any:
        with warnings.catch_warnings():  # the implicit-TLS peer: the whole session is encrypted
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()


DOVECOT_CONF = """
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={dir}/home/%u
}}
mail_location = maildir:{mail}/%u
"""


@dataclass
class Dovecot:
    directory: Path
    imap_port: int
    imaps_port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        pid_file = self.directory / "run" / "master.pid"
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        pid_file.unlink(missing_ok=True)

    def log(self) -> str:
        path = self.directory / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def start_dovecot(directory: Path, boxes: Mailboxes, leaf: Leaf) -> Dovecot:
    """Dovecot in the foreground (-F) with a config of the test's own; ready when it greets."""
    if shutil.which("dovecot") is None:
        raise RuntimeError("dovecot is not installed (Debian dovecot-imapd)")
    directory.mkdir(parents=True, exist_ok=True)
    for sub in ("run", "state", "home"):
        (directory / sub).mkdir(exist_ok=True)
    # Dovecot's login processes run as dovenull and must reach the config and certificates.
    os.chmod(directory, 0o755)
    imap_port, imaps_port = free_port(), free_port()
    (directory / "passwd").write_text("".join(f"{u}:{{PLAIN}}{p}\n" for u, p in boxes.passwords.items()))
    conf = directory / "dovecot.conf"
    conf.write_text(DOVECOT_CONF.format(dir=directory, cert=leaf.cert_file, key=leaf.key_file, imap_port=imap_port,
                                        imaps_port=imaps_port, user=MAIL_USER, group="nogroup", mail=boxes.root))
    boxes.prepare()
    process = subprocess.Popen(["dovecot", "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    dovecot = Dovecot(directory, imap_port, imaps_port, process)

    def greets() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited with {process.returncode}: {dovecot.log()[-2000:]}")
        with socket.create_connection(("127.0.0.1", imap_port), timeout=1) as s:
            return s.recv(100).startswith(b"* OK")

    try:
        wait_for(greets, 15, what="dovecot to greet")
    except BaseException:
        dovecot.stop()
        raise
    return dovecot


class SmtpScript:
    """A scripted SMTP-like server for hostile behaviour (silence, garbage, endless lines), in a thread."""

    def __init__(self, script: bytes, repeat: bool = False) -> None:
        self.script = script
        self.repeat = repeat
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.sendall(self.script)
                deadline = time.monotonic() + 10
                while self.repeat and not self.stopping.is_set() and time.monotonic() < deadline:
                    conn.sendall(self.script)
                conn.settimeout(0.2)
                while not self.stopping.is_set():
                    try:
                        if not conn.recv(4096):
                            return
                    except TimeoutError:
                        continue
            except OSError:
                return

    def close(self) -> None:
        self.stopping.set()
        self.sock.close()
        self.thread.join(2)


USERS = {"thu@tinh.test": "mat-khau-thu", "vanthu@tinh.test": "Mật khẩu có dấu"}


@dataclass
class MailLab:
    directory: Path
    pki: Pki
    boxes: Mailboxes
    submission: Controller       # STARTTLS + AUTH (like 587)
    smtps: Controller            # implicit TLS + AUTH (like 465)
    dovecot: Dovecot | None


@contextlib.contextmanager
def mail_lab(with_dovecot: bool = True) -> Iterator[MailLab]:
    """SMTP submission (STARTTLS and implicit TLS) and, with root, Dovecot sharing the Maildirs.

    The directory is made under /tmp with mode 755: pytest's own tmp tree is private to root and
    Dovecot reads the Maildirs as `nobody`.
    """
    directory = Path(tempfile.mkdtemp(prefix="nwt_mail_"))
    os.chmod(directory, 0o755)
    started: list[Any] = []
    dovecot: Dovecot | None = None
    try:
        pki = make_pki(directory)
        boxes = Mailboxes(directory / "mail", dict(USERS))
        boxes.prepare()
        submission = start_smtp(boxes, pki.valid)
        started.append(submission)
        smtps = start_smtp(boxes, pki.valid, implicit_tls=True)
        started.append(smtps)
        dovecot = start_dovecot(directory / "dovecot", boxes, pki.valid) if with_dovecot else None
        yield MailLab(directory, pki, boxes, submission, smtps, dovecot)
    finally:
        if dovecot is not None:
            dovecot.stop()
        for controller in started:
            with contextlib.suppress(Exception):
                controller.stop()
        shutil.rmtree(directory, ignore_errors=True)
