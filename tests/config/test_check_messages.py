"""`netwatch check` as a new user meets it: missing host/zone, typos, tabs, URLs, durations, dates."""

from __future__ import annotations

import datetime as dt
import textwrap
import zoneinfo

import pytest

from netwatch.config import ConfigError, loads
from netwatch.fields import parse_duration
from netwatch.report.cli import parse_time
from netwatch.report.collect import ReportError
from netwatch.windows import parse_local

TZ = zoneinfo.ZoneInfo("Asia/Ho_Chi_Minh")


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        loads(textwrap.dedent(text), "venue.yaml", env={})
    return [str(p) for p in err.value.problems]


def test_target_without_host_is_an_error_and_without_zone_a_note() -> None:
    assert errors("""\
        zones: [{id: hall}]
        targets:
          - id: sw
            checks: [{kind: icmp}, {kind: tcp, port: 22}]
          - id: portal
            zone: hall
            checks: [{kind: http, url: "https://127.0.0.1/"}]
        """) == [
        "venue.yaml:3:5: targets[0]: missing required key 'host': its icmp, tcp checks need an IP address or "
        "DNS name",
    ]
    config = loads(textwrap.dedent("""\
        zones: [{id: hall}]
        targets:
          - {id: a, host: 127.0.0.1, checks: [{kind: icmp}]}
          - {id: b, host: 127.0.0.2, zone: hall, checks: [{kind: icmp}]}
        """), "venue.yaml", env={})
    assert [str(n) for n in config.notes] == [
        "venue.yaml:2:1: targets: no zone for a: the board and reports group by zone (give each target its "
        "`zone:`)"]


def test_targets_without_zones_at_all_get_one_note() -> None:
    config = loads(textwrap.dedent("""\
        targets:
          - {id: a, host: 127.0.0.1, checks: [{kind: icmp}]}
          - {id: b, host: 127.0.0.2, checks: [{kind: icmp}]}
        """), "venue.yaml", env={})
    assert [n.message for n in config.notes] == [
        "no zone for a, b: the board and reports group by zone (declare `zones:` and give each target its "
        "`zone:`)"]


def test_misspelt_check_key_suggests_the_common_key() -> None:
    [message] = errors("""\
        targets:
          - id: sw
            host: 127.0.0.1
            checks: [{kind: tcp, port: 22, intervall: 30s}]
        """)
    assert message.startswith("venue.yaml:4:36: targets[0].checks[0].intervall: unknown key; did you mean "
                              "'interval'? (known keys: alert, ")
    for key in ("interval", "timeout", "alert", "kind", "id", "port"):
        assert f" {key}," in message or f" {key})" in message


def test_tab_indentation_is_named() -> None:
    assert errors("targets:\n  - id: a\n\thost: 127.0.0.1\n") == [
        "venue.yaml:3:1: invalid YAML: a tab character: YAML indents with spaces only; replace the tab with spaces"]


@pytest.mark.parametrize("url", ["portal.example.gov.vn/login", "portal.example.gov.vn:8443/login"])
def test_url_without_scheme_says_add_https(url: str) -> None:
    [message] = errors(f"""\
        targets:
          - id: portal
            checks: [{{kind: http, url: "{url}"}}]
        """)
    assert message.endswith(f"url: no scheme: add https:// (or http://), e.g. https://{url}")


def test_every_duplicate_key_in_one_run() -> None:
    assert errors("""\
        listen: 127.0.0.1:1
        listen: 127.0.0.1:2
        targets:
          - id: a
            host: 127.0.0.1
            host: 127.0.0.2
            checks: [{kind: tcp, port: 1, port: 2}]
        """) == [
        "venue.yaml:2:1: listen: duplicate key",
        "venue.yaml:6:5: targets[0].host: duplicate key",
        "venue.yaml:7:35: targets[0].checks[0].port: duplicate key",
    ]


def test_compound_durations() -> None:
    assert parse_duration("1m30s") == 90
    assert parse_duration("1h 15m") == 4500
    assert parse_duration("2m500ms") == 120.5
    config = loads(textwrap.dedent("""\
        targets:
          - {id: a, host: 127.0.0.1, checks: [{kind: icmp, interval: 1m30s}]}
        """), "venue.yaml", env={})
    assert config.checks[0].interval_seconds == 90
    with pytest.raises(ValueError):
        parse_duration("1m30")


def test_report_dates_day_first_and_iso() -> None:
    assert parse_local("14/12/2026", TZ) == dt.datetime(2026, 12, 14, tzinfo=TZ)
    assert parse_local("14/12/2026 07:30", TZ) == dt.datetime(2026, 12, 14, 7, 30, tzinfo=TZ)
    assert parse_local("2026-12-14T07:30", TZ) == dt.datetime(2026, 12, 14, 7, 30, tzinfo=TZ)
    assert parse_time("14/12/2026 07:00", TZ, "--from") == dt.datetime(2026, 12, 14, 7, tzinfo=TZ).timestamp()
    # A date alone as the end keeps that whole day.
    assert parse_time("16/12/2026", TZ, "--to") == dt.datetime(2026, 12, 17, tzinfo=TZ).timestamp()
    with pytest.raises(ReportError, match="day first"):
        parse_time("12/31/2026", TZ, "--from")
