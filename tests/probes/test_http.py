"""The http probe against real loopback HTTP and HTTPS servers, well-behaved and hostile."""

from __future__ import annotations

import time
from typing import Any, AsyncIterator

import pytest

from netwatch.fields import FieldError, Secret
from netwatch.model import Outcome, Target
from netwatch.probes import http
from netwatch.net import http as httpclient
from tests.peers import webservers
from tests.peers.certs import Pki, make_pki
from tests.peers.webservers import Peer

TARGET = Target(id="portal", host="127.0.0.1")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def site() -> AsyncIterator[Peer]:
    peer = await webservers.start_site()
    yield peer
    await peer.close()


async def run(url: str, timeout_seconds: float = 5.0, **kwargs: Any) -> Outcome:
    return await http.probe(TARGET, http.Settings(url=url, **kwargs), timeout_seconds)


async def test_plain_get_reports_status_timings_and_size(site: Peer) -> None:
    out = await run(site.url("/"), must_contain=("điện tử",), regex=r"netwatch\s+test")
    assert out.ok, out
    m = out.measurements
    assert m["status_code"] == 200
    assert m["body_bytes"] == len(webservers.HOME_BODY)
    assert m["redirects"] == 0
    assert m["dns_seconds"] == 0.0  # an address needs no lookup
    for name in ("connect_seconds", "first_byte_seconds"):
        assert 0 < m[name] < 1
    assert m["total_seconds"] >= m["connect_seconds"] + m["first_byte_seconds"]
    assert "tls_seconds" not in m and "tls_cert_expiry_timestamp_seconds" not in m
    assert set(m) <= set(http.MEASUREMENTS) | {"tls_cert_expiry_timestamp_seconds"}


