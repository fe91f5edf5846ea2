"""The dns probe against a loopback DNS stub: answers, NXDOMAIN, SERVFAIL, silence, wrong records."""

from __future__ import annotations

import time
from typing import Any, AsyncIterator

import pytest

from netwatch.fields import FieldError
from netwatch.model import Outcome, Target
from netwatch.probes import dns
from tests.peers import webservers
from tests.peers.dnsstub import DnsStub, start_stub

TARGET = Target(id="resolver")


@pytest.fixture
async def stub() -> AsyncIterator[DnsStub]:
    s = await start_stub(
        {
            ("portal.test.", "A"): ["127.0.0.10", "127.0.0.11"],
            ("portal.test.", "AAAA"): ["::1"],
            ("v4only.test.", "A"): ["127.0.0.12"],
        },
        servfail={"broken.test."},
        silent={"slow.test."},
    )
    yield s
    s.close()


async def run(stub: DnsStub, name: str, timeout_seconds: float = 2.0, **kwargs: Any) -> Outcome:
    settings = dns.Settings(name=name, server=f"127.0.0.1:{stub.port}", **kwargs)
    return await dns.probe(TARGET, settings, timeout_seconds)


async def test_a_and_aaaa_answers(stub: DnsStub) -> None:
    out = await run(stub, "portal.test", expect=("127.0.0.10", "127.0.0.11"))
    assert out.ok, out
    assert out.measurements["answers"] == 2
    assert out.measurements["ttl_seconds"] == 300
    assert 0 < out.measurements["resolve_seconds"] < 1
    out = await run(stub, "portal.test", record="AAAA", expect=("0:0::1",))
    assert out.ok, out


async def test_unexpected_address_is_content_error(stub: DnsStub) -> None:
    out = await run(stub, "portal.test", expect=("127.0.0.10",))
    assert (out.ok, out.error) == (False, "content")
    assert "127.0.0.11" in out.detail


async def test_nxdomain_servfail_nodata(stub: DnsStub) -> None:
    out = await run(stub, "missing.test")
    assert (out.ok, out.error) == (False, "nxdomain")
    out = await run(stub, "broken.test")
    assert (out.ok, out.error) == (False, "servfail")
    out = await run(stub, "v4only.test", record="AAAA")
    assert (out.ok, out.error) == (False, "nodata")


async def test_silent_server_times_out(stub: DnsStub) -> None:
    started = time.perf_counter()
    out = await run(stub, "slow.test", timeout_seconds=0.3)
    assert (out.ok, out.error) == (False, "timeout")
    assert 0.25 < time.perf_counter() - started < 1.5


async def test_no_server_on_the_port() -> None:
    port = await webservers.free_port()
    settings = dns.Settings(name="portal.test", server=f"127.0.0.1:{port}")
    out = await dns.probe(TARGET, settings, 1.0)
    # dnspython's asyncio UDP drops the ICMP port-unreachable, so this ends at the deadline.
    assert (out.ok, out.error) == (False, "timeout")


async def test_invalid_domain_fails_without_asking_anyone() -> None:
    out = await dns.probe(TARGET, dns.Settings(name="portal.invalid"), 2.0)
    assert (out.ok, out.error) == (False, "nxdomain")


@pytest.mark.parametrize("kwargs, field", [
    ({"name": "a..b"}, "name"),
    ({"name": "ok.test", "server": "resolver.test"}, "server"),
    ({"name": "ok.test", "server": "127.0.0.1:0"}, "server"),
    ({"name": "ok.test", "server": "[::1"}, "server"),
    ({"name": "ok.test", "expect": ("not-an-ip",)}, "expect"),
    ({"name": "ok.test", "record": "AAAA", "expect": ("127.0.0.1",)}, "expect"),
])
def test_settings_validation(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as info:
        dns.Settings(**kwargs)
    assert info.value.field == field


def test_server_forms() -> None:
    assert dns.parse_server("127.0.0.1") == ("127.0.0.1", 53)
    assert dns.parse_server("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert dns.parse_server("::1") == ("::1", 53)
    assert dns.parse_server("[::1]:5353") == ("::1", 5353)
