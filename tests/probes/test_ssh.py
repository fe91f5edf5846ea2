"""ssh probe against a real Debian sshd on loopback: host keys, auth, commands, caps, history and drift."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Iterator

import pytest

from netwatch.config import ConfigError, loads
from netwatch.probes.contract import ProbeContext
from netwatch.configbackup.repo import Observation, Repository, Version
from netwatch.model import Check, Outcome
from netwatch.probes import ssh
from netwatch.store import Store
from tests.peers import sshd as sshd_peer
from tests.peers.sshd import Sshd

needs_sshd = pytest.mark.skipif(not sshd_peer.available(), reason="Debian openssh-server is not installed")


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Sshd]:
    peer = Sshd(tmp_path / "device").start()
    (tmp_path / "known_hosts").write_text(peer.known_hosts_line())
    yield peer
    peer.stop()


def check_for(peer: Sshd, tmp_path: Path, extra: str = "", timeout: str = "5s") -> Check:
    config = loads(f"""
event:
  phases:
    - {{id: during, start: "2000-01-01T00:00", end: "2100-01-01T00:00"}}
targets:
  - id: core1
    host: 127.0.0.1
    checks:
      - kind: ssh
        timeout: {timeout}
        interval: 60s
        port: {peer.port}
        known_hosts: {tmp_path / "known_hosts"}
        username: root
        private_key_file: {peer.dir / "client_ed25519"}
{extra}""", str(tmp_path / "venue.yaml"))
    return config.checks[0]


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repository]:
    store = Store.open(str(tmp_path / "netwatch.db"))
    yield Repository(store.conn, store.lock)
    store.close()


async def run(check: Check, repo: Repository | None = None) -> Outcome:
    return await ssh.probe(check.target, check.settings, check.timeout_seconds,
                           ProbeContext(check.id, config_versions=repo))


@pytest.mark.root
@needs_sshd
async def test_fetches_masks_and_stores_the_running_config(device: Sshd, tmp_path: Path, repo: Repository) -> None:
    check = check_for(device, tmp_path)
    outcome = await run(check, repo)
    assert outcome.ok, outcome
    assert outcome.measurements["config_versions"] == 1
    assert outcome.measurements["config_frozen"] == 0
    assert outcome.measurements["config_drift_lines"] == 0
    assert 0 < outcome.measurements["fetch_seconds"] < check.timeout_seconds
    stored = repo.latest("core1")
    assert stored is not None
    assert "hostname hoitruong-core1" in stored.text
    assert "snmp-server community <removed> RO 10" in stored.text
    assert outcome.measurements["config_bytes"] == len(stored.text.encode())
    # Secrets never reach the store: look at the database file's bytes, WAL included.
    del stored
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("netwatch.db*"))
    for secret in (b"hoitruong-ro", b"$1$mERr$hx5rVt7rPNoS4wqbXKX7m0", b"0822455D0A16", b"045802150C2E"):
        assert secret not in raw
    # The same config again is no new version.
    again = await run(check, repo)
    assert again.ok and again.measurements["config_versions"] == 1 and not again.events


@pytest.mark.root
@needs_sshd
async def test_drift_against_the_frozen_baseline(device: Sshd, tmp_path: Path, repo: Repository) -> None:
    check = check_for(device, tmp_path)
    assert (await run(check, repo)).ok
    base = repo.latest("core1")
    assert base is not None
    repo.freeze("core1", base.id, time.time())
    device.set_running_config(sshd_peer.RUNNING_CONFIG.replace(
        "snmp-server community hoitruong-ro RO 10", "snmp-server community hacked RW\nip route 0.0.0.0 0.0.0.0 127.0.0.66"))
    drifted = await run(check, repo)
    assert not drifted.ok and drifted.error == "config_drift"
    assert drifted.measurements["config_drift_lines"] == 3
    assert drifted.measurements["config_versions"] == 2
    assert "-snmp-server community <removed> RO 10" in drifted.detail
    assert "+snmp-server community <removed> RW" in drifted.detail
    assert "hacked" not in drifted.detail
    assert [e.kind for e in drifted.events] == ["config_drift"]
    # Still drifted on the next poll, but the event is not repeated.
    again = await run(check, repo)
    assert again.error == "config_drift" and not again.events
    # Back to the baseline: healthy again, recorded as a change.
    device.set_running_config(sshd_peer.RUNNING_CONFIG)
    back = await run(check, repo)
    assert back.ok and back.measurements["config_drift_lines"] == 0
    assert [e.kind for e in back.events] == ["config_changed"]
    assert back.measurements["config_versions"] == 3


@pytest.mark.root
@needs_sshd
async def test_change_without_a_freeze_is_an_event_not_a_failure(device: Sshd, tmp_path: Path, repo: Repository) -> None:
    check = check_for(device, tmp_path)
    first = await run(check, repo)
    assert first.ok and not first.events
    device.set_running_config(sshd_peer.RUNNING_CONFIG.replace("hoitruong-core1", "hoitruong-core9"))
    changed = await run(check, repo)
    assert changed.ok
    assert [e.kind for e in changed.events] == ["config_changed"]
    assert changed.events[0].data["added_lines"] == 1 and changed.events[0].data["removed_lines"] == 1


@pytest.mark.root
@needs_sshd
async def test_volatile_lines_do_not_make_versions(device: Sshd, tmp_path: Path, repo: Repository) -> None:
    check = check_for(device, tmp_path)
    assert (await run(check, repo)).ok
    device.set_running_config(sshd_peer.RUNNING_CONFIG.replace("07:00:01 ICT", "09:12:44 ICT")
                              .replace("1187 bytes", "1190 bytes"))
    outcome = await run(check, repo)
    assert outcome.ok and outcome.measurements["config_versions"] == 1 and not outcome.events


@pytest.mark.root
@needs_sshd
async def test_freeze_at_phase_start_happens_once(device: Sshd, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    config = loads(f"""
event:
  phases:
    - {{id: during, start: "2000-01-01T00:00", end: "2100-01-01T00:00"}}
