"""SSH config backup probe: fetch the running config over paramiko, mask it, store versions, judge drift."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import io
import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Mapping, Optional

import paramiko

from netwatch.fields import FieldError, Secret
from netwatch.configbackup import diff, masking
from netwatch.net import knownhosts
from netwatch.configbackup import repo as repository
from netwatch.configbackup.repo import Observation
from netwatch.store.db import DB_ERRORS
from netwatch.model import Event, Outcome, Target
from netwatch.text import clean as text_clean, unsafe
from netwatch.probes.contract import ProbeContext, ProbeKind

log = logging.getLogger(__name__)
# paramiko logs every connection and login at INFO: one line per device per poll in the daemon's log.
logging.getLogger("paramiko").setLevel(logging.WARNING)

KIND = "ssh"
# The default timeout's ceiling (instead of 5 s): a login and `show running-config` on a busy router take many seconds.
DEFAULT_TIMEOUT_SECONDS = 60.0
# paramiko is blocking: each check holds a worker thread for its whole session.
CONCURRENCY = 16
LATENCY = "fetch_seconds"

MEASUREMENTS: Mapping[str, str] = {
    "fetch_seconds": "Time to connect, authenticate and read every configured command's output.",
    "config_bytes": "Size of the masked configuration text.",
    "config_versions": "Distinct configuration versions stored for the target.",
    "config_drift_lines": "Lines added plus removed between the frozen baseline and the current config (0 "
                          "without a baseline).",
    "config_frozen": "1 when a baseline is frozen for the target, else 0.",
    "config_changed_timestamp_seconds": "Unix time when the current configuration version was first seen.",
}

MAX_OUTPUT_BYTES = 64 * 1024 * 1024
MAX_COMMAND_CHARS = 1024
_STDERR_CAP_BYTES = 4096
_READ_SLICE_SECONDS = 0.2
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN, errno.EADDRNOTAVAIL}


@dataclass(frozen=True)
class Settings:
    known_hosts: str
    username: str
    port: int = 22
    password: Optional[Secret] = None
    private_key: Optional[Secret] = None          # the key text; usually `private_key_file: PATH`
    passphrase: Optional[Secret] = None
    commands: tuple[str, ...] = ("show running-config",)
    max_output_bytes: int = 4 * 1024 * 1024
    mask: tuple[str, ...] = ()                    # extra patterns, after the defaults
    mask_defaults: bool = True
    ignore_lines: tuple[str, ...] = ()            # extra volatile-line patterns, after the defaults
    freeze_at_phase: Optional[str] = None
    key: Optional[paramiko.PKey] = field(default=None, init=False, compare=False, repr=False)
    masker: masking.Masker = field(default=None, init=False, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise FieldError("port", "must be between 1 and 65535")
        if not self.known_hosts:
            raise FieldError("known_hosts", "must name a known_hosts file")
        if not self.username or unsafe(self.username):
            raise FieldError("username", "must be a non-empty name without control characters")
        if not self.password and not self.private_key:
            raise FieldError("password", "give a password or a private_key (or their _file forms)")
        if self.passphrase and not self.private_key:
            raise FieldError("passphrase", "only makes sense with private_key")
        if not self.commands:
            raise FieldError("commands", "give at least one command, e.g. show running-config")
        for command in self.commands:
            if not command.strip() or unsafe(command) or len(command) > MAX_COMMAND_CHARS:
                raise FieldError("commands", f"each must be one line of at most {MAX_COMMAND_CHARS} characters")
        if not 1024 <= self.max_output_bytes <= MAX_OUTPUT_BYTES:
            raise FieldError("max_output_bytes", f"must be between 1024 and {MAX_OUTPUT_BYTES}")
        for name in ("mask", "ignore_lines"):
            problem = masking.check_patterns(getattr(self, name))
            if problem:
                raise FieldError(name, problem)
        if self.private_key:
            object.__setattr__(self, "key", parse_private_key(
                self.private_key.reveal(), self.passphrase.reveal() if self.passphrase else None))
        secrets = [s.reveal() for s in (self.password, self.passphrase) if s]
        object.__setattr__(self, "masker", masking.Masker.build(
            (masking.DEFAULT_MASKS if self.mask_defaults else ()) + self.mask,
            masking.DEFAULT_IGNORE + self.ignore_lines, secrets))


def parse_private_key(text: str, passphrase: str | None) -> paramiko.PKey:
    """An Ed25519, ECDSA or RSA key in OpenSSH or PEM form; FieldError never quotes the key."""
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.PasswordRequiredException:
            raise FieldError("passphrase", "the private key is encrypted: give its passphrase") from None
        except (paramiko.SSHException, ValueError, TypeError, IndexError):
            continue
    raise FieldError("private_key", "not an Ed25519, ECDSA or RSA private key paramiko can read "
                                    "(or the passphrase is wrong)")


def prepare(settings: Settings, target: Target, base_dir: str) -> Settings:
    """At config load: resolve known_hosts against the config's directory and require an entry for
    the target's host:port, so `netwatch check` names the missing file or entry."""
    path = os.path.expanduser(settings.known_hosts)
    if not os.path.isabs(path):
        path = os.path.normpath(os.path.join(base_dir, path))
    if knownhosts.REQUIRE_ENTRY.get():
        problem = knownhosts.entry_problem(path, host_of(target), settings.port, target.id)
        if problem:
            raise FieldError("known_hosts", problem)
    return dataclasses.replace(settings, known_hosts=path) if path != settings.known_hosts else settings


