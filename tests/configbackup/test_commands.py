"""End to end with a real sshd: check -> ssh-trust -> config-freeze -> a real `netwatch run` sees drift -> config-diff."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import pytest

from tests.peers import sshd as sshd_peer
from tests.peers.sshd import Sshd
from tests.support import NetwatchProcess, metric_value, wait_for

if TYPE_CHECKING:
    from tests.peers.postgres import Cluster

pytestmark = [pytest.mark.root, pytest.mark.slow,
              pytest.mark.skipif(not sshd_peer.available(), reason="Debian openssh-server is not installed")]

DRIFTED = sshd_peer.RUNNING_CONFIG.replace("snmp-server community hoitruong-ro RO 10",
                                           "snmp-server community hacked-comm RW")


@pytest.fixture
def device(tmp_path: Path) -> Iterator[Sshd]:
    peer = Sshd(tmp_path / "device").start()
    yield peer
    peer.stop()


def venue(tmp_path: Path, peer: Sshd, listen: str = "{listen}", interval: str = "60s") -> str:
    (tmp_path / "keys").mkdir(exist_ok=True)
    return f"""listen: {listen}
store: {tmp_path / "netwatch.db"}
targets:
  - id: core1
    host: 127.0.0.1
    checks:
      - kind: ssh
        interval: {interval}
        timeout: 3s
        port: {peer.port}
        known_hosts: keys/known_hosts
        username: root
        private_key_file: {peer.dir / "client_ed25519"}
        alert: {{fail_after: 1, recover_after: 1}}