targets:
  - id: core1
    host: 127.0.0.1
    checks:
      - kind: ssh
        port: {device.port}
        known_hosts: {tmp_path / "known_hosts"}
        username: root
        private_key_file: {device.dir / "client_ed25519"}
        freeze_at_phase: during
""")
    check = config.checks[0]
    store = Store.open(str(tmp_path / "phase.db"))
    try:
        repo = Repository(store.conn, store.lock, phase_at=config.event.phase_at)
        first = await run(check, repo)
        assert first.ok and [e.kind for e in first.events] == ["config_frozen"]
        assert first.measurements["config_frozen"] == 1
        device.set_running_config(sshd_peer.RUNNING_CONFIG + "username intruder secret 0 letmein\n")
        second = await run(check, repo)
        assert second.error == "config_drift" and [e.kind for e in second.events] == ["config_drift"]
        assert "+username intruder secret 0 <removed>" in second.detail
        assert "letmein" not in second.detail
        freezes = store.conn.execute("SELECT reason, phase_id FROM config_freezes").fetchall()
        assert freezes == [("phase", "during")]
    finally:
        store.close()


@pytest.mark.root
@needs_sshd
async def test_unknown_host_key_fails_before_any_credential(device: Sshd, tmp_path: Path) -> None:
    check = check_for(device, tmp_path)
    # The file is read at every poll: an entry removed after the config was loaded counts.
    sshd_peer.keygen(tmp_path / "other_host")
    kind, blob = (tmp_path / "other_host.pub").read_text().split()[:2]
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{device.port + 1} {kind} {blob}\n")
    outcome = await run(check)
    assert outcome.error == "host_key_unknown"
    assert f"[127.0.0.1]:{device.port} shows ssh-ed25519 key SHA256:" in outcome.detail
    assert device.auth_requests() == []
    assert "client_ed25519" not in outcome.detail


@pytest.mark.root
@needs_sshd
async def test_swapped_host_key_fails_before_any_credential(device: Sshd, tmp_path: Path) -> None:
    check = check_for(device, tmp_path)
    assert (await run(check)).ok
    assert len(device.auth_requests()) >= 1
    device.log_path.write_text("")
    device.swap_host_key()
    outcome = await run(check)
    assert outcome.error == "host_key_changed", outcome
    assert "possible man-in-the-middle" in outcome.detail
    assert device.auth_requests() == []
    # A swap to another key type is a changed key too, not an unknown one.
    device.swap_host_key("ecdsa")
    assert (await run(check)).error == "host_key_changed"
    assert device.auth_requests() == []


@pytest.mark.root
@needs_sshd
async def test_hashed_known_hosts_entry_is_honoured(device: Sshd, tmp_path: Path) -> None:
    import subprocess

    subprocess.run(["ssh-keygen", "-H", "-f", str(tmp_path / "known_hosts")], check=True, capture_output=True)
    assert (tmp_path / "known_hosts").read_text().startswith("|1|")
    assert (await run(check_for(device, tmp_path))).ok


@pytest.mark.root
@needs_sshd
async def test_wrong_key_is_ssh_auth(device: Sshd, tmp_path: Path) -> None:
    sshd_peer.keygen(tmp_path / "stranger")
    check = check_for(device, tmp_path)
    from dataclasses import replace

    from netwatch.config import Secret

    settings = replace(check.settings, private_key=Secret((tmp_path / "stranger").read_text()))
    outcome = await ssh.probe(check.target, settings, 5.0)
    assert outcome.error == "ssh_auth"


@pytest.mark.root
@needs_sshd
async def test_command_failure_and_output_cap_and_timeout(device: Sshd, tmp_path: Path) -> None:
    bad = await run(check_for(device, tmp_path, "        commands: [show running-config, show bogus]\n"))
    assert bad.error == "command_failed"
    assert "'show bogus' exited with status 1: % Invalid input" in bad.detail
    big = await run(check_for(device, tmp_path, "        commands: show flood\n        max_output_bytes: 100000\n"))
    assert big.error == "output_too_large"
    slow_check = check_for(device, tmp_path, "        commands: show slow\n", timeout="1500ms")
    t0 = time.monotonic()
    slow = await run(slow_check)
    elapsed = time.monotonic() - t0
    assert slow.error == "timeout"
    assert 1.0 < elapsed < 3.0


@pytest.mark.root
@needs_sshd
async def test_several_commands_are_kept_apart(device: Sshd, tmp_path: Path, repo: Repository) -> None:
    outcome = await run(check_for(device, tmp_path, "        commands: [show version, show running-config]\n"), repo)
    assert outcome.ok
    text = repo.latest("core1").text  # type: ignore[union-attr]
    assert text.startswith("! ==== show version ====\nCisco IOS Software")
    assert "! ==== show running-config ====\n" in text


async def test_refused_port(tmp_path: Path) -> None:
    from tests.support import free_port

    port = free_port()
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{port} ssh-ed25519 "
                                          "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    sshd_peer.keygen(tmp_path / "client")
    config = loads(f"""
