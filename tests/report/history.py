"""Builds small, exact histories in a real store file for report tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from netwatch.model import Transition
from netwatch.config import Config, StoreSpec, loads
from netwatch.model import Event, Outcome, Result, State
from netwatch.store import Store

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# 2026-11-02 00:00 in the venue's zone: every instant in these tests is T0 + seconds.
T0 = dt.datetime(2026, 11, 2, tzinfo=TZ).timestamp()

VENUE = """
site: {{name: "Trung tâm Hội nghị tỉnh", timezone: Asia/Ho_Chi_Minh}}
store: {store}
zones:
  - {{id: hall, name: "Hội trường"}}
  - {{id: dc, name: "Trung tâm dữ liệu"}}
event:
  name: "Đại hội đại biểu Đảng bộ tỉnh"
  phases:
    - {{id: before, name: "Trước Đại hội", start: "2026-11-02T00:00", end: "2026-11-02T01:00"}}
    - {{id: during, name: "Trong Đại hội", start: "2026-11-02T01:00", end: "2026-11-02T02:00"}}
report:
  sla_target: 99.9
  zones: {{dc: 99.5}}
  checks: {{portal/http: 99.0}}
targets:
  - id: core
    host: 127.0.0.1
    zone: hall
    name: "Router lõi"
    checks:
      - {{kind: icmp}}
      - {{kind: snmp, community: public}}
  - id: ap1
    host: 127.0.0.2
    zone: hall
    depends_on: [core]
    checks:
      - {{kind: icmp}}
  - id: portal
    host: 127.0.0.3
    zone: dc
    name: "Cổng thông tin điện tử"
    checks:
      - {{kind: http, url: "http://127.0.0.3/"}}
"""


def venue(tmp: Path, store: str | None = None) -> Config:
    """The venue config, also written to tmp/venue.yaml for the CLI (`store`: its `store:` value)."""
    text = VENUE.format(store=store if store is not None else tmp / "history.db")
    (tmp / "venue.yaml").write_text(text, encoding="utf-8")
    return loads(text, str(tmp / "venue.yaml"))


class Builder:
    """Writes runs, transitions, events, rollups and paging rows; times are seconds after T0."""

    def __init__(self, store: Path | StoreSpec) -> None:
        self.store = Store.open(store if isinstance(store, StoreSpec) else str(store))

    def run(self, start: float, end: float) -> None:
        rid = self.store.start_run("test", 1, T0 + start)
        self.store.stop_run(rid, T0 + end)

    def change(self, check: str, target: str, since: float, to: State, decided: float | None = None,
               error: str | None = None, detail: str = "", cause: str | None = None,
               from_state: State = State.UNKNOWN) -> None:
        self.store.record_transition(Transition(check, target, T0 + (decided if decided is not None else since),
                                                T0 + since, from_state, to, error, detail, cause))

    def event(self, at: float, check: str | None, target: str | None, kind: str, summary: str) -> None:
        self.store.record_events([(T0 + at, check, target, Event(kind, summary))])

    def latency(self, check: str, target: str, kind: str, start: float, end: float, every: float,
                seconds: float) -> None:
        results = []
        t = start
        while t < end:
            results.append(Result(check, target, kind, T0 + t, seconds, Outcome(ok=True)))
            t += every
        self.store.record_results(results, [seconds] * len(results))

    def incident(self, check: str, target: str, since: float, opened: float, resolved: float | None,
                 acked: float | None = None, acked_by: str | None = None,
                 pages: tuple[tuple[str, str, float], ...] = ()) -> None:
        with self.store.transaction() as c:
            incident_id = c.insert(
                "INSERT INTO incidents (key, source, check_id, target_id, severity, category, state, since, "
                "opened_at, resolved_at, acked_at, acked_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (f"check:{check}", "check", check, target, "critical", "down", "resolved" if resolved else "open",
                 T0 + since, T0 + opened, None if resolved is None else T0 + resolved,
                 None if acked is None else T0 + acked, acked_by))
            for channel, kind, at in pages:
                c.execute("INSERT INTO outbox (incident_id, channel, kind, created_at, due_at, state, sent_at, "
                          "dedup_key) VALUES (?,?,?,?,?,?,?,?)",
                          (incident_id, channel, kind, T0 + at, T0 + at, "sent", T0 + at, f"{check}:{kind}:{at}"))

    def audit(self, at: float, who: str, action: str, what: str) -> None:
        with self.store.transaction() as c:
            c.execute("INSERT INTO audit (ts, who, action, what, source) VALUES (?,?,?,?,?)",
                      (T0 + at, who, action, what, "cli"))

    def baseline(self, at: float, target: str, url: str, who: str) -> None:
        with self.store.transaction() as c:
            c.execute("INSERT INTO baselines (target_id, url, taken_at, approved_by, body, fingerprints) "
                      "VALUES (?,?,?,?,?,?)", (target, url, T0 + at, who, b"", "{}"))

    def freeze(self, at: float, target: str, reason: str) -> None:
        with self.store.transaction() as c:
            c.execute("INSERT INTO config_freezes (target_id, ts, version_id, reason) VALUES (?,?,?,?)",
                      (target, T0 + at, None, reason))

    def close(self) -> None:
        self.store.close()
