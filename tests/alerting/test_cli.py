"""The paging commands as a person runs them: oncall, maintenance add/list/end, ack, incidents; vi and en."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from netwatch.commands.paging import TEXTS
from netwatch.alerting.incidents import NewIncident, open_incident
from netwatch.cli import main
from netwatch.config import StoreSpec
from netwatch.store import Store

CONFIG = """
store: {store}
site: {{timezone: Asia/Ho_Chi_Minh}}
zones: [{{id: hall}}]
channels:
  chat: {{urls: ["json://127.0.0.1:9/chat"]}}
oncall:
  contacts:
    - {{id: an, name: Nguyễn Văn An, phone: "+84901234567", chat: {{telegram: "@an"}}, notify: [chat]}}
    - {{id: binh, name: Trần Bình, phone: "+84907654321", notify: [chat]}}
  shifts:
    - {{contact: an, start: "2026-12-14T07:00", end: "2026-12-14T19:00", repeat: daily}}
    - {{contact: binh, start: "2026-12-14T19:00", end: "2026-12-15T07:00", repeat: daily}}
    - {{contact: binh, start: "2026-12-14T07:00", end: "2026-12-15T07:00", repeat: daily, role: lead}}
operators:
  - {{name: lan, role: operator, token: "lan-7Hq2pX9vLm4wZt"}}
targets:
  - {{id: web1, host: 127.0.0.1, zone: hall, checks: [{{kind: tcp, port: 1}}]}}
"""


class Ran:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(config: Path, *args: str, lang: str | None = "en") -> Ran:
    """The CLI's own main() in this process (the e2e tests run it as a process); lang None: the default."""
    argv = (["maintenance", args[1], "-c", str(config), *args[2:]] if args[0] == "maintenance"
            else [args[0], "-c", str(config), *args[1:]])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main((["--lang", lang] if lang else []) + argv)
    return Ran(code, out.getvalue(), err.getvalue())


def open_one(store: Path | StoreSpec, title: str = "web1/tcp") -> int:
    s = Store.open(store if isinstance(store, StoreSpec) else str(store))
    try:
        with s.transaction() as c:
            return open_incident(c, NewIncident("check-web1/tcp", "check", "critical", "availability", title,
                                                {"error": "refused"}, (), check_id="web1/tcp", target_id="web1",
                                                zone="hall", since=1765700000.0), 1765700001.0)
    finally:
        s.close()


