"""Reports over a history written into a real store: exact numbers, joins, filters, formats, CLI."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from netwatch import cli
from netwatch.config import Config, StoreSpec
from netwatch.model import State
from netwatch.report.cli import make_report, make_scope, render
from netwatch.report.collect import ReportError
from netwatch.store.schema import MIGRATIONS
from tests.report.history import T0, Builder, venue

NOW = T0 + 30 * 86400
HOSTILE = '<script>alert("x")</script>'


def write_history(path: Path | StoreSpec) -> None:
    b = Builder(path)
    b.run(0, 3000)
    b.run(3300, 7200 + 600)   # a 300 s gap: netwatch was not running from 3000 to 3300
    for check, target in (("core/icmp", "core"), ("core/snmp", "core"), ("ap1/icmp", "ap1"),
                          ("portal/http", "portal"), ("core/if/Gi0-1", "core")):
        b.change(check, target, 10, State.UP)
    b.change("core/icmp", "core", 1000, State.DOWN, decided=1060, error="timeout", from_state=State.UP)
    b.change("ap1/icmp", "ap1", 1005, State.UNREACHABLE, decided=1010, error="timeout", cause="core")
    b.change("core/icmp", "core", 1600, State.UP, decided=1630, from_state=State.DOWN)
    b.change("ap1/icmp", "ap1", 1610, State.UP)   # an overlay lifts when decided
    b.change("portal/http", "portal", 2900, State.DOWN, decided=2960, error="status", detail=HOSTILE)
    b.change("portal/http", "portal", 3400, State.UP, decided=3430)
    b.change("core/if/Gi0-1", "core", 3500, State.DOWN, decided=3560, error="if_down")
    b.change("core/if/Gi0-1", "core", 3700, State.UP, decided=3730)
    b.change("portal/http", "portal", 5000, State.MAINTENANCE)
    b.change("portal/http", "portal", 5600, State.UP)
    b.change("portal/http", "portal", 7000, State.DOWN, decided=7060, error="timeout")  # still down after
    b.incident("core/icmp", "core", 1000, 1060, 1600, acked=1180, acked_by="Nguyễn Văn An",
               pages=(("oncall_telegram", "problem", 1061), ("oncall_sms", "escalation", 1200)))
    b.audit(1180, "Nguyễn Văn An", "ack", "core/icmp")
    b.audit(4990, "Trần Thị Bình", "maintenance", "portal 5000-5600")
    b.baseline(300, "portal", "http://127.0.0.3/", "Lê Văn Cường")
    b.freeze(400, "core", "phase before")
    b.event(200, None, "core", "config_drift", "running config changed: 2 lines")
    b.event(1650, "core/snmp", "core", "reboot", "core rebooted (uptime 0:01:05)")
    b.event(5100, "portal/http", "portal", "defacement", f"page changed: {HOSTILE}")
    b.latency("portal/http", "portal", "http", 0, 2900, 60, 0.05)
    b.close()


@pytest.fixture
def site(tmp_path: Path, store_spec: StoreSpec, store_yaml: str) -> tuple[Config, StoreSpec]:
    """The venue and its history, on each back end (`store_spec`)."""
    config = venue(tmp_path, store_yaml)
    write_history(store_spec)
    return config, store_spec


def report_dict(config: Config, store: Path | StoreSpec, phase: str = "all", **kw: Any) -> dict[str, Any]:
    scope = make_scope(config, phase, kw.get("start"), kw.get("end"), kw.get("zones", ()), kw.get("targets", ()),
                       NOW)
    return json.loads(render(make_report(config, store if isinstance(store, StoreSpec) else str(store), scope),
                             "json", "vi"))


def row(d: dict[str, Any], check: str, phase: str) -> dict[str, Any]:
    [r] = [c for c in d["checks"] if c["check"] == check and c["phase"] == phase]
    return r


STATE_KEYS = [f"{s.value}_seconds" for s in State]


def states(r: dict[str, Any]) -> dict[str, float]:
    return {k[:-8]: r[k] for k in STATE_KEYS if r[k]}


def test_exact_numbers_per_check_and_phase(site: tuple[Config, StoreSpec]) -> None:
    d = report_dict(*site)
    assert d["site"] == "Trung tâm Hội nghị tỉnh"
    assert d["window"] == {"from": "2026-11-02T00:00:00+07:00", "to": "2026-11-02T02:00:00+07:00"}
    assert [p["phase"] for p in d["phases"]] == ["before", "during", "all"]

    core = row(d, "core/icmp", "before")
    assert states(core) == {"up": 2690, "down": 600, "unknown": 310}
    assert core["availability_ratio"] == round(2690 / 3290, 6)
    assert core["outage_count"] == 1 and core["longest_outage_seconds"] == 600
    assert core["mttr_seconds"] == 600 and core["mtta_seconds"] == 180
    [o] = core["outages"]
    assert o["start"] == "2026-11-02T00:16:40+07:00" and o["end"] == "2026-11-02T00:26:40+07:00"
    assert o["duration_seconds"] == 600 and o["error"] == "timeout"
    assert o["acknowledged_by"] == "Nguyễn Văn An" and o["time_to_ack_seconds"] == 180
    assert [(p["channel"], p["kind"]) for p in o["paged"]] == [("oncall_telegram", "problem"),
                                                                ("oncall_sms", "escalation")]
    assert states(row(d, "core/icmp", "during")) == {"up": 3600}
    assert row(d, "core/icmp", "during")["availability_ratio"] == 1.0

    ap = row(d, "ap1/icmp", "before")
    assert states(ap) == {"up": 2685, "unreachable": 605, "unknown": 310}
    assert ap["availability_ratio"] == round(2685 / 3290, 6)
    assert ap["outages"][0]["root_cause"] == "core"


def test_outage_across_a_monitoring_gap_and_maintenance(site: tuple[Config, StoreSpec]) -> None:
    d = report_dict(*site)
    before = row(d, "portal/http", "before")
    assert states(before) == {"up": 3090, "down": 200, "unknown": 310}
    [o] = before["outages"]
    assert o["duration_seconds"] == 500 and o["in_phase_seconds"] == 200   # 100 s of it was a gap
    during = row(d, "portal/http", "during")
    assert states(during) == {"up": 2800, "down": 200, "maintenance": 600}
    assert during["availability_ratio"] == round(2800 / 3000, 6)
    assert during["sla_target_percent"] == 99.0 and during["sla_met"] is False
    [ongoing] = during["outages"]
    assert ongoing["end"] is None and ongoing["duration_seconds"] == 200
    assert d["monitoring_gaps"] == [{"from": "2026-11-02T00:50:00+07:00", "to": "2026-11-02T00:55:00+07:00",
                                     "duration_seconds": 300.0}]


def test_phase_boundary_inside_an_outage_of_a_derived_check(site: tuple[Config, StoreSpec]) -> None:
    d = report_dict(*site)
    before, during, whole = (row(d, "core/if/Gi0-1", p) for p in ("before", "during", "all"))
    assert before["zone"] == "hall" and before["derived"] is True and before["kind"] == "snmp"
    assert before["down_seconds"] == 100 and during["down_seconds"] == 100 and whole["down_seconds"] == 200
    assert before["outage_count"] == during["outage_count"] == whole["outage_count"] == 1
    assert before["mttr_seconds"] is None and during["mttr_seconds"] == 200 and whole["mttr_seconds"] == 200


def test_every_row_adds_up_to_its_window(site: tuple[Config, StoreSpec]) -> None:
    d = report_dict(*site)
    for r in d["checks"] + d["zones"] + d["phases"]:
        assert sum(r[k] for k in STATE_KEYS) == r["window_seconds"]
    assert {r["phase"]: r["window_seconds"] for r in d["phases"]} == {"before": 18000, "during": 18000,
                                                                      "all": 36000}


def test_zones_and_targets(site: tuple[Config, StoreSpec]) -> None:
    d = report_dict(*site)
    hall = [z for z in d["zones"] if z["zone"] == "hall" and z["phase"] == "before"][0]
    assert hall["checks"] == 4 and hall["sla_target_percent"] == 99.9 and hall["name"] == "Hội trường"
    assert hall["down_seconds"] == 700 and hall["unreachable_seconds"] == 605 and hall["outage_count"] == 3
    dc = [z for z in d["zones"] if z["zone"] == "dc" and z["phase"] == "during"][0]
    assert dc["sla_target_percent"] == 99.5 and dc["checks"] == 1
    only_dc = report_dict(*site, zones=("dc",))
    assert {c["check"] for c in only_dc["checks"]} == {"portal/http"}
    assert [e["kind"] for e in only_dc["events"]] == ["defacement"]
    only_ap = report_dict(*site, targets=("ap1",))
    assert {c["check"] for c in only_ap["checks"]} == {"ap1/icmp"}


def test_window_from_to_inside_a_phase(site: tuple[Config, StoreSpec]) -> None:
    config, store = site
    d = report_dict(config, store, start="2026-11-02T00:20:00", end="2026-11-02T00:40:00")
    assert [p["phase"] for p in d["phases"]] == ["before"]   # the whole window is inside one phase
    core = row(d, "core/icmp", "before")
    assert states(core) == {"up": 800, "down": 400}
    assert core["outages"][0]["start"] == "2026-11-02T00:16:40+07:00"   # began before the window
    assert core["outages"][0]["in_phase_seconds"] == 400


def test_events_audit_and_latency(site: tuple[Config, StoreSpec]) -> None:
    d = report_dict(*site)
    assert [(e["kind"], e["target"]) for e in d["events"]] == [("config_drift", "core"), ("reboot", "core"),
                                                               ("defacement", "portal")]
    assert [(a["who"], a["action"]) for a in d["audit"]] == [
        ("Lê Văn Cường", "baseline_approve"), ("", "config_unfreeze"), ("Nguyễn Văn An", "ack"),
        ("Trần Thị Bình", "maintenance")]
    assert [a["action"] for a in report_dict(*site, targets=("portal",))["audit"]] == [
        "baseline_approve", "ack", "maintenance"]
    portal = row(d, "portal/http", "before")
    assert portal["latency_samples"] > 40
    assert 0.03 < portal["latency_p50_seconds"] < 0.08 and 0.03 < portal["latency_p95_seconds"] < 0.08
    assert row(d, "core/icmp", "before")["latency_p50_seconds"] is None
    assert d["paging_data"] is True


def test_json_and_csv_are_byte_for_byte_deterministic(site: tuple[Config, StoreSpec], tmp_path: Path) -> None:
    config, store = site
    scope = make_scope(config, "all", None, None, (), (), NOW)
    first = [render(make_report(config, store, scope), f, "vi") for f in ("json", "csv")]
    # The same history in a SQLite file: on PostgreSQL this also proves both back ends agree to the byte.
    again = tmp_path / "again"
    again.mkdir()
    write_history(again / "history.db")
    second = [render(make_report(config, str(again / "history.db"), scope), f, "vi") for f in ("json", "csv")]
    assert first == second
    rows = list(csv.DictReader(io.StringIO(first[1].decode())))
    assert len(rows) == 5 * 3
    r = [x for x in rows if x["check"] == "core/icmp" and x["phase"] == "before"][0]
    assert (r["up_seconds"], r["down_seconds"], r["unknown_seconds"]) == ("2690.0", "600.0", "310.0")


def test_html_is_self_contained_and_escaped(site: tuple[Config, StoreSpec]) -> None:
    config, store = site
    scope = make_scope(config, "all", None, None, (), (), NOW)
    report = make_report(config, store, scope)
    page = render(report, "html", "vi").decode()
    assert HOSTILE not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<svg" in page and page.count("<svg") >= 3   # availability, outage timeline, latency
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    for fetch in ("<script", "<link", "<img", "src=", "href=", "url(", "@import"):
        assert fetch not in page, fetch   # one self-contained file: nothing to fetch
    assert "Khả dụng" in page and "Nguyễn Văn An" in page
    assert "Availability" in render(report, "html", "en").decode()
    md = render(report, "md", "en").decode()
    assert "## Outages (5)" in md


def test_store_without_paging_tables(tmp_path: Path) -> None:
    config = venue(tmp_path)
    path = tmp_path / "history.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0][1])
    conn.execute("INSERT INTO runs (started_at, last_seen_at, version, pid) VALUES (?,?,?,?)", (T0, T0 + 7200, "old", 1))
    conn.execute("INSERT INTO transitions (check_id, target_id, ts, since, from_state, to_state) VALUES "
                 "('core/icmp', 'core', ?, ?, 'unknown', 'up')", (T0, T0))
    conn.commit()
    conn.close()
    d = report_dict(config, path)
    assert d["paging_data"] is False and d["audit"] == []
    assert row(d, "core/icmp", "all")["availability_ratio"] == 1.0
    assert row(d, "ap1/icmp", "all")["unknown_seconds"] == 7200 and row(d, "ap1/icmp", "all")["availability_ratio"] is None


def test_cli_writes_each_format_and_rejects_bad_input(site: tuple[Config, StoreSpec], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(tmp_path / "venue.yaml")
    for fmt in ("json", "csv", "md", "html"):
        out = tmp_path / f"r.{fmt}"
        assert cli.main(["report", "-c", cfg, "--phase", "during", "-o", str(out), "--lang", "en"]) == 0
        assert out.stat().st_size > 200
    d = json.loads((tmp_path / "r.json").read_text())
    assert {c["phase"] for c in d["checks"]} == {"during"}
    assert cli.main(["report", "-c", cfg, "--phase", "nope", "-o", str(tmp_path / "x.json")]) == 2
    assert "unknown phase 'nope'" in capsys.readouterr().err
    assert cli.main(["report", "-c", cfg, "--zone", "lobby", "-o", str(tmp_path / "x.json")]) == 2
    assert cli.main(["report", "-c", cfg, "--from", "yesterday", "-o", str(tmp_path / "x.json")]) == 2
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(ReportError, match="does not exist"):
        make_report(site[0], str(tmp_path / "missing-history.db"), make_scope(site[0], "all", None, None, (), (), NOW))


def test_secrets_never_reach_the_report(tmp_path: Path) -> None:
    config = venue(tmp_path)   # the SNMP community "public" is a secret
    b = Builder(tmp_path / "history.db")
    b.run(0, 7200)
    b.change("core/snmp", "core", 10, State.UP)
    b.change("core/snmp", "core", 100, State.DOWN, error="snmp_auth", detail="community public rejected")
    b.event(150, "core/snmp", "core", "trap", "authenticationFailure community public")
    b.close()
    scope = make_scope(config, "all", None, None, (), (), NOW)
    report = make_report(config, str(tmp_path / "history.db"), scope)
    for fmt in ("json", "csv", "md", "html"):
        data = render(report, fmt, "vi").decode()
        assert "public" not in data, fmt
    assert "community ******** rejected" in render(report, "json", "vi").decode()