targets:
  - id: core1
    host: 127.0.0.1
    checks:
      - kind: ssh
        port: {port}
        known_hosts: {tmp_path / "known_hosts"}
        username: root
        private_key_file: {tmp_path / "client"}
""")
    check = config.checks[0]
    outcome = await ssh.probe(check.target, check.settings, 2.0)
    assert outcome.error == "refused"


# -- config validation (exact texts) -------------------------------------------------------------

def _venue(tmp_path: Path, known_hosts: str, extra: str = "") -> str:
    sshd_peer.keygen(tmp_path / "client")
    return f"""targets:
  - id: core1
    host: 127.0.0.1
    checks:
      - kind: ssh
        port: 2222
        known_hosts: {known_hosts}
        username: root
        private_key_file: client
{extra}"""


def _load_error(text: str, path: Path) -> str:
    path.write_text(text)
    from netwatch.config import load

    with pytest.raises(ConfigError) as info:
        load(str(path))
    return str(info.value)


def test_config_names_the_missing_known_hosts_file(tmp_path: Path) -> None:
    venue = tmp_path / "venue.yaml"
    err = _load_error(_venue(tmp_path, "keys/known_hosts"), venue)
    assert err == (f"{venue}:7:9: targets[0].checks[0].known_hosts: known_hosts file {tmp_path}/keys/known_hosts "
                   "does not exist: run `netwatch ssh-trust core1 -c CONFIG`")


def test_config_names_the_missing_entry(tmp_path: Path) -> None:
    venue = tmp_path / "venue.yaml"
    (tmp_path / "known_hosts").write_text("[127.0.0.1]:2223 ssh-ed25519 "
                                          "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    err = _load_error(_venue(tmp_path, "known_hosts"), venue)
    assert err == (f"{venue}:7:9: targets[0].checks[0].known_hosts: no entry for [127.0.0.1]:2222 in "
                   f"{tmp_path}/known_hosts: run `netwatch ssh-trust core1 -c CONFIG`")


def test_config_accepts_an_entry_and_resolves_paths_against_the_config(tmp_path: Path) -> None:
    from netwatch.config import load

    (tmp_path / "known_hosts").write_text("[127.0.0.1]:2222 ssh-ed25519 "
                                          "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    venue = tmp_path / "venue.yaml"
    venue.write_text(_venue(tmp_path, "known_hosts"))
    settings = load(str(venue)).checks[0].settings
    assert settings.known_hosts == str(tmp_path / "known_hosts")
    assert settings.key is not None


@pytest.mark.parametrize("extra, message", [
    ("        mask: ['(']\n",
     "targets[0].checks[0].mask: '(' is not a valid regular expression: missing ), unterminated subpattern at "
     "position 0"),
    ('        commands: ["show run\\nreload"]\n',
     "targets[0].checks[0].commands: each must be one line of at most 1024 characters"),
    ("        max_output_bytes: 10\n",
     "targets[0].checks[0].max_output_bytes: must be between 1024 and 67108864"),
    ("        passphrase: x\n", None),
])
def test_settings_errors(tmp_path: Path, extra: str, message: str | None) -> None:
    (tmp_path / "known_hosts").write_text("[127.0.0.1]:2222 ssh-ed25519 "
                                          "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    venue = tmp_path / "venue.yaml"
    if message is None:
        # A passphrase for an unencrypted key is harmless; the key still loads.
        venue.write_text(_venue(tmp_path, "known_hosts", extra))
        from netwatch.config import load

        assert load(str(venue)).checks[0].settings.key is not None
        return
    err = _load_error(_venue(tmp_path, "known_hosts", extra), venue)
    assert err.split(": ", 1)[1] == message


def test_bad_private_key_is_named_not_quoted(tmp_path: Path) -> None:
    (tmp_path / "known_hosts").write_text("[127.0.0.1]:2222 ssh-ed25519 "
                                          "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    venue = tmp_path / "venue.yaml"
    text = _venue(tmp_path, "known_hosts").replace("private_key_file: client", "private_key: not-a-key-s3cr3t")
    err = _load_error(text, venue)
    assert "private_key: not an Ed25519, ECDSA or RSA private key" in err
    assert "s3cr3t" not in err


# -- judge (pure) ----------------------------------------------------------------------------------

def _v(vid: int, text: str, ts: float = 1000.0) -> Version:
    from netwatch.configbackup.repo import digest

    return Version(vid, "core1", ts, ts, digest(text), text)


@pytest.mark.parametrize("obs, ok, error, events, drift_lines", [
    (None, True, None, [], None),
    (Observation(_v(1, "a\n"), True, None, 1, None), True, None, [], 0),
    (Observation(_v(2, "b\n"), True, _v(1, "a\n"), 2, None), True, None, ["config_changed"], 0),
    (Observation(_v(2, "b\n"), True, _v(1, "a\n"), 2, _v(1, "a\n")), False, "config_drift", ["config_drift"], 2),
    (Observation(_v(2, "b\n"), False, _v(1, "a\n"), 2, _v(1, "a\n")), False, "config_drift", [], 2),
    (Observation(_v(3, "a\n"), True, _v(2, "b\n"), 3, _v(1, "a\n")), True, None, ["config_changed"], 0),
    (Observation(_v(1, "a\n"), True, None, 1, _v(1, "a\n"), frozen_now=True), True, None, ["config_frozen"], 0),
    (Observation(_v(0, "b\n"), True, _v(1, "a\n"), 2, _v(1, "a\n")), False, "config_drift", [], 2),
])
def test_judge(obs: Observation | None, ok: bool, error: str | None, events: list[str],
               drift_lines: int | None) -> None:
    outcome = ssh.judge("b\n" if obs is None else obs.current.text, obs, 0.5)
    assert outcome.ok is ok and outcome.error == error
    assert [e.kind for e in outcome.events] == events
    assert outcome.measurements.get("config_drift_lines") == drift_lines
    assert outcome.measurements["fetch_seconds"] == 0.5


def test_judge_caps_a_huge_diff() -> None:
    base = "".join(f"line {i}\n" for i in range(5000))
    cur = "".join(f"LINE {i}\n" for i in range(5000))
    outcome = ssh.judge(cur, Observation(_v(2, cur), True, _v(1, base), 2, _v(1, base)), 0.1)
    assert outcome.error == "config_drift"
    assert len(outcome.detail) <= 1000
    assert outcome.measurements["config_drift_lines"] == 10000
    assert "more diff lines: netwatch config-diff" in outcome.detail
    assert len(str(outcome.events[0].data["diff"])) <= 8100


def test_store_history_survives_reopen(tmp_path: Path) -> None:
    store = Store.open(str(tmp_path / "h.db"))
    Repository(store.conn, store.lock).observe("core1", "hostname a\n", 1.0)
    store.close()
    ro = Repository.open_readonly(str(tmp_path / "h.db"))
    assert ro is not None
    obs = ro.observe("core1", "hostname b\n", 2.0)
    assert obs.new and obs.current.id == 0 and obs.versions == 2
    ro.close()
    conn = sqlite3.connect(str(tmp_path / "h.db"))
    assert conn.execute("SELECT COUNT(*) FROM config_versions").fetchone()[0] == 1
    conn.close()


async def test_silent_server_is_a_timeout_within_the_deadline(tmp_path: Path) -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)   # the kernel completes the TCP handshake; nobody ever sends an SSH banner
        port = listener.getsockname()[1]
        (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:{port} ssh-ed25519 "
                                              "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
        sshd_peer.keygen(tmp_path / "client")
        config = loads(f"""
