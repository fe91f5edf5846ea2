"""The lab venue: endpoints answer like the real thing, faults change them, and its config loads."""

from __future__ import annotations

import asyncio
import time
import socket
import urllib.error
import urllib.request

import pytest

from netwatch.config import loads
from netwatch.lab.servers import BannerServer
from netwatch.lab.venue import DEVICES, SERVICES, Lab, dump


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - loopback lab
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.reason


def _banner(server: BannerServer, timeout: float = 2.0) -> bytes:
    with socket.create_connection((server.host, server.port), timeout=timeout) as s:
        return s.recv(200)


def _refused(server: BannerServer) -> bool:
    try:
        socket.create_connection((server.host, server.port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
async def lab():  # type: ignore[no-untyped-def]
    lab = await Lab().start()
    yield lab
    await lab.close()


async def test_websites_break_and_recover(lab: Lab) -> None:
    portal = lab.sites["portal"]
    status, body = await asyncio.to_thread(_get, portal.url)
    assert status == 200 and "Cổng thông tin điện tử" in body
    lab.website("portal", "error", 500, "<script>x</script>")
    assert await asyncio.to_thread(_get, portal.url) == (500, "<script>x</script>")
    lab.website("portal", "defaced")
    status, body = await asyncio.to_thread(_get, portal.url)
    assert status == 200 and "Hacked by" in body and "Cổng thông tin điện tử" not in body
    lab.website("portal", "ok")
    assert (await asyncio.to_thread(_get, portal.url))[0] == 200


async def test_mail_banners_and_delay(lab: Lab) -> None:
    assert (await asyncio.to_thread(_banner, lab.mail["smtp"])).startswith(b"220 ")
    assert (await asyncio.to_thread(_banner, lab.mail["imap"])).startswith(b"* OK")
    lab.mail_delay(1.0)
    with pytest.raises(socket.timeout):
        await asyncio.to_thread(_banner, lab.mail["smtp"], 0.3)


async def test_isolate_silences_the_device_and_everything_behind_it(lab: Lab) -> None:
    await lab.isolate("press-sw")
    assert lab.agents["press-sw"].silent
    for server in (lab.services["press-ap1"], lab.mgmt["press-sw"]):
        with pytest.raises(socket.timeout):   # a dead link: no answer at all, not a refusal
            await asyncio.to_thread(_banner, server, 0.3)
    assert not lab.agents["hall-sw"].silent
    assert (await asyncio.to_thread(_banner, lab.services["hall-ap1"])).startswith(b"SSH-2.0-")
    await lab.isolate("press-sw", False)
    assert not lab.agents["press-sw"].silent
    assert (await asyncio.to_thread(_banner, lab.services["press-ap2"])).startswith(b"SSH-2.0-")


async def test_reboot_refuses_then_answers_with_uptime_from_zero(lab: Lab) -> None:
    task = asyncio.create_task(lab.reboot("core-router", 0.3))
    await asyncio.sleep(0.1)
    assert lab.agents["core-router"].silent
    assert await asyncio.to_thread(_refused, lab.mgmt["core-router"])
    await task
    assert not lab.agents["core-router"].silent and lab.agents["core-router"].uptime_ticks() < 100
    assert (await asyncio.to_thread(_banner, lab.mgmt["core-router"])).startswith(b"SSH-2.0-")


async def test_isolating_a_distribution_switch_takes_its_zones(lab: Lab) -> None:
    behind = lab._behind("dist-sw-2")
    assert {"press-sw", "hotel-sw", "press-ap1", "hotel-ap2"} <= set(behind)
    assert "hall-sw" not in behind


@pytest.mark.parametrize("kinds", [{"icmp", "http", "tcp"}, {"icmp", "http", "tcp", "snmp"}])
async def test_generated_config_loads(lab: Lab, kinds: set[str]) -> None:
    from netwatch.probes import PROBES

    if not kinds <= set(PROBES):
        pytest.skip("snmp probe kind not registered yet")
    config = loads(dump(lab.config("127.0.0.1:9800", "x.db", 1.0, kinds)))
    assert {t.id for t in config.targets} == lab.ids()
    assert len(config.targets) == len(DEVICES) + len(SERVICES) + 3 + 4 + 5 + 2
    by_id = {c.target.id: c for c in config.checks}
    assert by_id["press-ap1"].target.depends_on == ("press-sw",)
    assert by_id["core-router"].kind == ("snmp" if "snmp" in kinds else "tcp")
    assert by_id["portal"].kind == "http"
    assert by_id["press-sw"].target.host == lab.agents["press-sw"].transport.get_extra_info("sockname")[0]
    assert len({t.host for t in config.targets if t.id in lab.agents}) == len(DEVICES)


async def test_https_portal_with_the_lab_ca(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from netwatch.lab import certs
    from netwatch.model import Target
    from netwatch.probes import http

    lab = await Lab(pki=certs.make(tmp_path / "pki")).start()
    try:
        portal = lab.sites["portal"]
        assert portal.url.startswith("https://127.0.0.1:") and lab.sites["dvc"].url.startswith("http://")
        assert oct((tmp_path / "pki" / "portal.key").stat().st_mode & 0o777) == "0o600"
        config = loads(dump(lab.config("127.0.0.1:9800", "x.db", 1.0, {"icmp", "http", "tcp"})))
        check = next(c for c in config.checks if c.id == "portal/http")
        got = await http.probe(Target("portal"), check.settings, 5.0)
        assert got.ok, got
        assert got.measurements["tls_cert_expiry_timestamp_seconds"] > time.time() + 80 * 86400
        untrusted = await http.probe(Target("portal"), http.Settings(url=portal.url), 5.0)
        assert untrusted.error == "tls_untrusted"
    finally:
        await lab.close()
