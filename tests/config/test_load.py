"""Config loading: exact located error texts, defaults, secrets and the example venue."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netwatch.config import ConfigError, Secret, load, loads

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
site: {name: "Trung tâm Hội nghị tỉnh", timezone: Asia/Ho_Chi_Minh}
listen: 127.0.0.1:9800
defaults: {interval: 30s, timeout: 5s, alert: {fail_after: 3, recover_after: 2}}
zones:
  - {id: hall, name: "Hội trường"}
  - {id: egov, name: "Trung tâm dữ liệu tỉnh"}
event:
  name: "Đại hội"
  phases:
    - {id: before, start: 2026-12-01T00:00, end: 2026-12-14T07:00}
    - {id: during, start: 2026-12-14T07:00, end: 2026-12-16T18:00}
targets:
  - id: core-router
    host: 127.0.0.1
    zone: hall
    labels: {role: router}
    checks:
      - {kind: icmp, interval: 5s}
  - id: access-sw
    host: 127.0.0.2
    zone: hall
    depends_on: [core-router]
    checks:
      - {kind: tcp, port: 22, alert: {fail_after: 2}}
      - {kind: tcp, id: access-sw/telnet, port: 23, interval: 2s}
"""


def errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        loads(textwrap.dedent(text), "venue.yaml", env or {})
    return str(info.value).splitlines()


def test_good_config_resolves_defaults_and_ids() -> None:
    config = loads(GOOD, "venue.yaml", {})
    assert [c.id for c in config.checks] == ["core-router/icmp", "access-sw/tcp", "access-sw/telnet"]
    icmp, ssh, telnet = config.checks
    assert icmp.interval_seconds == 5.0 and icmp.timeout_seconds == 5.0
    assert ssh.interval_seconds == 30.0 and ssh.alert.fail_after == 2 and ssh.alert.recover_after == 2
    assert telnet.timeout_seconds == pytest.approx(1.6)  # explicit default 5s > 2s interval -> 80 %
    assert config.event.phases[1].start == 1797206400.0  # 2026-12-14T07:00+07:00 = 00:00 UTC
    assert config.target("access-sw").depends_on == ("core-router",)
    assert config.listen.host == "127.0.0.1" and config.listen.port == 9800


def test_default_timeout_is_smaller_of_5s_and_80_percent() -> None:
    config = loads("""\
targets:
  - id: a
    host: 127.0.0.1
    checks:
      - {kind: tcp, port: 1, interval: 2s}
      - {kind: tcp, id: a/slow, port: 1, interval: 1m}
""", "v.yaml", {})
    assert [c.timeout_seconds for c in config.checks] == [pytest.approx(1.6), 5.0]


def test_every_problem_is_reported_with_file_line_column_and_path() -> None:
    assert errors("""\
        zones: [{id: hall}]
        targets:
          - id: r1
            host: 127.0.0.1
            zone: hal
            depends_on: [nobody]
            checks:
              - {kind: tcp, port: 22, bogus: 1}
              - {kind: tcp, port: 99999}
              - {kind: tcp, port: 22, interval: 5s, timeout: 10s}
              - {kind: teleport}
              - {kind: tcp, port: 22, interval: 30}
        """) == [
        "venue.yaml:5:5: targets[0].zone: unknown zone 'hal' (zones: hall)",
        "venue.yaml:6:18: targets[0].depends_on[0]: unknown target 'nobody'",
        "venue.yaml:8:31: targets[0].checks[0].bogus: unknown key (known keys: alert, ca_file, confirm, "
        "expect, id, interval, kind, max_read_bytes, port, send, server_name, timeout, tls, tls_critical_days, "
        "tls_warn_days, vantage, verify_tls)",
        "venue.yaml:9:21: targets[0].checks[1].port: must be between 1 and 65535",
        "venue.yaml:10:45: targets[0].checks[2].timeout: timeout 10s is longer than the interval (5s)",
        f"venue.yaml:11:10: targets[0].checks[3].kind: unknown check kind 'teleport' (kinds: {kinds()})",
        "venue.yaml:12:31: targets[0].checks[4].interval: bad duration 30: use a number with a unit ms, s, m, h "
        "or d, e.g. 30s or 1m30s",
    ]


