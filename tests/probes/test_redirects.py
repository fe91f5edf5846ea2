"""The redirect policy (issue 16.7): a redirect chosen by a website may not lead to loopback from elsewhere,
to link-local or metadata addresses in any encoding, or from a public address to a private one; checked
after resolution on every hop; `allow_redirects_to` opens a network on purpose; configured URLs stay free."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from typing import Any, AsyncIterator, Iterator

import pytest
from aiohttp import web

from netwatch.fields import FieldError
from netwatch.model import Outcome, Target
from netwatch.net import redirects
from netwatch.probes import http, web_integrity
from tests.support import free_port, wait_for

TARGET = Target(id="portal", host="127.0.0.1")


# Pure policy judgements (no packet is sent): the private and public addresses are examples.
@pytest.mark.parametrize("source, to, blocked", [
    ("127.0.0.1", "127.0.0.2", None),                           # loopback may stay on loopback
    ("127.0.0.1", "10.1.2.3", None),
    ("10.0.0.1", "10.1.2.3", None),                             # private to private: the NOC's own hosts
    ("8.8.8.8", "8.8.4.4", None),
    ("10.0.0.1", "127.0.0.1", "loopback"),
    ("10.0.0.1", "::1", "loopback"),
    ("10.0.0.1", "0.0.0.0", "loopback"),
    ("10.0.0.1", "::ffff:127.0.0.1", "loopback"),
    ("127.0.0.1", "169.254.169.254", "metadata"),
    ("127.0.0.1", "::ffff:169.254.169.254", "metadata"),
    ("127.0.0.1", "::ffff:a9fe:a9fe", "metadata"),
    ("127.0.0.1", "64:ff9b::a9fe:a9fe", "metadata"),            # NAT64
    ("127.0.0.1", "2002:a9fe:a9fe::1", "metadata"),             # 6to4
    ("127.0.0.1", "fd00:ec2::254", "metadata"),
    ("10.0.0.1", "169.254.10.1", "link-local"),
    ("10.0.0.1", "fe80::1", "link-local"),
    ("8.8.8.8", "10.1.2.3", "private"),
    ("8.8.8.8", "192.168.1.1", "private"),
    ("8.8.8.8", "fd12::1", "private"),
    ("::ffff:8.8.8.8", "10.1.2.3", "private"),
    ("10.0.0.1", "224.0.0.1", "multicast"),
])
def test_policy_table(source: str, to: str, blocked: str | None) -> None:
    got = redirects.refusal(source, [to])
    assert (got is None) if blocked is None else (got is not None and blocked in got), got


def test_allow_redirects_to_opens_networks_on_purpose() -> None:
    assert redirects.refusal("8.8.8.8", ["10.30.1.5"], redirects.parse_networks(["10.30.0.0/16"])) is None
    assert redirects.refusal("8.8.8.8", ["10.31.1.5"], redirects.parse_networks(["10.30.0.0/16"])) is not None
    # every address a name resolves to is judged, not only the first
    assert redirects.refusal("10.0.0.1", ["10.1.1.1", "127.0.0.1"]) is not None
    with pytest.raises(FieldError, match="allow_redirects_to"):
        http.Settings(url="http://127.0.0.1/", allow_redirects_to=("10.0.0.0/33",))


@pytest.fixture
async def redirector() -> AsyncIterator[dict[str, str]]:
    """A loopback site whose /go?to=URL answers 302 to URL; /here answers 200."""
    async def go(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def here(request: web.Request) -> web.Response:
        return web.Response(text="arrived")

    app = web.Application()
    app.router.add_get("/go", go)
    app.router.add_get("/here", here)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield {"base": f"http://127.0.0.1:{port}"}
    await runner.cleanup()


async def run(url: str, **kwargs: Any) -> Outcome:
    return await http.probe(TARGET, http.Settings(url=url, **kwargs), 5.0)


@pytest.mark.parametrize("location", [
    "http://169.254.169.254/latest/meta-data/",
    "http://0xa9.0xfe.0xa9.0xfe/",          # hex
    "http://0251.0376.0251.0376/",          # octal
    "http://2852039166/",                   # one decimal number
    "http://[::ffff:169.254.169.254]/",     # IPv4-mapped IPv6
    "http://169.254.1.1/",
])
async def test_loopback_site_cannot_redirect_to_metadata(redirector: dict[str, str], location: str) -> None:
    out = await run(f"{redirector['base']}/go?to={location}")
    assert (out.ok, out.error) == (False, "redirect_blocked"), out
    assert "refused" in (out.detail or "") and "169.254." in (out.detail or "")


async def test_loopback_may_stay_on_loopback(redirector: dict[str, str]) -> None:
    out = await run(f"{redirector['base']}/go?to={redirector['base']}/here", must_contain=("arrived",))
    assert out.ok, out
    assert out.measurements["redirects"] == 1


async def test_web_integrity_follows_the_same_policy(redirector: dict[str, str]) -> None:
    settings = web_integrity.Settings(url=f"{redirector['base']}/go?to=http://169.254.169.254/")
    with pytest.raises(Exception) as err:
        await web_integrity.fetch_page(settings, settings.pages[0])
    assert getattr(err.value, "error", None) == "redirect_blocked"


def test_configured_targets_stay_unrestricted() -> None:
    # A check may name any address itself: the policy judges only hops a website chose.
    http.Settings(url="http://169.254.1.1/")
    http.Settings(url="http://10.1.2.3/")


NS = f"nwt_redir_{os.getpid()}"
HOST_SIDE, NS_SIDE, PUBLIC = "10.77.2.1", "10.77.2.2", "11.22.33.44"   # only inside the test's namespace NS

SERVER = textwrap.dedent("""
    import http.server, sys
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/go/"):
                self.send_response(302); self.send_header("Location", self.path[4:]); self.end_headers()
            else:
                body = b"arrived"; self.send_response(200); self.send_header("Content-Length", "7")
                self.end_headers(); self.wfile.write(body)
        def log_message(self, *a): pass
    http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
