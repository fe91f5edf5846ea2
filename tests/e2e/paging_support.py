"""Config text and helpers shared by the paging end-to-end tests."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from tests.peers.sinks import HttpSink


def venue(sinks: dict[str, HttpSink], targets: str, extra: str = "", alert: str = "{fail_after: 2, recover_after: 2}",
          interval: str = "500ms", channel_opts: str = "group_wait: 0s, rate_per_minute: 120, burst: 10") -> str:
    channels = "\n".join(
        f"  {name}: {{urls: [\"{sink.url('/' + name)}\"], lang: en, {channel_opts}"
        + (", sms: {strip_diacritics: true, max_segments: 1}" if name.startswith("sms") else "") + "}"
        for name, sink in sinks.items())
    return f"""
listen: "{{listen}}"
store: "{{store}}"
site: {{name: venue-test}}
zones: [{{id: hall, name: Hall}}]
channels:
{channels}
paging:
  backoff_initial: 200ms
  backoff_max: 1s
{extra}
defaults:
  interval: {interval}
  timeout: 300ms
  alert: {alert}
targets:
{targets}
"""


def tcp_target(ident: str, port: int, depends_on: str = "", zone: str = "hall", alert: str = "") -> str:
    dep = f"\n    depends_on: [{depends_on}]" if depends_on else ""
    al = f", alert: {alert}" if alert else ""
    return f"""  - id: {ident}
    host: 127.0.0.1
    zone: {zone}{dep}
    checks: [{{kind: tcp, port: {port}{al}}}]
"""


def query(store: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(store, timeout=10)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


# An incident's notice: nw-<check id>-<start ms>-<kind>[-<epoch s> for reminders and escalations]
PAGE_KEY = re.compile(r"^(?:nw|am)-.+-\d+-([a-z_]+)(?:-\d+)?$")


def kinds(sink: HttpSink) -> list[str]:
    """The notice kinds a sink received, in order: taken from the dedup key (store.outbox.page_key; the same for
    a page sent from memory while the store was stalled), else its first word (flapping-, settled-, broken-)."""
    out = []
    for r in sink.received:
        for key in str(r.body.get("dedup_key", "")).split(","):
            m = PAGE_KEY.match(key)
            out.append(m.group(1) if m else key.split("-")[0])
    return out


def page_key(check_id: str, since: float, kind: str = "problem") -> str:
    """The dedup key a check's incident notice carries (netwatch.store.outbox.page_key, spelt out again here)."""
    return f"nw-{check_id}-{round(since * 1000)}-{kind}"
