"""Corpus test (issue 17): the web oddities of tests/peers/fidelity_web.py and the TLS cases of the test
PKI, probed by netwatch and by prometheus-blackbox-exporter on the same loopback servers. The table says
where netwatch deliberately differs, and why."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

from netwatch.model import Target
from netwatch.probes import http
from tests.peers import fidelity_web, webservers
from tests.peers.certs import Pki, make_pki
from tests.peers.webservers import Peer

pytestmark = [pytest.mark.corpus,
              pytest.mark.skipif(not shutil.which("prometheus-blackbox-exporter"),
                                 reason="needs Debian's prometheus-blackbox-exporter")]

MODULES = Path(__file__).with_name("blackbox.yml")


@dataclass(frozen=True)
class Case:
    name: str
    server: str                          # "odd" (plain HTTP oddities), "tls" (the CA's valid leaf) or a Pki leaf
    path: str
    module: str
    netwatch: dict[str, Any] = field(default_factory=dict)
    netwatch_error: Optional[str] = None     # None: the check passes
    blackbox_ok: bool = True
    differs_because: str = ""                # set where the two verdicts differ on purpose


CASES = (
    Case("gzip defacement", "odd", "/gzip", "http_not_hacked", {"must_not_contain": ("Hacked by",)}, "content",
         blackbox_ok=True, differs_because="blackbox (Go) decodes gzip only when it asked for it itself; this "
         "server sends gzip unasked and blackbox matches compressed bytes, missing the defacement"),
    Case("negotiated gzip defacement", "odd", "/negotiated", "http_not_hacked", {"must_not_contain": ("Hacked by",)},
         "content", blackbox_ok=False),
    Case("brotli defacement", "odd", "/br", "http_not_hacked", {"must_not_contain": ("Hacked by",)}, "content",
         blackbox_ok=True, differs_because="blackbox does not decode br"),
    Case("deflate defacement", "odd", "/deflate", "http_not_hacked", {"must_not_contain": ("Hacked by",)}, "content",
         blackbox_ok=True, differs_because="blackbox does not decode deflate"),
    Case("windows-1258 page", "odd", "/cp1258", "http_hanoi", {"must_contain": ("Hà Nội",)}, None,
         blackbox_ok=False, differs_because="netwatch decodes the charset (and NFC) before matching; blackbox "
         "matches the UTF-8 regex against Windows-1258 bytes"),
    Case("<meta charset> page", "odd", "/meta-charset", "http_hanoi", {"must_contain": ("Hà Nội",)}, None,
         blackbox_ok=False, differs_because="as above, with the charset only in <meta>"),
    Case("consent cookie + 302 to the same URL", "odd", "/consent", "http_welcome", {"must_contain": ("welcome back",)}),
    Case("http -> https on a private CA", "odd", "/to-https", "http_private_ca", {"ca_file": "{ca_file}"}),
    Case("bare-LF head", "odd", "/bare-lf", "http_2xx"),
    Case("folded header", "odd", "/folded", "http_2xx"),
    Case("space before the colon", "odd", "/space-colon", "http_2xx"),
    Case("150 headers", "odd", "/many-headers", "http_2xx"),
    Case("100 KiB head", "odd", "/big-head", "http_2xx"),
    Case("2 MiB page, status only", "odd", "/big-page", "http_2xx"),
    Case("gzip bomb", "odd", "/bomb", "http_2xx", {"must_contain": ("x",)}, "decompression_bomb", blackbox_ok=True,
         differs_because="a body check decodes within a cap; blackbox reads 64 MiB unbounded"),
    Case("valid certificate", "valid", "/", "http_private_ca", {"ca_file": "{ca_file}"}),
    Case("1024-bit RSA certificate", "weak_key", "/", "http_private_ca", {"ca_file": "{ca_file}"}, "tls_weak_key",
         differs_because="netwatch refuses RSA keys under 2048 bits"),
    Case("certificate ending in 3 days", "ending_soon", "/", "http_private_ca", {"ca_file": "{ca_file}"},
         "tls_expiring", differs_because="netwatch fails a certificate within tls_critical_days (7)"),
    Case("expired certificate", "expired", "/", "http_private_ca", {"ca_file": "{ca_file}"}, "tls_expired",
         blackbox_ok=False),
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def blackbox(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[str]:
    work = tmp_path_factory.mktemp("blackbox")
    config = work / "blackbox.yml"
    config.write_text(MODULES.read_text().replace("{ca_file}", str(pki.ca_file)))
    from tests.peers.snmpd import free_udp_port
    port = free_udp_port()          # a free number; the exporter binds TCP on it
    proc = subprocess.Popen(["prometheus-blackbox-exporter", f"--config.file={config}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("blackbox exporter did not start")
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()            # our own child, by its PID
        proc.wait(5)


def blackbox_success(base: str, module: str, url: str) -> bool:
    query = urllib.parse.urlencode({"module": module, "target": url})
    text = urllib.request.urlopen(f"{base}/probe?{query}", timeout=15).read().decode()
    line = next(x for x in text.splitlines() if x.startswith("probe_success "))
    return line.split()[1] == "1"


import urllib.parse  # noqa: E402


async def test_netwatch_and_blackbox_on_the_same_servers(pki: Pki, blackbox: str) -> None:
    valid = await webservers.start_site(webservers.server_context(pki.valid))
    odd = await fidelity_web.start(valid.port)
    leaves = {name: await webservers.start_site(webservers.server_context(getattr(pki, name)))
              for name in ("weak_key", "ending_soon", "expired")}
    servers: dict[str, Peer] = {"odd": odd, "valid": valid, **leaves}
    rows, wrong = [], []
    try:
        for case in CASES:
            peer = servers[case.server]
            url = peer.url(case.path, host="localhost" if peer.scheme == "https" else None)
            kwargs = {k: (str(pki.ca_file) if v == "{ca_file}" else v) for k, v in case.netwatch.items()}
            out = await http.probe(Target("t", "127.0.0.1"), http.Settings(url=url, **kwargs), 10.0)
            bb = await asyncio.to_thread(blackbox_success, blackbox, case.module, url)
            got_error = None if out.ok else out.error
            rows.append(f"{case.name:40} netwatch {got_error or 'ok':20} blackbox {'ok' if bb else 'fail':5} "
                        f"{case.differs_because}")
            if got_error != case.netwatch_error or bb != case.blackbox_ok:
                wrong.append((case.name, got_error, out.detail, bb))
            # where the verdicts differ, the table must say why
            if (got_error is None) != bb:
                assert case.differs_because, f"{case.name}: netwatch and blackbox differ without a stated reason"
    finally:
        for p in servers.values():
            await p.close()
    print("\n" + "\n".join(rows))
    assert not wrong, wrong