def test_paging_commands(tmp_path: Path, store_spec: StoreSpec, store_yaml: str) -> None:
    config = tmp_path / "venue.yaml"
    config.write_text(CONFIG.format(store=store_yaml))
    day = run(config, "oncall", "--at", "2026-12-16T08:30")
    assert day.returncode == 0, day.stderr
    assert "primary    Nguyễn Văn An" in day.stdout and "lead       Trần Bình" in day.stdout
    assert "until 19:00 16/12" in day.stdout
    night = run(config, "oncall", "--at", "2026-12-16T23:00")
    assert "primary    Trần Bình" in night.stdout and "Nguyễn" not in night.stdout.split("contacts:")[0]
    early = run(config, "oncall", "--at", "2026-12-01T08:00")
    assert "nobody" in early.stdout

    added = run(config, "maintenance", "add", "--zone", "hall", "--start", "2026-12-14T22:00", "--for", "2h",
                "--repeat", "daily", "--by", "lan", "--reason", "cabling")
    assert added.returncode == 0, added.stderr
    assert "2026-12-14 22:00 - 2026-12-15 00:00 (Asia/Ho_Chi_Minh)" in added.stdout
    assert run(config, "maintenance", "add", "--zone", "nowhere", "--for", "1h", "--by", "lan").returncode == 2
    assert run(config, "maintenance", "add", "--zone", "hall", "--for", "1h").returncode == 2    # no operator
    assert run(config, "maintenance", "add", "--for", "1h", "--by", "lan").returncode == 2      # no scope
    listed = run(config, "maintenance", "list")
    assert "hall cabling (by lan)" in listed.stdout
    assert run(config, "maintenance", "end", "1", "--by", "lan").returncode == 0
    assert run(config, "maintenance", "end", "1", "--by", "lan").returncode == 1
    assert "hall" not in run(config, "maintenance", "list").stdout

    missing = run(config, "ack", "42", "--by", "lan")
    assert missing.returncode == 1 and "no incident #42" in missing.stderr
    assert run(config, "ack", "42", "--by", "mallory").returncode == 2
    assert run(config, "incidents").stdout == "no open incidents\n"
    assert run(config, "incidents", "--all").stdout == "no incidents\n"
    iid = open_one(store_spec)
    assert f"#{iid:<5} open     critical 2025-12-14 15:13:20 web1/tcp\n" == run(config, "incidents").stdout
    done = run(config, "ack", f"#{iid}", "--by", "lan")
    assert done.returncode == 0 and done.stdout == f"#{iid} acknowledged by lan\n"
    again = run(config, "ack", str(iid), "--by", "lan")
    assert again.returncode == 1 and f"incident #{iid} is already acknowledged by lan" in again.stderr
    assert run(config, "incidents").stdout.endswith("web1/tcp acked by lan\n")
    store = Store.open(store_spec)
    with store.db.read() as tx:
        assert [r[0] for r in tx.fetchall("SELECT action FROM audit ORDER BY id")] == ["maintenance_add",
                                                                                         "maintenance_end", "ack"]
    store.close()


def test_vietnamese_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NETWATCH_LANG", raising=False)
    config = tmp_path / "venue.yaml"
    config.write_text(CONFIG.format(store=f"\"{tmp_path / 'nw.db'}\""))

    day = run(config, "oncall", "--at", "2026-12-16T08:30", lang=None)
    assert day.stdout.startswith("Trực lúc 2026-12-16 08:30 (Asia/Ho_Chi_Minh):\n")
    assert "primary    Nguyễn Văn An" in day.stdout and "đến 19:00 16/12" in day.stdout and "Danh bạ:" in day.stdout
    early = run(config, "oncall", "--at", "2026-12-01T08:00", lang=None)
    assert "không có ai (không ca trực nào vào thời điểm này)" in early.stdout

    assert run(config, "maintenance", "list", lang=None).stdout == "Không có khung bảo trì nào\n"
    added = run(config, "maintenance", "add", "--zone", "hall", "--start", "2026-12-14T22:00", "--for", "2h",
                "--repeat", "daily", "--by", "lan", "--reason", "đi dây", lang=None)
    assert added.stdout == "Đã thêm khung bảo trì 1: 2026-12-14 22:00 - 2026-12-15 00:00 (Asia/Ho_Chi_Minh)\n"
    listed = run(config, "maintenance", "list", lang=None).stdout
    assert "hằng ngày hall đi dây (người tạo: lan)" in listed
    unknown = run(config, "maintenance", "add", "--zone", "nowhere", "--for", "1h", "--by", "lan", lang=None)
    assert unknown.returncode == 2 and "không có khu vực nào tên 'nowhere'" in unknown.stderr
    nobody = run(config, "maintenance", "add", "--zone", "hall", "--for", "1h", lang=None)
    assert nobody.returncode == 2 and "hãy ghi rõ người thực hiện: --by TÊN (cán bộ trực: lan)" in nobody.stderr
    noscope = run(config, "maintenance", "add", "--for", "1h", "--by", "lan", lang=None)
    assert noscope.returncode == 2 and "hãy chỉ rõ --target, --zone hoặc --check" in noscope.stderr
    assert run(config, "maintenance", "end", "1", "--by", "lan", lang=None).stdout == "Đã kết thúc khung bảo trì 1\n"
    gone = run(config, "maintenance", "end", "1", "--by", "lan", lang=None)
    assert gone.returncode == 1 and "Không có khung bảo trì số 1 nào đang hiệu lực" in gone.stderr

    assert run(config, "incidents", lang=None).stdout == "Không có sự cố nào đang mở\n"
    missing = run(config, "ack", "42", "--by", "lan", lang=None)
    assert missing.returncode == 1 and missing.stderr == "Không có sự cố #42\n"
    stranger = run(config, "ack", "42", "--by", "mallory", lang=None)
    assert stranger.returncode == 2 and "không có cán bộ trực nào tên 'mallory'" in stranger.stderr
    assert "số sự cố không hợp lệ: 'x12'" in run(config, "ack", "x12", "--by", "lan", lang=None).stderr
    iid = open_one(tmp_path / "nw.db")
    assert (f"#{iid:<5} đang mở      nghiêm trọng 2025-12-14 15:13:20 web1/tcp\n"
            == run(config, "incidents", lang=None).stdout)
    done = run(config, "ack", str(iid), "--by", "lan", lang=None)
    assert done.returncode == 0 and done.stdout == f"Đã xác nhận sự cố #{iid} (người xác nhận: lan)\n"
    again = run(config, "ack", str(iid), "--by", "lan", lang=None)
    assert again.returncode == 1 and f"Sự cố #{iid} đã được lan xác nhận trước đó" in again.stderr
    assert run(config, "incidents", lang=None).stdout.endswith("web1/tcp — lan đã xác nhận\n")
    channel = run(config, "notify-test", "sms", lang=None)
    assert channel.returncode == 2 and "không có kênh thông báo nào tên 'sms' (các kênh: chat)" in channel.stderr

    monkeypatch.setenv("NETWATCH_LANG", "en")
    assert run(config, "incidents", lang=None).stdout.endswith("web1/tcp acked by lan\n")


