"""known_hosts parsing (plain and hashed), verdicts, fingerprints and writing new entries."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
import subprocess
from pathlib import Path

import paramiko
import pytest

from netwatch.net import knownhosts


def _key() -> paramiko.PKey:
    return paramiko.Ed25519Key.from_private_key(_pem())  # type: ignore[arg-type]


def _pem():  # type: ignore[no-untyped-def]
    import io

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    k = ed25519.Ed25519PrivateKey.generate()
    return io.StringIO(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                       serialization.NoEncryption()).decode())


@pytest.mark.parametrize("host, port, entry", [
    ("127.0.0.1", 22, "127.0.0.1"),
    ("127.0.0.1", 2222, "[127.0.0.1]:2222"),
    ("::1", 830, "[::1]:830"),
])
def test_host_entry(host: str, port: int, entry: str) -> None:
    assert knownhosts.host_entry(host, port) == entry


def test_lookup_plain_hashed_and_junk(tmp_path: Path) -> None:
    a, b, c = _key(), _key(), _key()
    salt = os.urandom(20)
    hashed = "|1|{}|{}".format(base64.b64encode(salt).decode(), base64.b64encode(
        hmac.new(salt, b"[127.0.0.1]:2222", hashlib.sha1).digest()).decode())
    path = tmp_path / "kh"
    path.write_text(
        "# comment\n\n"
        "garbage\n"
        "[127.0.0.1]:2222 ssh-ed25519 !!!notbase64\n"
        f"@revoked [127.0.0.1]:2222 {c.get_name()} {c.get_base64()}\n"
        f"127.0.0.2,[127.0.0.1]:2222 {a.get_name()} {a.get_base64()}\n"
        f"{hashed} {b.get_name()} {b.get_base64()}\n"
        f"[127.0.0.1]:2223 {c.get_name()} {c.get_base64()}\n")
    keys = knownhosts.keys_for(str(path), "127.0.0.1", 2222)
    assert [k.asbytes() for k in keys] == [a.asbytes(), b.asbytes()]
    assert knownhosts.verdict(keys, a) == "trusted"
    assert knownhosts.verdict(keys, c) == "changed"
    assert knownhosts.verdict([], c) == "unknown"
    assert knownhosts.keys_for(str(path), "127.0.0.1", 22) == []


def test_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True)
    kind, blob = (tmp_path / "k.pub").read_text().split()[:2]
    key = paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
    expected = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(tmp_path / "k.pub")],
                              check=True, capture_output=True, text=True).stdout.split()
    line = knownhosts.describe(key, "[127.0.0.1]:2222").split()
    assert line[0] == expected[0] and line[1] == expected[1] and line[-1] == "(ED25519)"


def test_append_creates_0600_and_replace_drops_old_entries(tmp_path: Path) -> None:
    path = tmp_path / "kh"
    old, new, other = _key(), _key(), _key()
    knownhosts.append(str(path), old, "127.0.0.1", 2222)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with open(path, "a") as f:
        f.write(f"[127.0.0.1]:2223 {other.get_name()} {other.get_base64()}")   # no final newline
    knownhosts.append(str(path), old, "127.0.0.9", 22)
    lines = path.read_text().splitlines()
    assert lines[0].startswith("[127.0.0.1]:2222 ssh-ed25519 ") and lines[2].startswith("127.0.0.9 ssh-ed25519 ")
    assert knownhosts.replace(str(path), new, "127.0.0.1", 2222) == 1
    keys = knownhosts.keys_for(str(path), "127.0.0.1", 2222)
    assert [k.asbytes() for k in keys] == [new.asbytes()]
    assert len(knownhosts.keys_for(str(path), "127.0.0.1", 2223)) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_entry_problem(tmp_path: Path) -> None:
    path = tmp_path / "kh"
    assert knownhosts.entry_problem(str(path), "127.0.0.1", 2222, "core1") == (
        f"known_hosts file {path} does not exist: run `netwatch ssh-trust core1 -c CONFIG`")
    knownhosts.append(str(path), _key(), "127.0.0.1", 2222)
    assert knownhosts.entry_problem(str(path), "127.0.0.1", 2222, "core1") is None
    assert knownhosts.entry_problem(str(path), "127.0.0.1", 22, "core1") == (
        f"no entry for 127.0.0.1 in {path}: run `netwatch ssh-trust core1 -c CONFIG`")


def test_rsa_known_key_prefers_sha2_algorithms() -> None:
    rsa = paramiko.RSAKey.generate(1024)
    assert knownhosts.algorithms_for([rsa]) == ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