async def test_request_carries_host_headers_and_connection_close(site: Peer) -> None:
    out = await run(site.url("/echo?q=1"), headers={"Authorization": Secret("Bearer s3cret")},
                    must_contain=("Authorization: Bearer s3cret",))
    assert out.ok, out
    head = site.requests[-1].decode()
    assert head.startswith("GET /echo?q=1 HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{site.port}\r\n" in head
    assert "Connection: close\r\n" in head
    assert "s3cret" not in repr(http.Settings(url=site.url("/"), headers={"A": Secret("s3cret")}))


async def test_name_lookup_is_timed(site: Peer) -> None:
    out = await run(site.url("/", host="localhost"))
    assert out.ok, out
    assert out.measurements["dns_seconds"] > 0


async def test_chunked_and_close_delimited_bodies(site: Peer) -> None:
    out = await run(site.url("/chunked"), must_contain=("hello chunked world",))
    assert out.ok, out
    assert out.measurements["body_bytes"] == len("hello chunked world")
    out = await run(site.url("/close"), must_contain=("close-delimited body",))
    assert out.ok, out
    assert out.measurements["body_bytes"] == len("close-delimited body")


async def test_head_request_reads_no_body(site: Peer) -> None:
    out = await run(site.url("/"), method="HEAD")
    assert out.ok, out
    assert out.measurements["body_bytes"] == 0


async def test_redirects_are_followed_and_counted(site: Peer) -> None:
    out = await run(site.url("/redirect/3"), must_contain=("arrived",))
    assert out.ok, out
    assert out.measurements["redirects"] == 3
    assert out.measurements["status_code"] == 200


async def test_too_many_redirects_and_loops(site: Peer) -> None:
    out = await run(site.url("/redirect/3"), max_redirects=2)
    assert (out.ok, out.error) == (False, "redirects")
    assert out.measurements["redirects"] == 2
    out = await run(site.url("/loop"))
    assert (out.ok, out.error) == (False, "redirects")
    assert "loop" in out.detail


async def test_redirects_not_followed_when_max_is_zero(site: Peer) -> None:
    out = await run(site.url("/redirect/1"), max_redirects=0)
    assert out.ok, out  # 3xx is within the default 200-399
    assert out.measurements["status_code"] == 302
    out = await run(site.url("/redirect/1"), max_redirects=0, expect_status=(200,))
    assert (out.ok, out.error) == (False, "status")


async def test_secret_headers_are_not_sent_to_another_origin(site: Peer) -> None:
    other = await webservers.start_site()
    try:
        out = await run(site.url(f"/away?to={other.url('/echo')}"), headers={"X-Token": Secret("s3cret")})
        assert out.ok, out
        assert b"X-Token" in site.requests[-1]
        assert b"X-Token" not in other.requests[-1]
    finally:
        await other.close()


async def test_wrong_status(site: Peer) -> None:
    out = await run(site.url("/status/503"))
    assert (out.ok, out.error) == (False, "status")
    assert out.measurements["status_code"] == 503
    assert "503" in out.detail
    out = await run(site.url("/status/404"), expect_status=(404,))
    assert out.ok, out


async def test_content_mismatch(site: Peer) -> None:
    out = await run(site.url("/"), must_contain=("Bảo trì",))
    assert (out.ok, out.error) == (False, "content")
    out = await run(site.url("/"), must_not_contain=("netwatch",))
    assert (out.ok, out.error) == (False, "content")
    out = await run(site.url("/"), regex=r"^\d+$")
    assert (out.ok, out.error) == (False, "content")


async def test_unknown_charset_falls_back_to_utf8(site: Peer) -> None:
    out = await run(site.url("/latin1"), must_contain=("H",))
    assert out.ok, out


async def test_body_over_the_cap(site: Peer) -> None:
    # Content-Length says 2 MiB and the body is checked: refused before reading
    out = await run(site.url("/big"), must_contain=("x",))
    assert (out.ok, out.error) == (False, "body_too_large")
    out = await run(site.url("/big-close"), max_body_bytes=100_000, must_contain=("y",))
    assert (out.ok, out.error) == (False, "body_too_large")
    assert 100_000 < out.measurements["body_bytes"] <= 100_000 + 300_000


async def test_endless_chunked_body_stops_at_the_cap(site: Peer) -> None:
    started = time.perf_counter()
    out = await run(site.url("/endless"), max_body_bytes=200_000, must_contain=("z",))
    assert (out.ok, out.error) == (False, "body_too_large")
    assert time.perf_counter() - started < 4


async def test_trickling_server_times_out_at_the_deadline(site: Peer) -> None:
    started = time.perf_counter()
    out = await run(site.url("/trickle"), timeout_seconds=0.5)
    elapsed = time.perf_counter() - started
    assert (out.ok, out.error) == (False, "timeout")
    assert 0.45 < elapsed < 1.5
    assert "body" in out.detail
    assert out.measurements["body_bytes"] > 0


async def test_slow_response_is_degraded_not_down(site: Peer) -> None:
    out = await run(site.url("/slow?s=0.3"), warn_response_seconds=0.1)
    assert out.ok and out.degraded == "warn_response_seconds", out
    out = await run(site.url("/slow?s=0"), warn_response_seconds=2.0)
    assert out.ok and out.degraded is None, out


async def test_body_shorter_than_content_length(site: Peer) -> None:
    out = await run(site.url("/short"))
    assert (out.ok, out.error) == (False, "protocol")


async def test_refused_port() -> None:
    port = await webservers.free_port()
    out = await run(f"http://127.0.0.1:{port}/")
    assert (out.ok, out.error) == (False, "refused")


async def test_name_in_invalid_domain_fails_as_dns() -> None:
    out = await run("http://portal.invalid/")
    assert (out.ok, out.error) == (False, "dns")


@pytest.mark.parametrize("reply, fragment", [
    (b"garbage\r\n\r\n", "not an HTTP response"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP response"),
    (b"HTTP/1.1 2OO OK\r\n\r\n", "bad status line"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", "Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
    (b"HTTP/1.1 200 OK\r\n", "inside the response head"),
    (b"", "without answering"),
])
async def test_garbage_answers_are_protocol_errors(reply: bytes, fragment: str) -> None:
    peer = await webservers.start(webservers.raw(reply))
    try:
        out = await run(peer.url("/"))
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, "protocol")
    assert fragment in out.detail
    assert "\r" not in out.detail and "\n" not in out.detail


async def test_endless_headers_are_capped() -> None:
    peer = await webservers.start(webservers.endless_headers)
    try:
        out = await run(peer.url("/"))
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, "protocol")


async def test_interim_100_continue_is_skipped() -> None:
    reply = b"HTTP/1.1 100 Continue\r\n\r\n" + webservers.response(200, b"final")
    peer = await webservers.start(webservers.raw(reply))
    try:
        out = await run(peer.url("/"), must_contain=("final",))
    finally:
        await peer.close()
    assert out.ok, out


async def test_silent_server_times_out() -> None:
    peer = await webservers.start(webservers.silent)
    try:
        out = await run(peer.url("/"), timeout_seconds=0.3)
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, "timeout")
    assert "response head" in out.detail


async def test_https_with_private_ca(pki: Pki) -> None:
    peer = await webservers.start_site(webservers.server_context(pki.valid))
    try:
        out = await run(peer.url("/", host="localhost"), ca_file=str(pki.ca_file), must_contain=("netwatch",))
        by_ip = await run(peer.url("/"), ca_file=str(pki.ca_file))
    finally:
        await peer.close()
    assert out.ok, out
    assert by_ip.ok, by_ip
    m = out.measurements
    assert 0 < m["tls_seconds"] < 1
    assert m["tls_cert_expiry_timestamp_seconds"] == pki.valid.not_after.timestamp()


