"""Real Prometheus scraping a real `netwatch run`: every dashboard and recording-rule query returns data."""

from __future__ import annotations

import contextlib
import http.server
import ssl
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import yaml

from netwatch.probes import PROBES
from tests.deploy import stack
from tests.peers.snmpresponder import Responder, device_table
from tests.peers.certs import make_pki
from tests.peers.mailservers import USERS, mail_lab
from tests.peers.sinks import HttpSink
from tests.support import NetwatchProcess, free_port, wait_for

pytestmark = [
    pytest.mark.root,  # ICMP needs a raw socket here (net.ipv4.ping_group_range is closed)
    pytest.mark.skipif(not stack.available(stack.PROMETHEUS_BIN), reason="Debian prometheus not installed"),
]

PORTAL_BODY = ("<html><head><title>Cổng thông tin điện tử tỉnh</title></head><body><h1>Cổng thông tin điện tử"
               "</h1><p>Chào mừng Đại hội đại biểu Đảng bộ tỉnh.</p></body></html>").encode()
ONESTOP_BODY = "Trang này đã bị thay đổi".encode()   # lacks the text its check requires: a content failure
SNMP_METRICS = ("netwatch_snmp_", "netwatch_if_")


class _Handler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        pass


@contextlib.contextmanager
def serving(body: bytes, context: ssl.SSLContext | None = None) -> Iterator[http.server.ThreadingHTTPServer]:
    handler = type("Handler", (_Handler,), {"body": body})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


class ScriptedSwitch:
    """The scripted SNMP agent on its own event loop thread: two ports, one down, CPU and memory.

    net-snmp's snmpd fills hrProcessorTable only after a minute, too late for a test this short.
    """

    def __init__(self, quiet: bool = False) -> None:
        import asyncio

        from netwatch.net.snmp import ber

        from netwatch.net.snmp import oids

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.responder = asyncio.run_coroutine_threadsafe(Responder().start(), self.loop).result(5)
        r = self.responder
        r.table = device_table({1: {"name": b"Gi1/0/1", "alias": b"uplink VNPT", "in": 10**9, "out": 5 * 10**8},
                                2: {"name": b"Gi1/0/2", "oper": 1 if quiet else 2, "in_errors": 3}},
                               sys_name=b"sw-core")
        r.set(oids.HR_PROCESSOR_LOAD + (196608,), ber.INTEGER, 20)
        r.set(oids.HR_STORAGE_TYPE + (1,), ber.OBJECT_ID, oids.HR_STORAGE_RAM)
        r.set(oids.HR_STORAGE_ALLOCATION_UNITS + (1,), ber.INTEGER, 1024)
        r.set(oids.HR_STORAGE_SIZE + (1,), ber.INTEGER, 1000)
        r.set(oids.HR_STORAGE_USED + (1,), ber.INTEGER, 400)

    @property
    def port(self) -> int:
        return self.responder.port

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.responder.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


