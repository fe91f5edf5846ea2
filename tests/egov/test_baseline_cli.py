"""`netwatch baseline` and the running daemon against a real portal that gets defaced and then approved."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.peers.portal import Portal, portal_page
from netwatch.config import StoreSpec
from netwatch.store import Store
from tests.support import REPO, NetwatchProcess, wait_for

CONFIG = """
listen: {listen}
store: {store}
targets:
  - id: portal
    checks:
      - kind: web_integrity
        interval: {interval}
        url: {url}
        ignore: [".ticker", ".date"]
        required: ["#congress-banner"]
        forbidden: [hacked by, nhà cái]
"""


@pytest.fixture
def portal() -> Iterator[Portal]:
    p = Portal()
    yield p
    p.close()


def write_config(tmp_path: Path, portal: Portal, interval: str = "30s", store: str | None = None) -> Path:
    path = tmp_path / "venue.yaml"
    path.write_text(CONFIG.format(listen="127.0.0.1:9", store=store or tmp_path / "netwatch.db", url=portal.url(),
                                  interval=interval))
    return path


def netwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netwatch", "--lang", "en", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def events(db: Path, kind: str) -> list[tuple[str, str, dict[str, object]]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT check_id, summary, data FROM events WHERE kind=? ORDER BY id", (kind,)).fetchall()
    return [(c, s, json.loads(d)) for c, s, d in rows]


def stored_events(spec: StoreSpec, kind: str) -> list[tuple[str, str, dict[str, object]]]:
    store = Store.open(spec)
    try:
        return [(str(c), s, d) for _, c, _, _, s, d in store.events_between(0, 4e9, [kind])]
    finally:
        store.close()


def test_take_diff_approve_and_list(portal: Portal, tmp_path: Path, store_spec: StoreSpec, store_yaml: str) -> None:
    cfg = str(write_config(tmp_path, portal, store=store_yaml))
    first = netwatch("baseline", "-c", cfg)
    assert first.returncode == 0, first.stderr
    assert "baseline taken (Cổng thông tin điện tử tỉnh)" in first.stdout
    again = netwatch("baseline", "-c", cfg, "portal")
    assert again.returncode == 0 and "keeping the baseline" in again.stdout

    portal.set("/", portal_page(**{"<h1>Chào mừng Đại hội đại biểu Đảng bộ tỉnh lần thứ XV</h1>":
                                   "<h1>Chào mừng năm mới</h1>",
                                   "</body>": '<script src="https://x.evil.test/a.js"></script></body>'}))
    diff = netwatch("baseline", "-c", cfg, "--diff", "portal/web_integrity")
    assert diff.returncode == 1
    assert "DIFFERS from the baseline" in diff.stdout
    assert "new_external_script: new external source domain x.evil.test" in diff.stdout
    assert "- Chào mừng Đại hội đại biểu Đảng bộ tỉnh lần thứ XV" in diff.stdout
    assert "+ Chào mừng năm mới" in diff.stdout

    probe = netwatch("probe", "-c", cfg, "--json")
    assert probe.returncode == 1
    assert json.loads(probe.stdout)[0]["error"] == "new_external_script"

    approve = netwatch("baseline", "-c", cfg, "--approve", "--by", "Nguyễn Văn A")
    assert approve.returncode == 0, approve.stdout + approve.stderr
    assert "current page approved as the baseline" in approve.stdout
    [(check_id, summary, data)] = stored_events(store_spec, "baseline")[-1:]
    assert check_id == "portal/web_integrity" and "approved by Nguyễn Văn A" in summary
    assert "+ Chào mừng năm mới" in data["diff"]  # type: ignore[operator]
    assert netwatch("probe", "-c", cfg).returncode == 0

    listing = netwatch("baseline", "-c", cfg, "--list")
    assert listing.returncode == 0 and portal.url() in listing.stdout and "Nguyễn Văn A" in listing.stdout


def test_approve_refuses_a_page_that_breaks_the_rules(portal: Portal, tmp_path: Path) -> None:
    cfg = str(write_config(tmp_path, portal))
    portal.set("/", portal_page(**{"</footer>": "</footer><p>Nhà cái uy tín</p>"}))
    out = netwatch("baseline", "-c", cfg, "--approve")
    assert out.returncode == 1
    assert "NOT stored, the page breaks the rules: forbidden words 'nhà cái'" in out.stdout
    assert "no baselines yet" in netwatch("baseline", "-c", cfg, "--list").stdout


def test_unknown_check_and_bad_config_exit_2(portal: Portal, tmp_path: Path) -> None:
    cfg = str(write_config(tmp_path, portal))
    assert netwatch("baseline", "-c", cfg, "nothing-here").returncode == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets:\n  - id: p\n    checks:\n      - kind: web_integrity\n        include: ['a[']\n"
                   "        url: http://127.0.0.1:9/\n")
    out = netwatch("baseline", "-c", str(bad))
    assert out.returncode == 2 and "include.0" in out.stderr


def test_daemon_records_one_defacement_event_with_the_diff(
        portal: Portal, tmp_path: Path, netwatch_process: Callable[..., NetwatchProcess]) -> None:
    text = CONFIG.replace("{url}", portal.url()).replace("{interval}", "1s")
    netwatch_process(text)
    db = tmp_path / "netwatch.db"
    wait_for(lambda: events(db, "baseline"), 15, what="the first-run baseline")
    portal.set("/", portal_page(**{"<h1>Chào mừng Đại hội đại biểu Đảng bộ tỉnh lần thứ XV</h1>":
                                   "<h1>HACKED BY someone</h1>"}))
    [(check_id, summary, data)] = wait_for(lambda: events(db, "defacement"), 15, what="a defacement event")
    assert check_id == "portal/web_integrity" and data["error"] == "forbidden_content"
    assert "+ HACKED BY someone" in data["diff"]  # type: ignore[operator]
    n = len(portal.requests)
    wait_for(lambda: len(portal.requests) >= n + 3, 15, what="three more probe runs")
    assert len(events(db, "defacement")) == 1


def test_daemon_exports_member_sites_and_flow_steps(
        portal: Portal, tmp_path: Path, netwatch_process: Callable[..., NetwatchProcess]) -> None:
    import shutil

    from tests.support import http_get, metric_value, parse_metrics

    for n in (1, 2):
        portal.set(f"/so{n}/", portal_page())
    text = f"""
