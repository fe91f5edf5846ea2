"""Paging config: the documented shape loads; mistakes are reported at their line."""

from __future__ import annotations

import pytest

from netwatch.alerting.operators import authenticate, hash_password, verify_password
from netwatch.config import ConfigError, loads

ENV = {"TG_TOKEN": "123456:ABCdefGHI", "TG_CHAT_ID": "-1001", "LAN_TOKEN": "tok-lan-7Hq2pX9vLm4w"}
GOOD = """
site: {timezone: Asia/Ho_Chi_Minh}
zones: [{id: hall}]
channels:
  duty-chat: {urls: ["tgram://${TG_TOKEN}/${TG_CHAT_ID}"], lang: vi}
  duty-sms:  {urls: ["json://sms-gateway.local:9000/send"], sms: {strip_diacritics: true, max_segments: 1}}
  lead-sms:  {urls: ["form://sms-gateway.local:9000/send?:to=0901"], fallback: duty-chat}
defaults:
  alert: {fail_after: 3, recover_after: 2, remind_every: 30m, notify: [duty-chat, duty-sms]}
targets:
  - {id: core-router, host: 127.0.1.1, checks: [{kind: tcp, port: 22}]}
  - id: access-sw-hall
    host: 127.0.1.2
    zone: hall
    depends_on: [core-router]
    checks:
      - {kind: tcp, port: 22, alert: {fail_after: 2, notify: [duty-sms]}}
      - {kind: tcp, port: 23, id: sw-telnet, alert: {notify: []}}
maintenance:
  - {start: "2026-12-14T22:00", end: "2026-12-15T02:00", repeat: daily, zones: [hall], reason: cabling}
oncall:
  contacts:
    - {id: an, name: Nguyễn Văn An, phone: "+84901234567", chat: {telegram: "@an"}, notify: [duty-sms]}
    - {id: binh, name: Trần Bình, phone: "+84907654321", notify: [lead-sms]}
  shifts:
    - {contact: an, start: "2026-12-14T07:00", end: "2026-12-14T19:00", repeat: daily}
    - {contact: binh, start: "2026-12-14T07:00", end: "2026-12-15T07:00", repeat: daily, role: lead}
escalation:
  critical:
    - {after: 0m, notify: [duty-chat], oncall: [primary]}
    - {after: 10m, oncall: [lead]}
operators:
  - {name: lan, role: operator, token: "${LAN_TOKEN}"}
  - {name: head, role: admin, password_hash: "PLACEHOLDER"}
"""


def good() -> str:
    return GOOD.replace("PLACEHOLDER", hash_password("correct horse", b"0123456789abcdef", 1000))


def test_documented_shape_loads() -> None:
    config = loads(good(), env=ENV)
    paging = config.paging
    assert list(paging.channels) == ["duty-chat", "duty-sms", "lead-sms"]
    sw = config.check("access-sw-hall/tcp")
    assert sw is not None and sw.alert.notify == ("duty-sms",) and sw.alert.fail_after == 2
    assert sw.alert.remind_every == 1800
    telnet = config.check("sw-telnet")
    assert telnet is not None and telnet.alert.notify == ()
    assert "ABCdefGHI" not in config.redact("sending to tgram://123456:ABCdefGHI/-1001 failed")
    import datetime as dt

    at = dt.datetime(2026, 12, 15, 8, 0, tzinfo=config.site.tz).timestamp()
    assert [c.id for c in paging.on_duty(at)] == ["an", "binh"]
    assert [c.id for c in paging.on_duty(at, "lead")] == ["binh"]
    assert paging.maintenance[0].covers("access-sw-hall/tcp", "access-sw-hall", "hall")
    assert not paging.maintenance[0].covers("core-router/tcp", "core-router", "")
    op = authenticate(paging, token="tok-lan-7Hq2pX9vLm4w")
    assert op is not None and op.name == "lan"
    assert authenticate(paging, name="head", password="correct horse").name == "head"  # type: ignore[union-attr]
    assert authenticate(paging, name="head", password="wrong") is None
    assert authenticate(paging, token="nope") is None
    assert not verify_password("md5$x", "x")


@pytest.mark.parametrize("old, new, message", [
    ("notify: [duty-sms]}}", "notify: [duty-smss]}}",
     "17:63: targets[1].checks[0].alert.notify[0]: unknown channel 'duty-smss' "
     "(channels: duty-chat, duty-sms, lead-sms)"),
    ("fallback: duty-chat", "fallback: nowhere", "7:70: channels.lead-sms.fallback: unknown channel 'nowhere'"),
    ('"tgram://${TG_TOKEN}/${TG_CHAT_ID}"', '"nosuch://x"',
     "5:15: channels.duty-chat.urls.0: apprise does not accept this nosuch:// URL"),
    ("zones: [hall]", "zones: [hal]", "20:81: maintenance[0].zones[0]: unknown zone 'hal'"),
    ("- {contact: an,", "- {contact: ann,", "26:8: oncall.shifts[0].contact: unknown contact 'ann'"),
    ("oncall: [lead]}", "oncall: [boss]}", "31:29: escalation.critical[1].oncall[0]: no shift has role 'boss'"),
    ("role: operator", "role: god", "33:17: operators[0].role: must be one of 'viewer', 'operator', 'admin', not 'god'"),
    ("remind_every: 30m", "remind_every: 30", "9:44: defaults.alert.remind_every: bad duration 30"),
    ("max_segments: 1}", "max_segments: 11}", "6:91: channels.duty-sms.sms.max_segments: must be between 1 and 10"),
    ("lang: vi}", "lang: vi, group_wait: 31s}",
     "5:70: channels.duty-chat.group_wait: must be between 0s and 30s: one check interval (the shortest configured"),
])
def test_mistakes_are_reported_at_their_line(old: str, new: str, message: str) -> None:
    text = good()
    assert old in text
    with pytest.raises(ConfigError) as err:
        loads(text.replace(old, new, 1), env=ENV)
    assert message in str(err.value), str(err.value)
    assert "ABCdefGHI" not in str(err.value)


def test_group_wait_may_reach_one_check_interval_the_shortest_configured() -> None:
    """Issue 13: the 2 s cap is raised to one check interval so a zone's failures confirmed a little apart
    group; the default stays 1 s, and below 2 s the cap stays 2 s."""
    text = good()
    assert loads(text, env=ENV).paging.channels["duty-chat"].group_wait == 1.0
    assert loads(text.replace("lang: vi}", "lang: vi, group_wait: 30s}", 1), env=ENV) \
        .paging.channels["duty-chat"].group_wait == 30.0
    short = text.replace("port: 23,", "port: 23, interval: 5s,", 1).replace("lang: vi}", "lang: vi, group_wait: 6s}", 1)
    with pytest.raises(ConfigError) as err:
        loads(short, env=ENV)
    assert "5:70: channels.duty-chat.group_wait: must be between 0s and 5s" in str(err.value)
    fast = text.replace("port: 23,", "port: 23, interval: 1s, timeout: 500ms,", 1)
    assert loads(fast.replace("lang: vi}", "lang: vi, group_wait: 2s}", 1), env=ENV) \
        .paging.channels["duty-chat"].group_wait == 2.0