def kinds() -> str:
    from netwatch.probes import PROBES

    return ", ".join(sorted(PROBES))


def test_duplicates_and_cycles() -> None:
    assert errors("""\
        zones: [{id: a}, {id: a}]
        targets:
          - {id: x, host: 127.0.0.1, depends_on: [y]}
          - {id: y, host: 127.0.0.1, depends_on: [x]}
          - id: z
            host: 127.0.0.1
            checks: [{kind: tcp, port: 1}, {kind: tcp, port: 2}]
          - {id: z, host: 127.0.0.1}
        """) == [
        "venue.yaml:1:19: zones[1].id: duplicate zone id 'a'",
        "venue.yaml:3:30: targets[0].depends_on: dependency cycle: x -> y -> x",
        "venue.yaml:7:36: targets[2].checks[1]: duplicate check id 'z/tcp'",
        "venue.yaml:8:6: targets[3].id: duplicate target id 'z'",
    ]


def test_malformed_yaml_names_the_line() -> None:
    assert errors("targets:\n  - id: a\n    host: [unclosed\n") == [
        "venue.yaml:4:1: invalid YAML: while parsing a flow sequence: did not find expected ',' or ']'"
    ]


def test_duplicate_yaml_key() -> None:
    assert errors("listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n") == ["venue.yaml:2:1: listen: duplicate key"]


def test_wrong_types_and_bad_listen() -> None:
    assert errors("""\
        listen: everywhere
        site: {name: [1]}
        defaults: {interval: soon}
        targets: {id: a}
        """) == [
        "venue.yaml:1:1: listen: bad listen address 'everywhere': use HOST:PORT, e.g. 127.0.0.1:9800",
        "venue.yaml:2:8: site.name: must be a string, not a list",
        "venue.yaml:3:12: defaults.interval: bad duration 'soon': use a number with a unit ms, s, m, h or d, "
        "e.g. 30s or 1m30s",
        "venue.yaml:4:1: targets: must be a list, not a mapping",
    ]


