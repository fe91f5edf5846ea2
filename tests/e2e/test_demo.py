"""`netwatch demo --fast` headless, as CI runs it: the expected incidents, pages and report appear."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support import REPO, free_port, http_get, parse_metrics, wait_for

pytestmark = pytest.mark.slow


def test_fast_demo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    listen = f"127.0.0.1:{free_port()}"
    seen: dict[str, object] = {}

    def watch() -> None:
        """While the demo runs: its /metrics and board answer, and the board shows an incident."""
        deadline = time.monotonic() + 80
        while time.monotonic() < deadline and not seen.get("incident"):
            try:
                seen["metrics"] = "netwatch_probe_success" in parse_metrics(http_get(f"http://{listen}/metrics")[1])
                board = json.loads(http_get(f"http://{listen}/api/v1/board")[1])
                seen["board"] = True
                if board["incidents"]:
                    seen["incident"] = board["incidents"][0]["check"]
            except OSError:
                pass
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "netwatch", "demo", "--fast", "--out", str(out), "--listen", listen],
                          capture_output=True, text=True, timeout=150, cwd=REPO,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", "NETWATCH_LANG": "vi"})
    elapsed = time.monotonic() - started
    watcher.join(5)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert elapsed < 90, f"the fast demo took {elapsed:.0f}s"
    assert "\x1b[" not in done.stdout, "no terminal codes when stdout is not a TTY"
    assert "== Tóm tắt buổi diễn tập ==" in done.stdout
    assert seen.get("metrics") and seen.get("board") and seen.get("incident"), seen

    summary = json.loads((out / "demo-summary.json").read_text())
    missed = [e for e in summary["expectations"] if not e["met"]]
    assert not missed, missed
    assert len(summary["expectations"]) == 14
    troubled = {i["target"] for i in summary["targets_with_incidents"]}
    assert {"press-sw", "portal", "mail-smtp", "core-router", "hotel-ap1"} <= troubled
    assert not {"hall-sw", "qlvb", "uplink-vnpt"} & troubled
    assert "degraded" in states_of(summary, "dvc")
    # the dependants of the press switch were unreachable, not paged as outages of their own
    states = {i["target"]: i["states"] for i in summary["targets_with_incidents"]}
    assert "unreachable" in states["press-ap1"]

    pages = summary["pages"]
    sms = [p for p in pages if p["channel"] == "sms"]
    chat = [p for p in pages if p["channel"] == "chat"]
    assert sms and chat
    assert all(p["encoding"] == "gsm7" and 1 <= p["segments"] <= 2 for p in sms), "không dấu SMS fit GSM-7"
    # pages name the device as people know it, not by its check id
    assert any("Switch truy nhập Trung tâm báo chí" in p["title"] + p["body"] for p in chat)
    assert any("Cong thong tin dien tu tinh" in p["title"] + p["body"] for p in sms)
    assert not [p for p in pages if "press-sw/" in p["title"] + p["body"] or "portal/" in p["title"] + p["body"]]
    assert any("AN NINH" in p["title"] for p in chat), "the defacement is a security alert, alone or in a digest"
    assert not [p for p in pages if re.search(r"AP \d Trung t[aâ]m b[aá]o ch[ií]", p["title"] + p["body"])], \
        "the access points behind the dead press switch are unreachable: one page (the switch), not three"
    assert "📱" in done.stdout and "SMS: 1 tin (gsm7)" in done.stdout and "ký tự" in done.stdout
    # SNMP traps from the lab's agents reach netwatch's receiver and are told apart by sender address
    assert "⚡ trap hotel-sw: linkDown" in done.stdout and "⚡ trap core-router: coldStart" in done.stdout
    assert "⚡ reboot core-router" in done.stdout
    assert "⚡ defacement portal" in done.stdout

    report = Path(summary["report"])
    assert report.exists() and report.stat().st_size > 1000
    if report.suffix == ".html":
        text = report.read_text()
        assert "portal" in text or "Cổng thông tin" in text


def test_ctrl_c_still_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    listen = f"127.0.0.1:{free_port()}"
    proc = subprocess.Popen([sys.executable, "-m", "netwatch", "--lang", "en", "demo", "--out", str(out),
                             "--listen", listen], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for(lambda: any(t["state"] == "up" for z in json.loads(http_get(f"http://{listen}/api/v1/board")[1])
                             ["zones"] for t in z["tiles"]), 30, 0.2, "the first results on the board")
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stdout[-2000:] + stderr[-2000:]
    summary = json.loads((out / "demo-summary.json").read_text())
    assert summary["interrupted"] is True
    assert Path(summary["report"]).exists()
    assert "Uptime report: " + summary["report"] in stdout


def states_of(summary: dict[str, object], target: str) -> list[str]:
    return next((i["states"] for i in summary["targets_with_incidents"] if i["target"] == target), [])  # type: ignore[index,union-attr]


NO_CAPABILITIES = ["setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs"]


@pytest.mark.root
@pytest.mark.skipif(not all(shutil.which(t) for t in ("ip", "setpriv")), reason="needs iproute2 and setpriv")
def test_demo_without_icmp_permission_says_not_permitted(tmp_path: Path) -> None:
    """Without root's capabilities and with ping sockets off, ICMP shows not_permitted with the fix."""
    ns = f"nwt_demo_{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=30)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True, timeout=30)
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ping_group_range=1 0"],
                       check=True, timeout=30)
        scenario = tmp_path / "quiet.yaml"
        scenario.write_text("name: quiet\nduration: 8s\nsteps: []\n")
        done = subprocess.run(
            ["ip", "netns", "exec", ns, *NO_CAPABILITIES, sys.executable, "-m", "netwatch", "--lang", "en", "demo",
             "--scenario", str(scenario), "--out", str(tmp_path / "demo"), "--listen", "127.0.0.1:0"],
            capture_output=True, text=True, timeout=120, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "net.ipv4.ping_group_range" in done.stdout
    summary = json.loads((tmp_path / "demo" / "demo-summary.json").read_text())
    assert summary["icmp"] == "not_permitted"
    assert "not_permitted" in done.stdout
    assert not [p for p in summary["pages"] if "uplink" in p["title"] + p["body"]], "ICMP not permitted must not page"