"""


def nw(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netwatch", "--lang", "en", *args], cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def test_trust_freeze_and_diff_from_the_command_line(tmp_path: Path, device: Sshd) -> None:
    config = tmp_path / "venue.yaml"
    config.write_text(venue(tmp_path, device, listen="127.0.0.1:9"))
    kh = tmp_path / "keys" / "known_hosts"

    r = nw(tmp_path, "check", "-c", str(config))
    assert r.returncode == 2
    assert (f"targets[0].checks[0].known_hosts: known_hosts file {kh} does not exist: "
            "run `netwatch ssh-trust core1 -c CONFIG`") in r.stderr

    r = nw(tmp_path, "ssh-trust", "core1", "-c", str(config))
    assert r.returncode == 1 and "refusing to trust a key without confirmation" in r.stderr
    assert not kh.exists()
    expected = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", f"{device.host_key}.pub"],
                              capture_output=True, text=True, check=True).stdout.split()[1]
    assert f"256 {expected} [127.0.0.1]:{device.port} (ED25519)" in r.stdout
    assert device.auth_requests() == []

    r = nw(tmp_path, "ssh-trust", "core1", "-c", str(config), "--yes")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(kh.stat().st_mode) == 0o600
    assert kh.read_text() == device.known_hosts_line()
    assert nw(tmp_path, "check", "-c", str(config)).returncode == 0
    r = nw(tmp_path, "ssh-trust", "core1", "-c", str(config), "--yes")
    assert r.returncode == 0 and "already trusted" in r.stdout
    assert device.auth_requests() == []

    r = nw(tmp_path, "config-diff", "core1", "-c", str(config))
    assert r.returncode == 1 and "no history store" in r.stderr
    r = nw(tmp_path, "config-freeze", "core1", "-c", str(config))
    assert r.returncode == 0, r.stderr
    assert "core1: baseline frozen: version 1 sha256 " in r.stdout

    device.set_running_config(DRIFTED)
    r = nw(tmp_path, "probe", "core1", "-c", str(config), "--json")
    assert r.returncode == 1
    assert '"error": "config_drift"' in r.stdout and "hacked-comm" not in r.stdout
    r = nw(tmp_path, "config-diff", "core1", "-c", str(config))
    assert r.returncode == 0 and r.stdout == ""   # `netwatch probe` stores nothing
    assert "matches the baseline" in r.stderr

    # Freeze again: fetches the drifted config, stores it and makes it the baseline.
    r = nw(tmp_path, "config-freeze", "core1", "-c", str(config))
    assert r.returncode == 0 and "version 2" in r.stdout
    r = nw(tmp_path, "config-freeze", "core1", "-c", str(config), "--clear")
    assert r.returncode == 0 and "freeze lifted" in r.stdout
    r = nw(tmp_path, "config-diff", "core1", "-c", str(config))
    assert r.returncode == 1
    assert "-snmp-server community <removed> RO 10" in r.stdout
    assert "+snmp-server community <removed> RW" in r.stdout
    assert "--- previous " in r.stdout
    r = nw(tmp_path, "config-diff", "core1", "-c", str(config), "--list")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2 and "baseline" not in r.stdout

    # A re-keyed (or impersonated) device: ssh-trust warns and changes nothing without --replace.
    device.swap_host_key()
    r = nw(tmp_path, "ssh-trust", "core1", "-c", str(config), "--yes")
    assert r.returncode == 1 and "WARNING" in r.stderr and "--replace" in r.stderr
    r = nw(tmp_path, "config-freeze", "core1", "-c", str(config))
    assert r.returncode == 1 and "host_key_changed" in r.stderr
    r = nw(tmp_path, "ssh-trust", "core1", "-c", str(config), "--yes", "--replace")
    assert r.returncode == 0 and "replaced 1 old entry" in r.stdout
    assert kh.read_text() == device.known_hosts_line()


def test_daemon_records_versions_and_reports_drift(tmp_path: Path, device: Sshd,
                                                   netwatch_process: Callable[..., NetwatchProcess]) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "known_hosts").write_text(device.known_hosts_line())
    text = venue(tmp_path, device, interval="3s").replace("known_hosts: keys/known_hosts",
                                                          f"known_hosts: {tmp_path / 'keys' / 'known_hosts'}")
    config = tmp_path / "freeze.yaml"
    config.write_text(text.replace("{listen}", "127.0.0.1:9"))
    assert nw(tmp_path, "config-freeze", "core1", "-c", str(config)).returncode == 0
    proc = netwatch_process(text)

    def drift_lines() -> float | None:
        return metric_value(proc.metrics(), "netwatch_ssh_config_drift_lines", check="core1/ssh")

    wait_for(lambda: drift_lines() == 0, 20, 0.2, "first ssh poll")
    device.set_running_config(DRIFTED)
    wait_for(lambda: drift_lines() == 2, 20, 0.2, "drift seen by the daemon")
    metrics = proc.metrics()
    assert metric_value(metrics, "netwatch_probe_success", check="core1/ssh") == 0
    assert metric_value(metrics, "netwatch_ssh_config_versions", check="core1/ssh") == 2
    assert metric_value(metrics, "netwatch_ssh_config_frozen", check="core1/ssh") == 1
    r = nw(tmp_path, "config-diff", "core1", "-c", str(config))
    assert r.returncode == 1 and "+snmp-server community <removed> RW" in r.stdout
    assert proc.stop() == 0
    db = sqlite3.connect(str(tmp_path / "netwatch.db"))
    kinds = [k for (k,) in db.execute("SELECT kind FROM events WHERE target_id='core1' ORDER BY id")]
    assert kinds.count("config_drift") == 1
    errors = {e for (e,) in db.execute("SELECT error FROM transitions WHERE check_id='core1/ssh'")}
    assert "config_drift" in errors
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("netwatch.db*"))
    assert b"hacked-comm" not in raw and b"hoitruong-ro" not in raw
    db.close()


def vi_env() -> dict[str, str]:
    """The environment without NETWATCH_LANG, so the default language (Vietnamese) applies."""
    import os

    return {k: v for k, v in os.environ.items() if k != "NETWATCH_LANG"}


def test_trust_asks_on_a_terminal(tmp_path: Path, device: Sshd) -> None:
    import os
    import pty

    config = tmp_path / "venue.yaml"
    config.write_text(venue(tmp_path, device, listen="127.0.0.1:9"))
    kh = tmp_path / "keys" / "known_hosts"
    name = f"[127.0.0.1]:{device.port}"
    vi_prompt, en_prompt = f"Tin cậy khoá này cho {name}? [c/K]", f"Trust this key for {name}? [y/N]"
    # Vietnamese by default: "c"/"có" (and "y") confirm; in English "c" is no answer at all.
    for lang, answer, code, prompt in (([], "không\n", 1, vi_prompt), (["--lang", "en"], "c\n", 1, en_prompt),
                                       (["--lang", "en"], "n\n", 1, en_prompt), ([], "có\n", 0, vi_prompt),
                                       (["--lang", "en"], "y\n", 0, en_prompt)):
        if kh.exists():
            kh.unlink()
        master, slave = pty.openpty()
        try:
            proc = subprocess.Popen([sys.executable, "-m", "netwatch", *lang, "ssh-trust", "core1", "-c", str(config)],
                                    cwd=tmp_path, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=vi_env())
            os.write(master, answer.encode())
            out, err = proc.communicate(timeout=60)
        finally:
            os.close(master)
            os.close(slave)
        assert proc.returncode == code, err.decode()
        assert prompt in out.decode()
        assert kh.exists() is (code == 0)
        if code == 1:
            assert ("Không tin cậy khoá; không có gì thay đổi" if not lang else "not trusted; nothing changed") \
                in err.decode()
    assert kh.read_text() == device.known_hosts_line()


def test_vietnamese_is_the_default(tmp_path: Path, device: Sshd) -> None:
    config = tmp_path / "venue.yaml"
    config.write_text(venue(tmp_path, device, listen="127.0.0.1:9"))
    kh = tmp_path / "keys" / "known_hosts"

    def vi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "netwatch", *args], cwd=tmp_path, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60, env=vi_env())

    r = vi("check", "-c", str(config))   # config errors stay English: engineers read them, tests pin them
    assert r.returncode == 2 and f"known_hosts file {kh} does not exist" in r.stderr
    r = vi("ssh-trust", "core1", "-c", str(config))
    assert r.returncode == 1
    assert "Dấu vân tay khoá máy chủ: 256 SHA256:" in r.stdout and "(ED25519)" in r.stdout
    assert "Từ chối tin cậy khoá khi chưa được xác nhận: không có terminal để hỏi" in r.stderr
    r = vi("ssh-trust", "nowhere", "-c", str(config))
    assert r.returncode == 2
    assert "không có phép kiểm tra ssh nào cho 'nowhere'" in r.stderr and "core1" in r.stderr
    r = vi("ssh-trust", "core1", "-c", str(config), "--yes")
    assert r.returncode == 0 and f"Đã thêm [127.0.0.1]:{device.port} vào {kh}" in r.stdout
    r = vi("ssh-trust", "core1", "-c", str(config), "--yes")
    assert r.returncode == 0 and "Khoá này đã được tin cậy trong" in r.stdout
    r = vi("config-diff", "core1", "-c", str(config))
    assert r.returncode == 1 and "core1: chưa có kho lịch sử tại" in r.stderr
    r = vi("config-freeze", "core1", "-c", str(config), "--from-history")
    assert r.returncode == 1 and "core1: chưa có cấu hình nào được lưu" in r.stderr
    r = vi("config-freeze", "core1", "-c", str(config))
    assert r.returncode == 0 and "core1: đã cố định cấu hình gốc: phiên bản 1 sha256 " in r.stdout
    r = vi("config-diff", "core1", "-c", str(config), "--list")
    assert r.returncode == 0 and r.stdout.rstrip().endswith("byte  (cấu hình gốc)")
    r = vi("config-diff", "core1", "-c", str(config))
    assert r.returncode == 0 and "core1: cấu hình hiện tại trùng với cấu hình gốc" in r.stderr
    device.set_running_config(DRIFTED)
    assert vi("config-freeze", "core1", "-c", str(config), "--clear").stdout.startswith(
        "core1: đã bỏ cố định cấu hình gốc")
    assert vi("config-freeze", "core1", "-c", str(config)).returncode == 0
    assert vi("config-freeze", "core1", "-c", str(config), "--clear").returncode == 0
    r = vi("config-diff", "core1", "-c", str(config))
    assert r.returncode == 1 and "--- bản trước " in r.stdout and "+++ hiện tại " in r.stdout
    device.swap_host_key()
    r = vi("ssh-trust", "core1", "-c", str(config), "--yes")
    assert r.returncode == 1 and "CẢNH BÁO:" in r.stderr and "chạy lại với --replace" in r.stderr
    r = vi("ssh-trust", "core1", "-c", str(config), "--yes", "--replace")
    assert r.returncode == 0 and f"Đã thay 1 mục cũ của [127.0.0.1]:{device.port}" in r.stdout

    env = {**vi_env(), "NETWATCH_LANG": "en"}
    r = subprocess.run([sys.executable, "-m", "netwatch", "ssh-trust", "core1", "-c", str(config), "--yes"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0 and "Host key fingerprint: 256 SHA256:" in r.stdout and "already trusted" in r.stdout


def test_freeze_and_diff_on_postgresql(tmp_path: Path, device: Sshd, pg_cluster: "Cluster") -> None:
    import json

    name = pg_cluster.create_database("config_freeze")
    try:
        (tmp_path / "pg-password").write_text(pg_cluster.password)
        store = json.dumps({"url": pg_cluster.url(name), "password_file": str(tmp_path / "pg-password")})
        config = tmp_path / "venue.yaml"
        config.write_text(venue(tmp_path, device, listen="127.0.0.1:9").replace(
            f"store: {tmp_path / 'netwatch.db'}", f"store: {store}"))
        assert nw(tmp_path, "ssh-trust", "core1", "-c", str(config), "--yes").returncode == 0
        r = nw(tmp_path, "config-freeze", "core1", "-c", str(config))
        assert r.returncode == 0 and "version 1" in r.stdout, r.stderr
        device.set_running_config(DRIFTED)
        r = nw(tmp_path, "config-freeze", "core1", "-c", str(config))
        assert r.returncode == 0 and "version 2" in r.stdout, r.stderr
        assert nw(tmp_path, "config-freeze", "core1", "-c", str(config), "--clear").returncode == 0
        r = nw(tmp_path, "config-diff", "core1", "-c", str(config))
        assert r.returncode == 1 and "+snmp-server community <removed> RW" in r.stdout, r.stderr
        r = nw(tmp_path, "config-diff", "core1", "-c", str(config), "--list")
        assert r.returncode == 0 and len(r.stdout.splitlines()) == 2
        assert pg_cluster.password not in r.stdout + r.stderr
    finally:
        pg_cluster.drop_database(name)