def test_every_text_exists_in_both_languages_with_the_same_fields() -> None:
    import string

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert TEXTS["vi"].keys() == TEXTS["en"].keys()
    for key, vi in TEXTS["vi"].items():
        assert fields(vi) == fields(TEXTS["en"][key]), key


def test_check_warns_on_verify_tls_off_and_on_a_parent_without_checks(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "venue.yaml"
    path.write_text(f"""
store: {tmp_path / "nw.db"}
targets:
  - {{id: core, host: 127.0.0.1, checks: []}}
  - id: portal
    host: 127.0.0.1
    depends_on: [core]
    checks: [{{kind: http, url: "https://127.0.0.1:9/", verify_tls: false}}]
""")
    out = subprocess.run([sys.executable, "-m", "netwatch", "check", "-c", str(path), "--lang", "en"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "portal/http sets verify_tls: false" in out.stderr
    assert "core is the parent of portal but has no checks" in out.stderr
    vi = subprocess.run([sys.executable, "-m", "netwatch", "check", "-c", str(path), "--lang", "vi"],
                        capture_output=True, text=True, timeout=60)
    assert "không kiểm tra chứng chỉ" in vi.stderr and "không có phép kiểm tra nào" in vi.stderr


def test_incidents_lists_the_other_checks_of_a_fault(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One incident per target fault: `netwatch incidents` names the checks folded into it, in both languages."""
    from netwatch.store.incidents import Member, set_member
    monkeypatch.delenv("NETWATCH_LANG", raising=False)
    config = tmp_path / "venue.yaml"
    config.write_text(CONFIG.format(store=f"\"{tmp_path / 'nw.db'}\""))
    iid = open_one(tmp_path / "nw.db")
    s = Store.open(str(tmp_path / "nw.db"))
    with s.transaction() as c:
        set_member(c, iid, Member("web1/http", "grouped", 1765700001.5, "down", "service", "status", "", None, 1))
    s.close()
    assert run(config, "incidents", lang=None).stdout.endswith("web1/tcp (cùng sự cố: web1/http)\n")
    assert run(config, "incidents").stdout.endswith("web1/tcp (same fault: web1/http)\n")