""")


@pytest.fixture
def remote_site() -> Iterator[int]:
    """A redirecting site on a private (10.77.2.2) and a public-looking (11.22.33.44) address, both inside a
    namespace of this test's own, reached over a veth pair."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2")
    port = 8080
    subprocess.run(["ip", "netns", "add", NS], check=True)
    server = None
    try:
        for cmd in (f"ip link add {NS[:10]}h type veth peer name {NS[:10]}p", f"ip link set {NS[:10]}p netns {NS}",
                    f"ip addr add {HOST_SIDE}/30 dev {NS[:10]}h", f"ip link set {NS[:10]}h up",
                    f"ip route add {PUBLIC}/32 via {NS_SIDE}",
                    f"ip -n {NS} addr add {NS_SIDE}/30 dev {NS[:10]}p", f"ip -n {NS} addr add {PUBLIC}/32 dev {NS[:10]}p",
                    f"ip -n {NS} link set {NS[:10]}p up", f"ip -n {NS} link set lo up"):
            subprocess.run(cmd.split(), check=True)
        server = subprocess.Popen(["ip", "netns", "exec", NS, sys.executable, "-c", SERVER, str(port)])
        import urllib.request

        def up() -> bool:
            try:
                return urllib.request.urlopen(f"http://{NS_SIDE}:{port}/x", timeout=1).status == 200
            except OSError:
                return False

        wait_for(up, 15, 0.2, "the namespace's site")
        yield port
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "netns", "del", NS], check=False)
        subprocess.run(["ip", "route", "del", f"{PUBLIC}/32"], check=False, capture_output=True)


@pytest.mark.root
async def test_private_site_cannot_redirect_to_loopback_nor_public_to_private(remote_site: int,
                                                                             redirector: dict[str, str]) -> None:
    port = remote_site
    out = await run(f"http://{NS_SIDE}:{port}/go/{redirector['base']}/here")
    assert (out.ok, out.error) == (False, "redirect_blocked"), out
    assert f"from private {NS_SIDE} to the loopback address 127.0.0.1 refused" in (out.detail or "")
    out = await run(f"http://{PUBLIC}:{port}/go/http://{NS_SIDE}:{port}/x")
    assert (out.ok, out.error) == (False, "redirect_blocked"), out
    assert f"from public {PUBLIC} to the private address {NS_SIDE} refused" in (out.detail or "")
    # opened on purpose
    out = await run(f"http://{PUBLIC}:{port}/go/http://{NS_SIDE}:{port}/x", allow_redirects_to=("10.77.2.0/30",),
                    must_contain=("arrived",))
    assert out.ok, out
    # private to private, and public to public, are followed
    assert (await run(f"http://{NS_SIDE}:{port}/go/http://{NS_SIDE}:{port}/x")).ok
    assert (await run(f"http://{PUBLIC}:{port}/go/http://{PUBLIC}:{port}/x")).ok


async def test_http_flow_steps_follow_the_same_policy(redirector: dict[str, str]) -> None:
    from netwatch.probes import http_flow

    settings = http_flow.Settings(steps=(http_flow.Step(url=f"{redirector['base']}/go?to=http://[::ffff:a9fe:a9fe]/"),))
    out = await http_flow.probe(TARGET, settings, 5.0)
    assert (out.ok, out.error) == (False, "redirect_blocked"), out