targets:
  - id: core1
    host: 127.0.0.1
    checks:
      - kind: ssh
        port: {port}
        known_hosts: {tmp_path / "known_hosts"}
        username: root
        private_key_file: {tmp_path / "client"}
""")
        check = config.checks[0]
        t0 = time.monotonic()
        outcome = await ssh.probe(check.target, check.settings, 1.0)
        elapsed = time.monotonic() - t0
    assert outcome.error == "timeout"
    assert "handshake" in outcome.detail
    assert 0.8 < elapsed < 2.0


@pytest.fixture
def password_device() -> Iterator[tuple[Sshd, "sshd_peer.LocalUser"]]:
    import shutil
    import tempfile

    # The forced command runs as the test user, who cannot enter root's 0700 pytest directories.
    workdir = Path(tempfile.mkdtemp(prefix="nwt_sshd_"))
    workdir.chmod(0o755)
    user = sshd_peer.LocalUser("Pw-for-test-7731")
    peer = Sshd(workdir / "device", user=user.name)
    try:
        yield peer, user
    finally:
        peer.stop()
        user.delete()
        shutil.rmtree(workdir, ignore_errors=True)


def _password_check(peer: Sshd, user: "sshd_peer.LocalUser", tmp_path: Path) -> Check:
    (tmp_path / "known_hosts").write_text(peer.known_hosts_line())
    (tmp_path / "pw").write_text(user.password + "\n")
    return loads(f"""
targets:
  - id: core1
    host: 127.0.0.1
    checks:
      - kind: ssh
        port: {peer.port}
        known_hosts: {tmp_path / "known_hosts"}
        username: {user.name}
        password_file: {tmp_path / "pw"}
""", str(tmp_path / "venue.yaml")).checks[0]


@pytest.mark.root
@needs_sshd
@pytest.mark.skipif(not sshd_peer.can_add_users(), reason="needs useradd/chpasswd as root")
@pytest.mark.parametrize("keyboard_interactive", [False, True])
async def test_password_login(password_device: tuple[Sshd, "sshd_peer.LocalUser"], tmp_path: Path,
                              keyboard_interactive: bool) -> None:
    peer, user = password_device
    peer.start(password_auth=True, keyboard_interactive=keyboard_interactive)
    check = _password_check(peer, user, tmp_path)
    outcome = await run(check)
    assert outcome.ok, (outcome, peer.log()[-2000:])
    from dataclasses import replace

    from netwatch.config import Secret

    wrong = await ssh.probe(check.target, replace(check.settings, password=Secret("not-the-password")), 5.0)
    assert wrong.error == "ssh_auth"
    assert "not-the-password" not in wrong.detail and user.password not in outcome.detail