@contextlib.contextmanager
def loopback_venue(tmp_path: Path, quiet: bool) -> Iterator[str]:
    """A small venue on loopback: two links, four e-government systems, a switch, a paging channel whose
    gateway answers, and a heartbeat. Unless `quiet`, one link is degraded, two systems are down
    (wrong content, refused port) and a switch port is down."""
    with contextlib.ExitStack() as exits:
        pki = make_pki(tmp_path)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(pki.valid.cert_file, pki.valid.key_file)
        portal = exits.enter_context(serving(PORTAL_BODY, tls))
        onestop = exits.enter_context(serving(
            PORTAL_BODY.replace("Cổng thông tin".encode(), "Một cửa".encode()) if quiet else ONESTOP_BODY))
        sink = HttpSink().start()
        exits.callback(sink.stop)
        mail_port = sink.port if quiet else free_port()
        lab = exits.enter_context(mail_lab())
        assert lab.dovecot is not None
        user = "thu@tinh.test"
        mail_auth = f'username: "{user}", password: "{USERS[user]}"'
        mail_ca = f'ca_file: "{lab.pki.ca_file}"'
        warn_rtt = "" if quiet else ", warn_rtt: 0.001ms"
        snmp_target = ""
        if "snmp" in PROBES:
            agent = ScriptedSwitch(quiet)
            exits.callback(agent.stop)
            snmp_target = f"""
  - id: sw-core
    host: 127.0.0.1
    zone: hall
    name: "Switch lõi hội trường"
    labels: {{role: device}}
    checks:
      - {{kind: snmp, community: scripted, port: {agent.port}, watch: all, host_resources: true}}
"""
        yield f"""
site: {{name: "Hội trường thử nghiệm"}}
listen: "{{listen}}"
store: "{{store}}"
defaults: {{interval: 1s, timeout: 900ms, alert: {{fail_after: 1, recover_after: 1}}}}
channels:
  noc: {{urls: ["{sink.url('/noc')}"], group_wait: 0s}}
paging:
  heartbeat: {{url: "http://127.0.0.1:{sink.port}/heartbeat", every: 1s}}
zones:
  - {{id: hall, name: "Hội trường"}}
  - {{id: press, name: "Trung tâm báo chí"}}
  - {{id: dc, name: "Trung tâm dữ liệu tỉnh"}}
targets:
  - id: link-vnpt
    host: 127.0.0.1
    zone: hall
    name: "Đường truyền VNPT"
    labels: {{role: uplink}}
    checks:
      - {{kind: icmp, count: 3, interval_between: 10ms}}
  - id: link-viettel
    host: 127.0.0.2
    zone: press
    name: "Đường truyền Viettel"
    labels: {{role: uplink}}
    checks:
      - {{kind: icmp, count: 3, interval_between: 10ms{warn_rtt}}}
  - id: portal
    host: 127.0.0.1
    zone: dc
    name: "Cổng thông tin điện tử"
    labels: {{system: portal}}
    checks:
      - {{kind: http, url: "https://127.0.0.1:{portal.server_address[1]}/", ca_file: "{pki.ca_file}",
         must_contain: ["Cổng thông tin"]}}
      - {{kind: web_integrity, url: "https://127.0.0.1:{portal.server_address[1]}/", ca_file: "{pki.ca_file}"}}
      - kind: http_flow
        ca_file: "{pki.ca_file}"
        steps:
          - {{name: "Trang chủ", url: "https://127.0.0.1:{portal.server_address[1]}/", must_contain: ["Cổng thông tin"]}}
          - {{name: "Tin tức", url: "https://127.0.0.1:{portal.server_address[1]}/tin-tuc"}}
  - id: onestop
    host: 127.0.0.1
    zone: dc
    name: "Một cửa điện tử"
    labels: {{system: one-stop}}
    checks:
      - {{kind: http, url: "http://127.0.0.1:{onestop.server_address[1]}/", must_contain: ["Một cửa"]}}
  - id: mail
    host: 127.0.0.1
    zone: dc
    name: "Thư công vụ"
    labels: {{system: mail}}
    checks:
      - {{kind: tcp, port: {mail_port}}}
  - id: thu-cong-vu
    host: 127.0.0.1
    zone: dc
    name: "Thư công vụ (gửi – nhận)"
    labels: {{system: official-mail}}
    checks:
      - {{kind: smtp, port: {lab.submission.port}, {mail_auth}, {mail_ca}, interval: 2s, timeout: 1500ms}}
      - {{kind: imap, port: {lab.dovecot.imaps_port}, tls: implicit, {mail_auth}, {mail_ca}, interval: 2s,
         timeout: 1500ms}}
      - kind: mail_roundtrip
        interval: 6s
        timeout: 5s
        {mail_ca}
        poll_interval: 100ms
        mail_from: "{user}"
        rcpt_to: "{user}"
        smtp: {{port: {lab.submission.port}, {mail_auth}}}
        imap: {{port: {lab.dovecot.imaps_port}, tls: implicit, {mail_auth}}}
{snmp_target}"""


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[str]:
    with loopback_venue(tmp_path, quiet=False) as text:
        yield text


@pytest.fixture
def quiet_venue(tmp_path: Path) -> Iterator[str]:
    with loopback_venue(tmp_path, quiet=True) as text:
        yield text


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[str], stack.Prometheus]]:
    started: list[stack.Prometheus] = []

    def start(netwatch_address: str) -> stack.Prometheus:
        prom = stack.Prometheus(tmp_path / "prometheus", stack.prometheus_config(netwatch_address))
        started.append(prom)
        prom.wait_ready()
        return prom

    yield start
    for prom in started:
        prom.stop()