def test_env_and_file_secrets(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    secret_file = tmp_path / "token"
    secret_file.write_text("s3cr3t-from-file\n")
    config = loads(f"""\
targets:
  - id: web
    host: ${{WEB_HOST}}
    labels: {{owner: "$${{literal}}"}}
""", str(tmp_path / "v.yaml"), {"WEB_HOST": "127.0.0.9"})
    assert config.target("web").host == "127.0.0.9"
    assert config.target("web").labels["owner"] == "${literal}"
    assert "127.0.0.9" in config.secrets
    assert config.redact("host 127.0.0.9 failed") == "host ******** failed"
    assert repr(Secret("abc")) == "Secret('********')" and Secret("abc").reveal() == "abc"


def test_missing_env_var_is_named() -> None:
    assert errors("targets:\n  - {id: a, host: '${NOPE}'}\n") == [
        "venue.yaml:2:13: targets[0].host: environment variable NOPE is not set"]


def test_bad_timezone_and_phase_order() -> None:
    assert errors("""\
        site: {timezone: Mars/Olympus}
        event:
          phases:
            - {id: a, start: 2026-12-02T00:00, end: 2026-12-01T00:00}
            - {id: b, start: tomorrow, end: 2026-12-01T00:00}
        """) == [
        "venue.yaml:1:8: site.timezone: unknown time zone 'Mars/Olympus' (e.g. Asia/Ho_Chi_Minh)",
        "venue.yaml:4:40: event.phases[0].end: phase end must be after its start",
        "venue.yaml:5:15: event.phases[1].start: bad time 'tomorrow': use ISO 8601, e.g. 2026-12-14T07:00",
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(str(tmp_path / "absent.yaml"))
    assert str(info.value) == f"{tmp_path / 'absent.yaml'}:1:1: cannot read config: No such file or directory"


def test_example_venue_is_valid() -> None:
    config = load(str(REPO / "config" / "venue.example.yaml"), env={
        "NETWATCH_SNMP_COMMUNITY": "x", "NETWATCH_TRAP_COMMUNITY": "y", "NETWATCH_SNMP_AUTH": "auth-key-123",
        "NETWATCH_SNMP_PRIV": "priv-key-123", "NETWATCH_BACKUP_PASSWORD": "p", "TG_TOKEN": "123456789:AAExampleTokenExampleTokenExample12", "TG_CHAT_ID": "-1001234567890",
        "SMS_GATEWAY_TOKEN": "s", "MAIL_PASSWORD": "m", "NETWATCH_TOKEN_AN": "tok-an-7Hq2pX9vLm4w",
        "NETWATCH_TOKEN_CUONG": "tok-cuong-7Hq2pX9vLm4w",
        "NETWATCH_RELAY_TOKEN": "relay-7Hq2pX9vLm4wZt3", "HEARTBEAT_ID": "h",
        "NETWATCH_MAIL_PROBE_PASSWORD": "mail-probe-pw"})
    zones = {z.id for z in config.zones}
    assert {"hall", "press", "hotel", "egov"} <= zones
    assert len(config.checks) >= 20
    assert {p.id for p in config.event.phases} == {"before", "during", "after"}
    assert {c.kind for c in config.checks} >= {"icmp", "http", "tcp", "dns", "snmp", "ssh"}
    assert set(config.paging.channels) == {"duty-chat", "duty-sms", "gsm", "noc-mail"}


def test_report_targets_name_known_zones_and_checks() -> None:
    assert errors("""\
        zones: [{id: hall}]
        report:
          zones: {hal: 99.9}
          checks: {web/http: 99.0, nobody/http: 99.5, web/if/Gi0-1: 99.9}
        targets:
          - {id: web, host: 127.0.0.1, zone: hall, checks: [{kind: http, url: "http://127.0.0.1/"}]}
        """) == [
        "venue.yaml:3:11: report.zones.hal: unknown zone 'hal'",
        "venue.yaml:4:28: report.checks.nobody/http: unknown check 'nobody/http'",
    ]


def test_at_phase_settings_name_a_configured_phase(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        loads("""\
event:
  phases: [{id: during, start: 2026-12-14T07:00, end: 2026-12-16T18:00}]
targets:
  - id: portal
    host: 127.0.0.1
    checks:
      - {kind: web_integrity, url: "http://127.0.0.1/", baseline_at_phase: durin}
""", "venue.yaml", {})
    assert str(info.value) == "venue.yaml:7:57: targets[0].checks[0].baseline_at_phase: unknown phase 'durin' (phases: during)"


def test_a_kind_may_raise_its_default_timeout() -> None:
    config = loads("""\
targets:
  - id: mail
    host: 127.0.0.1
    checks:
      - {kind: tcp, port: 25, interval: 5m}
      - kind: mail_roundtrip
        interval: 5m
        smtp: {port: 587, username: probe@example.gov.vn, password: p}
        imap: {port: 993, username: probe@example.gov.vn, password: p}
        mail_from: probe@example.gov.vn
        rcpt_to: probe@example.gov.vn
      - kind: mail_roundtrip
        id: mail/fast
        interval: 30s
        smtp: {port: 587, username: probe@example.gov.vn, password: p}
        imap: {port: 993, username: probe@example.gov.vn, password: p}
        mail_from: probe@example.gov.vn
        rcpt_to: probe@example.gov.vn
""", "venue.yaml", {})
    assert [c.timeout_seconds for c in config.checks] == [5.0, 120.0, 24.0]


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.9.8.7", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.0.2.10", False), ("noc.example.gov.vn", False), ("", False),
])
def test_loopback_listen_addresses(host: str, loopback: bool) -> None:
    from netwatch.config import Listen

    assert Listen(host, 9800).loopback is loopback


