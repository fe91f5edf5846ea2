"""known_hosts files: look a device's host key up (unknown vs changed), fingerprint it, trust it."""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import os
from typing import Literal

import paramiko

Verdict = Literal["trusted", "unknown", "changed"]

# `netwatch ssh-trust` must load a config whose known_hosts entry does not exist yet; it clears
# this while loading so that the missing entry is not a config error there.
REQUIRE_ENTRY: contextvars.ContextVar[bool] = contextvars.ContextVar("netwatch_require_known_host",
                                                                     default=True)

MAX_FILE_BYTES = 4 * 1024 * 1024


def host_entry(host: str, port: int) -> str:
    """The name OpenSSH writes for host:port: `host` on port 22, else `[host]:port`."""
    return host if port == 22 else f"[{host}]:{port}"


def _name_matches(pattern: str, name: str) -> bool:
    if pattern.startswith("|1|"):
        try:
            _, _, salt_b64, digest_b64 = pattern.split("|")
            salt = base64.b64decode(salt_b64)
            digest = base64.b64decode(digest_b64)
        except ValueError:
            return False
        return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)
    return pattern == name


def keys_for(path: str, host: str, port: int) -> list[paramiko.PKey]:
    """Every key the file lists for host:port (plain or hashed names). Raises OSError."""
    name = host_entry(host, port)
    with open(path, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise OSError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
    found: list[paramiko.PKey] = []
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        # `@cert-authority` / `@revoked` markers are OpenSSH-only features; such lines never trust a key.
        if not line or line.startswith("#") or line.startswith("@"):
            continue
        fields = line.split()
        if len(fields) < 3 or not any(_name_matches(p, name) for p in fields[0].split(",")):
            continue
        try:
            key = paramiko.PKey.from_type_string(fields[1], base64.b64decode(fields[2], validate=True))
        except (paramiko.SSHException, ValueError, TypeError):
            continue
        found.append(key)
    return found


def verdict(known: list[paramiko.PKey], offered: paramiko.PKey) -> Verdict:
    if not known:
        return "unknown"
    blob = offered.asbytes()
    return "trusted" if any(k.asbytes() == blob for k in known) else "changed"


def algorithms_for(known: list[paramiko.PKey]) -> list[str]:
    """Host key algorithms to offer first so the server shows the key type we hold (as OpenSSH does)."""
    out: list[str] = []
    for key in known:
        name = key.get_name()
        names = ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] if name == "ssh-rsa" else [name]
        out.extend(n for n in names if n not in out)
    return out


def fingerprint(key: paramiko.PKey) -> str:
    """`SHA256:...` as ssh-keygen -l prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def describe(key: paramiko.PKey, name: str) -> str:
    """One line like `ssh-keygen -l`: bits, fingerprint, name and (TYPE)."""
    kind = key.get_name()
    label = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA", "ssh-dss": "DSA"}.get(
        kind, "ECDSA" if kind.startswith("ecdsa-") else kind.upper())
    return f"{key.get_bits()} {fingerprint(key)} {name} ({label})"


def line_for(key: paramiko.PKey, host: str, port: int) -> str:
    return f"{host_entry(host, port)} {key.get_name()} {key.get_base64()}\n"


def append(path: str, key: paramiko.PKey, host: str, port: int) -> None:
    """Add a plain (auditable) entry; a new file is created with mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        if f.tell() > 0 and not _ends_with_newline(path):
            f.write("\n")
        f.write(line_for(key, host, port))


def replace(path: str, key: paramiko.PKey, host: str, port: int) -> int:
    """Drop every entry naming host:port and append the new key; returns how many lines went."""
    name = host_entry(host, port)
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines(keepends=True)
    kept: list[str] = []
    dropped = 0
    for line in lines:
        fields = line.split()
        if fields and not fields[0].startswith("#") and any(_name_matches(p, name) for p in fields[0].split(",")):
            dropped += 1
            continue
        kept.append(line if line.endswith("\n") else line + "\n")
    kept.append(line_for(key, host, port))
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(kept)
    os.replace(tmp, path)
    return dropped


def _ends_with_newline(path: str) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def entry_problem(path: str, host: str, port: int, target_id: str) -> str | None:
    """A sentence naming the missing file or entry, or None when host:port has a key there."""
    hint = f"run `netwatch ssh-trust {target_id} -c CONFIG`"
    if not os.path.exists(path):
        return f"known_hosts file {path} does not exist: {hint}"
    try:
        keys = keys_for(path, host, port)
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    if not keys:
        return f"no entry for {host_entry(host, port)} in {path}: {hint}"
    return None
