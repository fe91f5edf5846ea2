"""`listen` on reload (issue 16.2) and HTTPS on the web side (issue 16.4), against the real `netwatch run`.

The reload test runs netwatch inside a network namespace of its own, so "every interface" is the namespace's
loopback and one veth address, and the remote caller is a client in that namespace."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.peers.certs import make_pki
from tests.support import REPO, NetwatchProcess, wait_for

VIEWER = "viewer-token-0123456789abcdef"
NS = f"nwt_listen_{os.getpid()}"
ADDRESS = "10.77.1.1"   # exists only on the veth inside the test's own namespace NS

CONFIG = f"""
listen: "{{listen}}"
store: "{{store}}"
site: {{name: listen}}
board: {{viewer_token: "{VIEWER}"}}
defaults: {{interval: 1h}}
targets:
  - {{id: web1, host: 127.0.0.1, checks: []}}
"""

CLIENT = """
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]} if sys.argv[2] else {})
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except OSError as e:
    print("refused" if "refused" in str(e).lower() else type(e).__name__)
"""


@pytest.fixture
def namespace() -> Iterator[str]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2")
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        for cmd in ("ip link set lo up", "ip link add nw0 type veth peer name nw1",
                    f"ip addr add {ADDRESS}/24 dev nw0", "ip link set nw0 up", "ip link set nw1 up"):
            subprocess.run(["ip", "netns", "exec", NS, *cmd.split()], check=True)
        yield NS
    finally:
        subprocess.run(["ip", "netns", "del", NS], check=False)


@pytest.mark.root
def test_reload_rebinds_listen_both_ways_and_keeps_rules_of_the_bound_socket(namespace: str, tmp_path: Path) -> None:
    """Before: 0.0.0.0 -> 127.0.0.1 plus SIGHUP left the socket on every interface while netwatch believed it
    was loopback-only: the board answered remote callers without a token (401 -> 200)."""
    config = tmp_path / "venue.yaml"

    def write(listen: str) -> None:
        config.write_text(CONFIG.replace("{listen}", listen).replace("{store}", str(tmp_path / "n.db")))

    def client(host: str, token: str = "") -> str:
        return subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", CLIENT,
                               f"http://{host}:9800/api/v1/board", token],
                              capture_output=True, text=True, timeout=30).stdout.strip()

    write("0.0.0.0:9800")
    log_path = tmp_path / "netwatch.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-m", "netwatch", "run", "-c",
                             str(config)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: client(ADDRESS) == "401", 20, 0.3, "netwatch on every interface of the namespace")
        assert client(ADDRESS, VIEWER) == "200"

        # Narrow it: the wide socket goes, the remote caller finds nothing, loopback needs no token.
        write("127.0.0.1:9800")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: client(ADDRESS) != "401", 20, 0.3, "the reload")
        assert client(ADDRESS) == "refused"   # before the fix: 200, the board without a token
        assert client("127.0.0.1") == "200"

        # Widen it again on the same port: rebound, and the token is wanted again.
        write("0.0.0.0:9800")
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: client(ADDRESS) != "refused", 20, 0.3, "the wide socket back")
        assert client(ADDRESS) == "401" and client("127.0.0.1") == "401" and client(ADDRESS, VIEWER) == "200"

        # An address that cannot be bound: the old socket stays with its own rules, and the log says so.
        write("10.99.0.1:9800")   # example: no interface has it, so bind() fails and nothing is sent
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "restart netwatch to apply it" in log_path.read_text(), 20, 0.3, "the refusal logged")
        assert client(ADDRESS) == "401" and client(ADDRESS, VIEWER) == "200"
        text = log_path.read_text()
        assert "listen changed to 10.99.0.1:9800 but it cannot be bound" in text
        assert "still serving on 0.0.0.0:9800" in text
        assert "INSECURE: listening on 0.0.0.0:9800 without TLS" in text
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
    assert "Traceback" not in log_path.read_text()


@pytest.mark.root
def test_a_narrowing_reload_that_cannot_bind_keeps_the_wide_rules(namespace: str, tmp_path: Path) -> None:
    """Keep-the-old-socket path in the narrowing direction: the config says loopback, the socket is still wide,
    so tokens are still wanted (rules from the socket actually bound, not from the file)."""
    config = tmp_path / "venue.yaml"
    config.write_text(CONFIG.replace("{listen}", f"{ADDRESS}:9800").replace("{store}", str(tmp_path / "n.db")))
    log_path = tmp_path / "netwatch.log"
    log = open(log_path, "wb")
    # Something else already holds loopback port 9800 in the namespace.
    blocker = subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-c",
                                "import socket,time; s=socket.socket(); s.bind(('127.0.0.1', 9800)); s.listen();"
                                "time.sleep(120)"])
    proc = subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-m", "netwatch", "run", "-c",
                             str(config)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

    def client(token: str = "") -> str:
        return subprocess.run(["ip", "netns", "exec", namespace, sys.executable, "-c", CLIENT,
                               f"http://{ADDRESS}:9800/api/v1/board", token],
                              capture_output=True, text=True, timeout=30).stdout.strip()

    try:
        wait_for(lambda: client() == "401", 20, 0.3, "netwatch on the namespace's address")
        config.write_text(CONFIG.replace("{listen}", "127.0.0.1:9800").replace("{store}", str(tmp_path / "n.db")))
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "restart netwatch to apply it" in log_path.read_text(), 20, 0.3, "the refusal logged")
        assert client() == "401" and client(VIEWER) == "200"
    finally:
        proc.terminate()
        proc.wait(15)
        blocker.kill()
        blocker.wait()
        log.close()
    assert "Traceback" not in log_path.read_text()


def test_https_on_the_web_side(netwatch_process: Callable[..., NetwatchProcess], tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    pki = make_pki(tmp_path / "pki")
    nw = netwatch_process(CONFIG + f'listen_tls: {{cert_file: "{pki.valid.cert_file}", key_file: "{pki.valid.key_file}"}}\n',
                          wait=False)
    context = ssl.create_default_context(cafile=str(pki.ca_file))

    def get(url: str, ctx: ssl.SSLContext) -> int:
        with urllib.request.urlopen(url, timeout=5, context=ctx) as resp:  # noqa: S310 - loopback only
            return int(resp.status)

    url = f"https://{nw.listen}/api/v1/board"
    wait_for(lambda: _quiet(lambda: get(url, context)) == 200, 20, 0.2, "netwatch over HTTPS")
    assert json.loads(urllib.request.urlopen(url, timeout=5, context=context).read())["warnings"] == []
    old = ssl.create_default_context(cafile=str(pki.ca_file))
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    with pytest.raises((ssl.SSLError, urllib.error.URLError)):
        get(url, old)
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        get(f"http://{nw.listen}/healthz", context)   # plain HTTP is not served on the TLS port
    assert "serving /metrics on https://" in nw.log()


def _quiet(call: Callable[[], int]) -> int | None:
    try:
        return call()
    except OSError:
        return None


def test_a_bad_certificate_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "v.yaml").write_text('listen_tls: {cert_file: nope.pem, key_file: nope.key}\n')
    out = subprocess.run([sys.executable, "-m", "netwatch", "check", "-c", str(tmp_path / "v.yaml")],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert out.returncode == 2
    assert out.stderr.startswith(f"{tmp_path / 'v.yaml'}:1:1: listen_tls: cannot load the certificate 'nope.pem'")