@pytest.mark.parametrize("leaf_name, error", [
    ("expired", "tls_expired"),
    ("not_yet_valid", "tls_not_yet_valid"),
    ("wrong_host", "tls_hostname"),
    ("self_signed", "tls_untrusted"),
    ("weak_key", "tls_weak_key"),
])
async def test_tls_failures_have_exact_classes(pki: Pki, leaf_name: str, error: str) -> None:
    peer = await webservers.start_site(webservers.server_context(getattr(pki, leaf_name)))
    try:
        out = await run(peer.url("/", host="localhost"), ca_file=str(pki.ca_file))
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, error), out


async def test_system_store_does_not_trust_the_private_ca(pki: Pki) -> None:
    peer = await webservers.start_site(webservers.server_context(pki.valid))
    try:
        out = await run(peer.url("/", host="localhost"))
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, "tls_untrusted")


async def test_verify_off_accepts_expired_and_still_reports_expiry(pki: Pki) -> None:
    peer = await webservers.start_site(webservers.server_context(pki.expired))
    try:
        out = await run(peer.url("/", host="localhost"), verify_tls=False)
    finally:
        await peer.close()
    assert out.ok, out
    assert out.measurements["tls_cert_expiry_timestamp_seconds"] == pki.expired.not_after.timestamp()
    assert out.measurements["tls_cert_expiry_timestamp_seconds"] < time.time()


async def test_plain_http_server_on_https_url() -> None:
    peer = await webservers.start(webservers.raw(webservers.response(400, b"speak HTTP"), read_request=False))
    try:
        out = await run(peer.url("/").replace("http://", "https://"))
    finally:
        await peer.close()
    assert (out.ok, out.error) == (False, "tls")


@pytest.mark.parametrize("kwargs, field", [
    ({"url": "ftp://127.0.0.1/"}, "url"),
    ({"url": "/relative"}, "url"),
    ({"url": "http://user:pw@127.0.0.1/"}, "url"),
    ({"url": "http://127.0.0.1:99999/"}, "url"),
    ({"url": "http://127.0.0.1/", "headers": {"Bad Name": Secret("x")}}, "headers"),
    ({"url": "http://127.0.0.1/", "headers": {"X-A": Secret("a\r\nInjected: 1")}}, "headers"),
    ({"url": "http://127.0.0.1/", "headers": {"Connection": Secret("keep-alive")}}, "headers"),
    ({"url": "http://127.0.0.1/", "expect_status": (999,)}, "expect_status"),
    ({"url": "http://127.0.0.1/", "regex": "("}, "regex"),
    ({"url": "http://127.0.0.1/", "method": "HEAD", "must_contain": ("x",)}, "method"),
    ({"url": "https://127.0.0.1/", "ca_file": "/nonexistent/ca.pem"}, "ca_file"),
    ({"url": "http://127.0.0.1/", "max_redirects": -1}, "max_redirects"),
])
def test_settings_validation(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(FieldError) as info:
        http.Settings(**kwargs)
    assert info.value.field == field
    assert "Injected" not in str(info.value)


def test_url_parsing() -> None:
    url = httpclient.parse_url("https://[::1]:8443/tin-tức?q=Hà-Nội")
    assert (url.host, url.port, url.authority) == ("::1", 8443, "[::1]:8443")
    assert url.target == "/tin-t%E1%BB%A9c?q=H%C3%A0-N%E1%BB%99i"
    assert httpclient.parse_url("http://Cổng.localhost/").host == "cổng.localhost".encode("idna").decode()
    assert httpclient.parse_url("http://localhost").target == "/"
    assert httpclient.parse_url("http://localhost:80/").authority == "localhost"


async def test_certificate_lifetime_thresholds(pki: Pki) -> None:
    # the lab leaf certificate is valid for 90 more days
    peer = await webservers.start_site(webservers.server_context(pki.valid))
    try:
        url = peer.url("/", host="localhost")
        fine = await run(url, ca_file=str(pki.ca_file))
        warning = await run(url, ca_file=str(pki.ca_file), tls_warn_days=100, tls_critical_days=7)
        critical = await run(url, ca_file=str(pki.ca_file), tls_warn_days=100, tls_critical_days=95)
    finally:
        await peer.close()
    assert fine.ok and fine.degraded is None
    assert warning.ok and warning.degraded == "tls_cert_expiry" and "warning below 100 days" in warning.detail
    assert not critical.ok and critical.error == "tls_expiring" and "critical below 95 days" in critical.detail


def test_certificate_threshold_settings_are_validated() -> None:
    with pytest.raises(FieldError) as info:
        http.Settings(url="https://127.0.0.1/", tls_warn_days=7, tls_critical_days=30)
    assert info.value.field == "tls_critical_days"