def host_of(target: Target) -> str:
    return target.host or target.id


class Failure(Exception):
    """An expected failure on the way; carries the error class and a capped detail."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = _clean(detail, 400)


def _clean(text: str, cap: int) -> str:
    return text_clean(text, cap)


class Session:
    """The socket and transport of one fetch, so the event loop can cut it off at the deadline."""

    def __init__(self) -> None:
        self.sock: socket.socket | None = None
        self.transport: paramiko.Transport | None = None
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True
        self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass


@dataclass(frozen=True)
class Fetched:
    raw: bytes
    host_key: str            # `SHA256:...` of the key the device showed


def handshake(host: str, port: int, known: list[paramiko.PKey], deadline: float, session: Session
              ) -> tuple[paramiko.Transport, paramiko.PKey]:
    """TCP connect and SSH key exchange only: no service request, no credentials."""
    where = knownhosts.host_entry(host, port)
    try:
        session.sock = socket.create_connection((host, port), timeout=max(_left(deadline), 0.001))
    except socket.gaierror as exc:
        raise Failure("dns", f"{host} does not resolve: {exc.strerror}") from None
    except ConnectionRefusedError:
        raise Failure("refused", f"{where} refused the connection") from None
    except (socket.timeout, TimeoutError):
        raise Failure("timeout", f"no TCP answer from {where}") from None
    except OSError as exc:
        if exc.errno in _UNREACHABLE:
            raise Failure("unreachable", f"{where}: {exc.strerror}") from None
        raise Failure("refused", f"{where}: {exc.strerror or exc}") from None
    transport = paramiko.Transport(session.sock)
    session.transport = transport
    if known:
        opts = transport.get_security_options()
        first = [a for a in knownhosts.algorithms_for(known) if a in opts.key_types]
        opts.key_types = first + [a for a in opts.key_types if a not in first]
    transport.banner_timeout = max(_left(deadline), 0.001)
    try:
        # start_client returns quietly when its timeout passes mid-negotiation; the key check below tells.
        transport.start_client(timeout=max(_left(deadline), 0.001))
        return transport, transport.get_remote_server_key()
    except (paramiko.SSHException, EOFError, OSError) as exc:
        if session.aborted or _left(deadline) <= 0.001:
            raise Failure("timeout", f"SSH handshake with {where} did not finish in time") from None
        raise Failure("protocol", f"SSH handshake with {where} failed: {exc}") from None


def connect(host: str, port: int, known_hosts: str, deadline: float, session: Session
            ) -> tuple[paramiko.Transport, paramiko.PKey]:
    """Handshake, then the host-key verdict. Raises Failure before any credential is sent."""
    try:
        known = knownhosts.keys_for(known_hosts, host, port)
    except OSError as exc:
        raise Failure("host_key_unknown", f"cannot read known_hosts {known_hosts}: {exc.strerror or exc}")
    where = knownhosts.host_entry(host, port)
    transport, key = handshake(host, port, known, deadline, session)
    verdict = knownhosts.verdict(known, key)
    if verdict == "unknown":
        raise Failure("host_key_unknown", f"{where} shows {key.get_name()} key {knownhosts.fingerprint(key)}, "
                                          f"not in {known_hosts}: check it and run `netwatch ssh-trust`")
    if verdict == "changed":
        held = ", ".join(sorted({knownhosts.fingerprint(k) for k in known}))
        raise Failure("host_key_changed", f"{where} shows {key.get_name()} key {knownhosts.fingerprint(key)} "
                                          f"but {known_hosts} holds {held}: possible man-in-the-middle")
    return transport, key


def scan(host: str, port: int, known: list[paramiko.PKey], timeout_seconds: float) -> paramiko.PKey:
    """The host key a device shows (for `netwatch ssh-trust`); blocking, sends no credentials."""
    session = Session()
    try:
        return handshake(host, port, known, time.monotonic() + timeout_seconds, session)[1]
    finally:
        session.close()


def authenticate(transport: paramiko.Transport, settings: Settings, deadline: float) -> None:
    transport.auth_timeout = max(_left(deadline), 0.001)
    user = settings.username
    try:
        remaining: list[str] = []
        if settings.key is not None:
            try:
                remaining = transport.auth_publickey(user, settings.key)
            except paramiko.BadAuthenticationType as exc:
                if not settings.password or "password" not in exc.allowed_types:
                    raise
                remaining = ["password"]
        if settings.password and (settings.key is None or remaining):
            secret = settings.password.reveal()
            try:
                transport.auth_password(user, secret)
            except paramiko.BadAuthenticationType as exc:
                if "keyboard-interactive" not in exc.allowed_types:
                    raise
                # Many network devices only offer keyboard-interactive: answer every prompt with the password.
                transport.auth_interactive(user, lambda title, instructions, prompts: [secret] * len(prompts))
    except paramiko.AuthenticationException as exc:
        raise Failure("ssh_auth", f"authentication as {user} refused: {type(exc).__name__}") from None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        if _left(deadline) <= 0.001:
            raise Failure("timeout", "authentication did not finish in time") from None
        raise Failure("protocol", f"authentication failed: {exc}") from None
    if not transport.is_authenticated():
        raise Failure("ssh_auth", f"authentication as {user} not completed (more methods required)")


def run_command(transport: paramiko.Transport, command: str, cap_bytes: int, deadline: float) -> bytes:
    """One exec request; stdout capped, stderr drained so a chatty device cannot stall the channel."""
    try:
        chan = transport.open_session(timeout=_left(deadline))
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise Failure("protocol", f"cannot open a channel: {exc}") from None
    try:
        chan.settimeout(_READ_SLICE_SECONDS)
        chan.exec_command(command)
        out = bytearray()
        err = bytearray()
        while True:
            if chan.recv_stderr_ready():
                chunk = chan.recv_stderr(65536)
                err += chunk[:max(0, _STDERR_CAP_BYTES - len(err))]
            try:
                data = chan.recv(65536)
            except socket.timeout:
                if _left(deadline) <= 0:
                    raise Failure("timeout", f"{command!r} did not finish in time") from None
                continue
            if not data:
                break
            out += data
            if len(out) > cap_bytes:
                raise Failure("output_too_large", f"{command!r} sent more than {cap_bytes} bytes")
        if chan.status_event.wait(max(_left(deadline), 0.001)):
            while chan.recv_stderr_ready() and len(err) < _STDERR_CAP_BYTES:
                err += chan.recv_stderr(_STDERR_CAP_BYTES - len(err))
            status = chan.exit_status
            if status not in (0, -1):   # -1: the device sent no exit status, common on routers
                first = bytes(err).decode("utf-8", "replace").strip().splitlines()[:1]
                raise Failure("command_failed", f"{command!r} exited with status {status}"
                                                + (f": {first[0]}" if first else ""))
        return bytes(out)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        if _left(deadline) <= 0:
            raise Failure("timeout", f"{command!r} did not finish in time") from None
        raise Failure("protocol", f"{command!r}: {exc}") from None
    finally:
        chan.close()


def fetch(host: str, settings: Settings, deadline: float, session: Session) -> Fetched:
    """Blocking: the whole SSH session. Runs in a worker thread."""
    try:
        transport, key = connect(host, settings.port, settings.known_hosts, deadline, session)
        authenticate(transport, settings, deadline)
        parts: list[bytes] = []
        left = settings.max_output_bytes
        for command in settings.commands:
            out = run_command(transport, command, left, deadline)
            left -= len(out)
            if len(settings.commands) > 1:
                out = f"! ==== {command} ====\n".encode() + out + (b"" if out.endswith(b"\n") else b"\n")
            parts.append(out)
        return Fetched(b"".join(parts), knownhosts.fingerprint(key))
    finally:
        session.close()


def judge(text: str, observation: Observation | None, fetch_seconds: float) -> Outcome:
    """Pure: the outcome of a fetched (masked) config placed in its history."""
    m: dict[str, float] = {"fetch_seconds": fetch_seconds, "config_bytes": float(len(text.encode()))}
    if observation is None:
        return Outcome(ok=True, detail="no history store: versions and drift are not tracked", measurements=m)
    o = observation
    m["config_versions"] = float(o.versions)
    m["config_frozen"] = 1.0 if o.baseline is not None else 0.0
    m["config_changed_timestamp_seconds"] = o.current.ts
    events: list[Event] = []
    if o.frozen_now:
        events.append(Event("config_frozen", f"baseline frozen: version {o.current.sha256[:12]}",
                            {"version_id": o.current.id, "sha256": o.current.sha256, "reason": "phase"}))
    drift: list[str] = []
    if o.baseline is not None and o.baseline.sha256 != o.current.sha256:
        drift = diff.unified(o.baseline.text, o.current.text, f"baseline {o.baseline.sha256[:12]}",
                             f"current {o.current.sha256[:12]}")
    added, removed = diff.changed_lines(drift)
    m["config_drift_lines"] = float(added + removed)
    if o.new and o.current.id != 0:
        if drift:
            events.append(Event("config_drift", f"config differs from the frozen baseline (+{added} -{removed})",
                                _event_data(o, drift, added, removed)))
        elif o.previous is not None:
            changes = diff.unified(o.previous.text, o.current.text, f"previous {o.previous.sha256[:12]}",
                                   f"current {o.current.sha256[:12]}")
            a, r = diff.changed_lines(changes)
            summary = ("config is back to the frozen baseline" if o.baseline is not None
                       else f"config changed (+{a} -{r})")
            events.append(Event("config_changed", summary, _event_data(o, changes, a, r)))
    if drift:
        detail = f"config differs from the frozen baseline (+{added} -{removed} lines):\n" + diff.head(drift)
        return Outcome(ok=False, error="config_drift", detail=detail[:1000], measurements=m, events=tuple(events))
    return Outcome(ok=True, measurements=m, events=tuple(events))


def _event_data(o: Observation, lines: list[str], added: int, removed: int) -> dict[str, object]:
    return {"version_id": o.current.id, "sha256": o.current.sha256,
            "baseline_sha256": o.baseline.sha256 if o.baseline is not None else None,
            "previous_sha256": o.previous.sha256 if o.previous is not None else None,
            "added_lines": added, "removed_lines": removed,
            "diff": diff.head(lines, max_lines=200, max_chars=8000)}


_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    # Our own pool: the loop's default one is sized for the CPU count (6 threads on 2 cores), and a
    # slow device must not take a thread from unrelated to_thread users.
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=CONCURRENCY + 2, thread_name_prefix="netwatch-ssh")
    return _executor


def settle(target_id: str, settings: Settings, raw: bytes, fetch_seconds: float,
           repo: repository.Repository | None, now: float) -> Outcome:
    """Mask, record and judge (blocking: the store and difflib)."""
    text = settings.masker.apply(raw)
    try:
        observation = repo.observe(target_id, text, now, settings.freeze_at_phase) if repo is not None else None
    except DB_ERRORS as exc:
        # netwatch's own disk, not the device: the fetch worked, only history and drift are unknown.
        log.error("ssh %s: cannot record the config version: %s", target_id, exc)
        return Outcome(ok=True, degraded="history_unavailable", detail=f"history store error: {exc}"[:300],
                       measurements={"fetch_seconds": fetch_seconds, "config_bytes": float(len(text.encode()))})
    return judge(text, observation, fetch_seconds)


async def probe(target: Target, settings: Settings, timeout_seconds: float,
                context: ProbeContext | None = None) -> Outcome:
    loop = asyncio.get_running_loop()
    session = Session()
    t0 = time.perf_counter()
    deadline = time.monotonic() + timeout_seconds
    job = loop.run_in_executor(_pool(), fetch, host_of(target), settings, deadline, session)
    try:
        # A moment past the worker's own deadline, so its sharper detail (which step hung) wins.
        fetched = await asyncio.wait_for(job, timeout_seconds + 0.25)
    except (TimeoutError, asyncio.TimeoutError):
        session.abort()   # closes the socket: the worker thread ends at its next read
        return Outcome.fail("timeout", f"no complete answer within {timeout_seconds:g}s",
                            fetch_seconds=time.perf_counter() - t0)
    except asyncio.CancelledError:
        session.abort()
        raise
    except Failure as f:
        return Outcome.fail(f.error, f.detail, fetch_seconds=time.perf_counter() - t0)
    fetch_seconds = time.perf_counter() - t0
    return await loop.run_in_executor(_pool(), settle, target.id, settings, fetched.raw, fetch_seconds,
                                      context.config_versions if context else None, time.time())


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


CONTRACT = ProbeKind(
    kind=KIND,
    settings=Settings,
    measurements=MEASUREMENTS,
    probe=probe,
    concurrency=CONCURRENCY,
    latency=LATENCY,
    default_timeout_seconds=DEFAULT_TIMEOUT_SECONDS,
    prepare=prepare,
)
