"""http_flow against the one-stop service on loopback: login form, session cookie, dossier search."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from netwatch.config import loads
from netwatch.fields import FieldError, Secret
from netwatch.net.cookies import CookieJar
from netwatch.model import Target
from netwatch.probes import http_flow
from netwatch.net import http as httpclient
from tests.peers import webservers
from tests.peers.certs import make_pki
from tests.peers.portal import Portal

TARGET = Target(id="motcua")


@pytest.fixture
def portal() -> Iterator[Portal]:
    p = Portal()
    yield p
    p.close()


def flow(portal: Portal, search: str = "HS-2026-0001", **kwargs: Any) -> http_flow.Settings:
    steps = (
        http_flow.Step(name="open", url=portal.url("/motcua/"), must_contain=("csrf",),
                       extract={"csrf": r'name="csrf" value="([0-9a-f]+)"'}),
        http_flow.Step(name="login", url=portal.url("/motcua/login"), method="POST",
                       form={"user": "{{username}}", "password": "{{password}}", "csrf": "{{csrf}}"}),
        http_flow.Step(name="search", url=portal.url(f"/motcua/tra-cuu?ma={search}"),
                       must_contain=("Đã tiếp nhận",), require=("#trang-thai",)),
    )
    return http_flow.Settings(steps=steps, username="canbo", password=Secret(portal.password), **kwargs)


async def test_login_then_search_with_the_session_cookie(portal: Portal) -> None:
    outcome = await http_flow.probe(TARGET, flow(portal), 5)
    assert outcome.ok, outcome
    assert outcome.measurements["steps_passed"] == 3
    assert [dict(s.labels)["step"] for s in outcome.series] == ["open", "login", "search"]
    assert all(0 < s.value < 5 for s in outcome.series)
    login = [r for r in portal.requests if r[1] == "/motcua/login"][0]
    assert login[0] == "POST" and b"password=mat-khau-1cua" in login[3]
    assert login[2]["content-type"] == "application/x-www-form-urlencoded"
    assert "MOTCUA_PRE=" in login[2]["cookie"]          # the jar kept the first step's cookie
    search = [r for r in portal.requests if r[1].startswith("/motcua/tra-cuu")]
    assert "MOTCUA_SESSION=" in search[-1][2]["cookie"]   # set on the 303, sent after it


async def test_front_page_up_but_service_broken(portal: Portal) -> None:
    outcome = await http_flow.probe(TARGET, flow(portal, search="HS-0000"), 5)
    assert outcome.error == "content" and outcome.detail.startswith("step 3 (search): body does not contain")
    assert outcome.measurements["steps_passed"] == 2


async def test_wrong_password_fails_at_login_without_showing_it(portal: Portal) -> None:
    s = flow(portal)
    s = http_flow.Settings(steps=s.steps, username="canbo", password=Secret("Sai-Mat-Khau"))
    outcome = await http_flow.probe(TARGET, s, 5)
    assert outcome.error == "status" and outcome.detail.startswith("step 2 (login): got 401")
    assert "Sai-Mat-Khau" not in outcome.detail


async def test_credentials_never_follow_a_redirect_to_another_host(portal: Portal) -> None:
    away = portal.url("/echo", host="localhost")
    steps = (http_flow.Step(name="login", url=portal.url("/motcua/login"), method="POST",
                            form={"user": "canbo", "password": "{{password}}"}),
             http_flow.Step(name="away", url=portal.url(f"/motcua/away?to={away}"),
                            headers={"Authorization": "Bearer {{password}}"}, must_contain=("user-agent",)))
    outcome = await http_flow.probe(TARGET, http_flow.Settings(steps=steps, password=Secret(portal.password)), 5)
    assert outcome.ok, outcome
    [echo] = [r for r in portal.requests if r[1] == "/echo"]
    assert echo[2]["host"].startswith("localhost")
    assert "authorization" not in echo[2] and "cookie" not in echo[2]
    first_hop = [r for r in portal.requests if r[1].startswith("/motcua/away")][0]
    assert first_hop[2]["authorization"] == f"Bearer {portal.password}"


async def test_a_307_would_forward_the_form_to_another_host(portal: Portal) -> None:
    portal.pages["/move"] = portal.pages["/"].__class__(307, b"", headers=(
        ("Location", portal.url("/echo", host="localhost")),))
    steps = (http_flow.Step(url=portal.url("/move"), method="POST", form={"password": "{{password}}"}),)
    outcome = await http_flow.probe(TARGET, http_flow.Settings(steps=steps, password=Secret("x-secret")), 5)
    assert outcome.error == "redirects" and "refused" in outcome.detail
    assert not [r for r in portal.requests if r[1] == "/echo"]


async def test_timeout_names_the_step(portal: Portal) -> None:
    steps = (http_flow.Step(name="home", url=portal.url("/motcua/")),
             http_flow.Step(name="slow", url=portal.url("/slow?s=3")))
    outcome = await http_flow.probe(TARGET, http_flow.Settings(steps=steps), 0.5)
    assert outcome.error == "timeout" and outcome.detail.startswith("step 2 (slow): response head not done")


async def test_endless_body_hits_the_cap(portal: Portal) -> None:
    steps = (http_flow.Step(url=portal.url("/endless")),)
    outcome = await http_flow.probe(TARGET, http_flow.Settings(steps=steps), 10)
    assert outcome.error == "body_too_large"


async def test_slow_step_is_degraded(portal: Portal) -> None:
    steps = (http_flow.Step(name="slow", url=portal.url("/slow?s=0.3"), warn_seconds=0.1),)
    outcome = await http_flow.probe(TARGET, http_flow.Settings(steps=steps), 5)
    assert outcome.ok and outcome.degraded == "step_slow" and "slow took" in outcome.detail


async def test_tls_problems_and_expiry_days(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    expired = await webservers.start_site(webservers.server_context(pki.expired))
    valid = await webservers.start_site(webservers.server_context(pki.valid))
    try:
        bad = http_flow.Settings(steps=(http_flow.Step(url=expired.url(host="localhost")),), ca_file=str(pki.ca_file))
        assert (await http_flow.probe(TARGET, bad, 5)).error == "tls_expired"
        warn = http_flow.Settings(steps=(http_flow.Step(url=valid.url(host="localhost")),), ca_file=str(pki.ca_file),
                                  tls_warn_days=200, tls_critical_days=0)
        outcome = await http_flow.probe(TARGET, warn, 5)
        assert outcome.ok and outcome.degraded == "tls_cert_expiry"
        assert outcome.measurements["tls_cert_expiry_timestamp_seconds"] > 0
    finally:
        await expired.close()
        await valid.close()


def test_cookie_jar_scoping() -> None:
    jar = CookieJar(clock=lambda: 1000.0)
    a = httpclient.parse_url("https://motcua.tinh.test/motcua/login")
    jar.update(a, [("set-cookie", "S=1; Path=/motcua; Secure; HttpOnly"),
                   ("set-cookie", "D=2; Domain=tinh.test; Path=/"),
                   ("set-cookie", "X=3; Domain=evil.test"),
                   ("set-cookie", "OLD=4; Max-Age=0"),
                   ("set-cookie", "bad cookie")])
    assert jar.header(httpclient.parse_url("https://motcua.tinh.test/motcua/tra-cuu")) == "S=1; D=2"
    assert jar.header(httpclient.parse_url("http://motcua.tinh.test/motcua/x")) == "D=2"   # Secure
    assert jar.header(httpclient.parse_url("https://cong.tinh.test/")) == "D=2"            # Domain
    assert jar.header(httpclient.parse_url("https://motcua.tinh.test/motcuaX")) == "D=2"   # path boundary
    assert jar.header(httpclient.parse_url("https://evil.test/")) is None


@pytest.mark.parametrize("steps,field", [
    ([], "steps"),
    ([{"url": "http://a.test/{{code}}"}], "steps.0"),
    ([{"url": "ftp://a.test/"}], "url"),
    ([{"url": "http://a.test/", "form": {"a": "b"}}], "form"),
    ([{"url": "http://a.test/", "headers": {"Cookie": "x"}}], "headers"),
    ([{"url": "http://a.test/", "extract": {"x": "no-group"}}], "extract"),
    ([{"url": "http://a.test/", "require": ["div["]}], "require.0"),
])
def test_bad_settings(steps: list[dict[str, Any]], field: str) -> None:
    with pytest.raises(FieldError) as info:
        http_flow.Settings(steps=tuple(http_flow.Step(**s) for s in steps))
    assert info.value.field == field


def test_config_reads_the_password_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("mat-khau-tu-file\n")
    config = loads(f"""
targets:
  - id: motcua
    checks:
      - kind: http_flow
        username: canbo
        password_file: {tmp_path / "pw"}
        steps:
          - {{name: open, url: "https://motcua.tinh.test/motcua/", extract: {{csrf: 'value="([^"]+)"'}}}}
          - name: login
            url: https://motcua.tinh.test/motcua/login
            method: POST
            form: {{user: "{{{{username}}}}", password: "{{{{password}}}}", csrf: "{{{{csrf}}}}"}}
          - {{name: search, url: "https://motcua.tinh.test/motcua/tra-cuu?ma=HS-1", require: ["#trang-thai"]}}
""", str(tmp_path / "venue.yaml"))
    [check] = config.checks
    assert check.settings.password.reveal() == "mat-khau-tu-file"
    assert "mat-khau-tu-file" in config.secrets