listen: {{listen}}
store: {{store}}
targets:
  - id: members
    checks:
      - kind: web_integrity
        interval: 1s
        urls: ["{portal.url('/so1/')}", "{portal.url('/so2/')}"]
        required: ["#congress-banner"]
  - id: motcua
    checks:
      - kind: http_flow
        interval: 1s
        password: "{portal.password}"
        steps:
          - {{name: login, url: "{portal.url('/motcua/login')}", method: POST,
              form: {{user: canbo, password: "{{{{password}}}}"}}}}
          - {{name: search, url: "{portal.url('/motcua/tra-cuu?ma=HS-2026-0001')}", require: ["#trang-thai"]}}
"""
    proc = netwatch_process(text)
    child = f"members/integrity/127.0.0.1_{portal.port}_so2"

    def scraped() -> dict[str, list[tuple[dict[str, str], float]]] | None:
        metrics = parse_metrics(http_get(f"http://{proc.listen}/metrics")[1])
        ready = (metric_value(metrics, "netwatch_probe_success", check=child) == 1.0
                 and metric_value(metrics, "netwatch_http_flow_step_seconds", check="motcua/http_flow", step="search"))
        return metrics if ready else None

    metrics = wait_for(scraped, 20, what="member sites and flow steps on /metrics")
    assert metric_value(metrics, "netwatch_web_integrity_sites", check="members/web_integrity") == 2.0
    assert metric_value(metrics, "netwatch_http_flow_steps_passed", check="motcua/http_flow") == 2.0
    body = http_get(f"http://{proc.listen}/metrics")[1]
    assert portal.password not in body
    if shutil.which("promtool"):
        check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_daemon_retakes_the_baseline_when_the_configured_phase_starts(
        portal: Portal, tmp_path: Path, netwatch_process: Callable[..., NetwatchProcess]) -> None:
    import datetime as dt
    import time

    cfg = write_config(tmp_path, portal)
    assert netwatch("baseline", "-c", str(cfg)).returncode == 0
    html = portal_page()
    main = html[html.index("<main"): html.index("</main>") + len("</main>")]
    portal.set("/", html.replace(main, "<main><h1>Trang chủ mới cho Đại hội</h1><p>Giao diện mới.</p></main>"))
    starts = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=4)
    text = CONFIG.replace("{url}", portal.url()).replace("{interval}", "1s") + (
        "        baseline_at_phase: before\n"
        "event:\n  phases:\n"
        f"    - {{id: before, start: \"{starts.isoformat(timespec='seconds')}\", end: \"2099-01-01T00:00\"}}\n")
    netwatch_process(text)
    db = tmp_path / "netwatch.db"
    wait_for(lambda: events(db, "defacement"), 15, what="the redesign seen as a change before the phase")
    [(_, _, data)] = wait_for(lambda: [e for e in events(db, "baseline")
                                       if e[2].get("reason") == "start of phase before"], 20,
                              what="a baseline taken when the phase starts")
    assert time.time() >= starts.timestamp()