def recording_rules() -> list[dict[str, Any]]:
    rules = []
    for path in sorted((stack.PROMETHEUS_DIR / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(rule for rule in group["rules"] if "record" in rule)
    return rules


def dashboard_queries(prom: stack.Prometheus) -> list[tuple[str, str, str]]:
    """(where, raw expression, expression with variables filled) for every panel target of every dashboard."""
    out = []
    for name, dash in stack.load_dashboards().items():
        values, found = stack.resolve_variables(prom, dash)
        for var in dash["templating"]["list"]:
            if not found[var["name"]]:
                out.append((f"{name} variable ${var['name']}", var["definition"], ""))
        for panel in stack.panels(dash):
            for target in panel.get("targets", []):
                out.append((f"{name} panel {panel['id']} {panel['title']!r} {target['refId']}", target["expr"],
                            stack.substitute(target["expr"], values)))
    return out


def test_every_dashboard_and_rule_query_returns_data(
        netwatch_process: Callable[..., NetwatchProcess], prometheus: Callable[[str], stack.Prometheus],
        venue: str) -> None:
    nw = netwatch_process(venue)
    prom = prometheus(nw.listen)
    checks = len(nw.metrics()["netwatch_check_interval_seconds"])

    # Data is "there" once every check has a state code, the broken ones have failed, the degraded
    # link has crossed its threshold, and 5 m windows hold enough samples for rate() and friends.
    def settled() -> bool:
        prom.alive()
        return (prom.series_count("netwatch:check_state:code") >= checks
                and prom.series_count('netwatch:checks_by_state:count{state="degraded"} > 0') == 1
                and prom.series_count('netwatch_check_error{error="content"}') == 1
                and prom.series_count('netwatch_check_error{error="refused"}') == 1
                and prom.series_count("netwatch_mail_roundtrip_delivery_seconds") == 1
                and prom.series_count('count_over_time(up{job="netwatch"}[1m]) >= 5') == 1
                and all(rule.get("lastEvaluation", "").startswith("2") and rule["health"] == "ok"
                        for rule in prom.rules()))

    wait_for(settled, 40, 0.5, "netwatch data and evaluated rules in prometheus")

    check_every_query(prom)


def check_every_query(prom: stack.Prometheus, may_be_empty: tuple[str, ...] = ()) -> None:
    """Run every recording rule and dashboard query; each must parse and return a series."""
    snmp_pending = "snmp" not in PROBES
    failures: list[str] = []
    skipped: list[str] = []
    for rule in recording_rules():
        for what, expr in ((f"rule {rule['record']} expr", rule["expr"]), (f"rule {rule['record']}", rule["record"])):
            if prom.series_count(expr) == 0:
                failures.append(f"{what}: no series")
    for where, raw, expr in dashboard_queries(prom):
        if snmp_pending and any(m in raw for m in SNMP_METRICS + ("$device", "$interface")):
            skipped.append(where)
            continue
        if not expr:
            failures.append(f"{where}: no values")
            continue
        try:
            if prom.series_count(expr) == 0 and not any(title in where for title in may_be_empty):
                failures.append(f"{where}: no series for {expr}")
        except AssertionError as exc:
            failures.append(f"{where}: {exc}")
    assert not failures, "\n".join(failures) + "\nerrors: " + repr(prom.query("netwatch_check_error")["result"])
    if skipped:
        pytest.xfail(f"the snmp probe is not in PROBES yet; {len(skipped)} device queries unverified: "
                     + "; ".join(skipped))


def test_state_code_rules_order_the_vocabulary(
        netwatch_process: Callable[..., NetwatchProcess], prometheus: Callable[[str], stack.Prometheus],
        venue: str) -> None:
    """The wall's colours are only true if the codes are: check the live codes against netwatch's own states."""
    nw = netwatch_process(venue)
    prom = prometheus(nw.listen)

    def codes() -> dict[str, float] | None:
        prom.alive()
        result = prom.query("netwatch:check_state:code")["result"]
        by_check = {r["metric"]["check"]: float(r["value"][1]) for r in result}
        wanted = {"link-vnpt/icmp": 0, "link-viettel/icmp": 2, "portal/http": 0, "onestop/http": 5, "mail/tcp": 5}
        return by_check if all(by_check.get(k) == v for k, v in wanted.items()) else None

    by_check = wait_for(codes, 30, 0.5, "state codes up=0 degraded=2 down=5")
    result = prom.query("netwatch:zone_state:code")["result"]
    zones = {r["metric"]["zone"]: float(r["value"][1]) for r in result}
    assert {r["metric"]["zone_name"] for r in result} == {"Hội trường", "Trung tâm báo chí", "Trung tâm dữ liệu tỉnh"}
    assert zones["dc"] == 5 and zones["press"] == 2
    assert zones["hall"] == max(v for k, v in by_check.items() if k.startswith(("link-vnpt", "sw-core")))
    names = {r["metric"]["name"] for r in prom.query("netwatch:target_state:code")["result"]}
    assert {"Cổng thông tin điện tử", "Một cửa điện tử", "Thư công vụ"} <= names


def test_a_quiet_venue_still_draws_every_panel(
        netwatch_process: Callable[..., NetwatchProcess], prometheus: Callable[[str], stack.Prometheus],
        quiet_venue: str) -> None:
    """Nothing fails: panels of failures and events must show zeros, not "No data" (except the error list)."""
    nw = netwatch_process(quiet_venue)
    prom = prometheus(nw.listen)
    checks = len(nw.metrics()["netwatch_check_interval_seconds"])

    def settled() -> bool:
        prom.alive()
        return (prom.series_count("netwatch:check_state:code == 0") >= checks
                and prom.series_count("netwatch:check_state:code > 0") == 0
                and prom.series_count('count_over_time(up{job="netwatch"}[1m]) >= 5') == 1
                and all(rule.get("lastEvaluation", "").startswith("2") and rule["health"] == "ok"
                        for rule in prom.rules()))

    wait_for(settled, 40, 0.5, "every check up in prometheus")
    assert prom.series_count("netwatch_check_error") == 0
    check_every_query(prom, may_be_empty=("'Lỗi hiện tại'",))