def test_store_forms_path_url_and_mapping(tmp_path: Path) -> None:
    from netwatch.config import StoreSpec

    assert loads("store: /var/lib/nw/h.db\n", "venue.yaml", {}).store == StoreSpec(path="/var/lib/nw/h.db")
    env = {"NW_PG": "s3cr:et/pw"}
    c = loads('store: "postgresql://nw:${NW_PG}@127.0.0.1:5433/netwatch?sslmode=disable"\n', "venue.yaml", env)
    assert c.store.url == "postgresql://nw@127.0.0.1:5433/netwatch?sslmode=disable"
    assert c.store.password_text() == "s3cr:et/pw" and str(c.store) == c.store.url
    assert "s3cr:et/pw" not in repr(c.store) and c.redact("x s3cr:et/pw y") == "x ******** y"
    # A literal password in the URL is a secret too (percent-encoded in the URL, plain in the spec).
    literal = loads("store: postgresql://nw:p%40ss-word@db.lan/nw\n", "venue.yaml", {})
    assert literal.store.password_text() == "p@ss-word" and literal.redact("p@ss-word") == "********"
    (tmp_path / "pw").write_text("from-a-file\n")
    mapped = loads(f"store: {{url: 'postgresql://nw@[::1]/nw', password_file: {tmp_path / 'pw'}}}\n",
                   str(tmp_path / "venue.yaml"), {})
    assert mapped.store == StoreSpec(url="postgresql://nw@[::1]/nw", password=Secret("from-a-file"))
    assert mapped.store.backend == "postgresql" and StoreSpec(path="x").backend == "sqlite"


def test_store_errors_point_at_the_key_and_never_show_the_password() -> None:
    assert errors('store: "mysql://nw:hunter22@db/nw"\n') == [
        "venue.yaml:1:1: store: bad store URL mysql://nw:********@db/nw: "
        "use postgresql://USER@HOST:PORT/DATABASE or a file path"]
    assert errors('store: "postgresql://nw:hunter22@db:99999/nw"\n') == [
        "venue.yaml:1:1: store: bad PostgreSQL URL postgresql://nw:********@db:99999/nw: "
        "Port out of range 0-65535"]
    assert errors("store: postgresql://nw:hunter22@db/\n") == [
        "venue.yaml:1:1: store: bad PostgreSQL URL postgresql://nw:********@db/: name one database after the "
        "host, e.g. /netwatch"]
    assert errors("store:\n  url: postgresql://nw:hunter22@db/nw\n  password: other\n") == [
        "venue.yaml:2:3: store.url: give the password either in the URL or as password/password_file, not both"]
    assert errors("store: {url: postgresql://db/nw, user: x}\n")[0].startswith("venue.yaml:1:34: store.user: unknown key")
    assert errors("store: [a]\n") == [
        "venue.yaml:1:1: store: give a file path (SQLite), a postgresql:// URL, or {url: ..., password_file: PATH}"]


def test_ids_zones_and_hosts_are_validated_whole() -> None:
    """Issue 16.9: `re.match(...$)` let `host1\\n` through; zone ids and hosts were not checked at all."""
    long_host = "a" * 10_000
    assert errors(f"""\
        zones: [{{id: "hall\\n"}}, {{id: "bad zone"}}]
        targets:
          - {{id: "host1\\n", host: 127.0.0.1}}
          - {{id: ok1, host: "127.0.0.1\\0evil"}}
          - {{id: ok2, host: {long_host}}}
          - {{id: ok3, host: "bad host"}}
          - {{id: ok4, host: "http://x/"}}
          - id: ok5
            host: 127.0.0.1
            checks: [{{kind: tcp, port: 1, id: "ok5/x\\n"}}]
          - {{id: ok6, host: "fe80::1"}}
          - {{id: ok7, host: "cổng.example.vn"}}
        """) == [
        "venue.yaml:1:10: zones[0].id: bad zone id 'hall\\n': use letters, digits, '.', '_' or '-'",
        "venue.yaml:1:26: zones[1].id: bad zone id 'bad zone': use letters, digits, '.', '_' or '-'",
        "venue.yaml:3:6: targets[0].id: bad id 'host1\\n': use letters, digits, '.', '_' or '-'",
        "venue.yaml:4:15: targets[1].host: bad host '127.0.0.1\\x00evil': control characters or spaces are not allowed",
        f"venue.yaml:5:15: targets[2].host: bad host '{'a' * 60}'...: longer than 253 characters",
        "venue.yaml:6:15: targets[3].host: bad host 'bad host': control characters or spaces are not allowed",
        "venue.yaml:7:15: targets[4].host: bad host 'http://x/': not an IP address or a DNS name (labels of "
        "letters, digits and '-', at most 63 characters each)",
        "venue.yaml:10:35: targets[5].checks[0].id: bad check id 'ok5/x\\n'",
    ]
