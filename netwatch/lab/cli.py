"""`netwatch demo`: the simulated venue, netwatch watching it, a fault script, pages and the report."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import math
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from netwatch.config import load
from netwatch.i18n import Lang
from netwatch.lab import certs
from netwatch.lab import scenario as scenarios
from netwatch.lab.console import Console, clean
from netwatch.lab.phone import Phone
from netwatch.lab.venue import Lab, dump

FAST_SECONDS = 50.0
FAST_INTERVAL_SECONDS = 1.0
NORMAL_INTERVAL_SECONDS = 5.0
DEMO_OPERATOR_TOKEN = "demo-operator-token"
ICMP_FIX = ("ICMP: not permitted for this user. Fix: sudo sysctl -w net.ipv4.ping_group_range='0 2147483647' "
            "(or run netwatch as root / with CAP_NET_RAW)")
ICMP_FIX_VI = ("ICMP: người dùng này không được phép gửi ping. Cách sửa: sudo sysctl -w "
               "net.ipv4.ping_group_range='0 2147483647' (hoặc chạy netwatch với quyền root / CAP_NET_RAW)")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("demo", help="run a simulated congress venue with netwatch watching it")
    p.add_argument("--fast", action="store_true", help=f"play the scenario in about {FAST_SECONDS:.0f} s")
    p.add_argument("--scenario", metavar="FILE", help="fault script (YAML); default: the congress morning")
    p.add_argument("--listen", default="127.0.0.1:9800",
                   help="where to serve /metrics and /board (default 127.0.0.1:9800; a free port if taken)")
    p.add_argument("--out", default="netwatch-demo", metavar="DIR",
                   help="directory for the venue config, history, report and summary (default ./netwatch-demo)")
    p.add_argument("--plain", action="store_true", help="print events as plain lines (default when not a TTY)")
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        script = scenarios.load(args.scenario)
        scenarios.check_targets(script, Lab().ids())
    except scenarios.ScenarioError as exc:
        print(f"netwatch demo: {exc}", file=sys.stderr)
        return 2
    # Say up front how long the demo runs, and that there is a short version.
    minutes = math.ceil(script.duration_seconds / 30) / 2  # to the half minute above
    if args.fast:
        print(f"Diễn tập nhanh: khoảng {FAST_SECONDS:.0f} giây." if args.lang == "vi"
              else f"Fast demo: about {FAST_SECONDS:.0f} seconds.", flush=True)
    elif args.lang == "vi":
        print(f"Buổi diễn tập kéo dài khoảng {minutes:.1f} phút (Ctrl+C để dừng; --fast: khoảng "
              f"{FAST_SECONDS:.0f} giây).", flush=True)
    else:
        print(f"The demo takes about {minutes:.1f} minutes (Ctrl+C stops it; --fast: about "
              f"{FAST_SECONDS:.0f} seconds).", flush=True)
    logging.basicConfig(level=getattr(logging, (args.log_level or "WARNING").upper(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(demo(script, args))


def icmp_permitted() -> bool:
    """Whether this process may ping: a raw socket (root, CAP_NET_RAW) or a ping socket (ping_group_range)."""
    for kind in (socket.SOCK_RAW, socket.SOCK_DGRAM):
        try:
            socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP).close()
            return True
        except OSError:
            continue
    return False


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def new_events(store: Any, after_id: int) -> list[tuple[int, str, str | None, str]]:
    """History events (reboots, traps, defacement...) recorded since `after_id`."""
    return list(store.events_after(after_id, limit=50))


def pick_listen(text: str) -> str:
    host, _, port = text.rpartition(":")
    if int(port):
        with socket.socket() as s:
            try:
                s.bind((host, int(port)))
                return text
            except OSError:
                pass
    with socket.socket() as s:
        s.bind((host, 0))
        return f"{host}:{s.getsockname()[1]}"


def demo_config(lab: Lab, phone: Phone, listen: str, store: str, interval: float, total_seconds: float,
                icmp_ok: bool) -> dict[str, Any]:
    from netwatch.probes import PROBES

    config = lab.config(listen, store, interval, set(PROBES), icmp_pages=icmp_ok)
    tz = dt.timezone(dt.timedelta(hours=7))
    now = dt.datetime.now(tz).replace(microsecond=0)

    def iso(d: dt.datetime) -> str:
        return d.replace(tzinfo=None).isoformat(timespec="seconds")

    during_end = now + dt.timedelta(seconds=total_seconds + 600)
    config["event"] = {"name": "Đại hội đại biểu Đảng bộ tỉnh (mô phỏng)", "phases": [
        {"id": "truoc", "name": "Trước Đại hội", "start": iso(now - dt.timedelta(hours=2)), "end": iso(now)},
        {"id": "trong", "name": "Trong Đại hội", "start": iso(now), "end": iso(during_end)},
        {"id": "sau", "name": "Sau Đại hội", "start": iso(during_end), "end": iso(during_end + dt.timedelta(hours=2))},
    ]}
    # group_wait 2 s (the most allowed): the portal's http and web_integrity checks reach their verdicts about
    # a second apart, and this window makes them one incident named by the defacement, paged once.
    config["channels"] = {
        "sms": {"urls": [phone.url("sms")], "lang": "vi", "sms": {"strip_diacritics": True, "max_segments": 2},
                "group_wait": "2s"},
        "chat": {"urls": [phone.url("chat")], "lang": "vi", "group_wait": "2s"},
    }
    config["oncall"] = {
        "contacts": [{"id": "an", "name": "Nguyễn Văn An", "phone": "+84912000001", "notify": ["sms", "chat"]}],
        "shifts": [{"contact": "an", "start": iso(now - dt.timedelta(hours=1)),
                    "end": iso(now + dt.timedelta(hours=11)), "role": "primary"}],
    }
    config["operators"] = [{"name": "truc-ca", "token": DEMO_OPERATOR_TOKEN}]
    return config


async def demo(script: scenarios.Scenario, args: argparse.Namespace) -> int:
    from netwatch import daemon
    from netwatch.store import Store
    from netwatch.web.board import open_incidents, snapshot
    from netwatch.web.services import Services

    lang: Lang = args.lang
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    store_path = out / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store_path}{suffix}").unlink(missing_ok=True)
    if args.fast:
        script = script.scaled(FAST_SECONDS / script.duration_seconds)
    interval = FAST_INTERVAL_SECONDS if args.fast else NORMAL_INTERVAL_SECONDS
    tty = sys.stdout.isatty() and not args.plain
    console = Console(lang=lang, colour=tty, live=tty, total_seconds=script.duration_seconds)

    lab = Lab(trap_to=("127.0.0.1", free_udp_port()), pki=certs.make(out / "lab-pki"))
    phone = Phone(on_message=console.message, sms_channels=frozenset({"sms"}))
    await phone.start()
    await lab.start()
    stop = asyncio.Event()
    store = None
    exit_code = 0
    try:
        icmp_ok = icmp_permitted()
        listen = pick_listen(args.listen)
        venue = demo_config(lab, phone, listen, str(store_path), interval, script.duration_seconds, icmp_ok)
        config_path = out / "demo-venue.yaml"
        config_path.write_text("# Generated by `netwatch demo` for its simulated venue (ports change every run).\n"
                               + dump(venue), encoding="utf-8")
        config = load(str(config_path))
        console.tz = config.site.tz
        store = Store.open(config.store)
        seen: list[Services] = []
        base = f"http://{config.listen}"
        console.header = [f"   {console.t('board')}: {base}/board   /metrics: {base}/metrics",
                          f"   config: {config_path}   scenario: {script.path}"]
        if not icmp_ok:
            console.header.append("   " + console.paint(ICMP_FIX_VI if lang == "vi" else ICMP_FIX, "\x1b[33m"))
        if not tty:
            for line in console.header:
                print(line.strip(), flush=True)
        monitor_task = asyncio.create_task(daemon.run(config, store, stop, seen.append), name="monitor")
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        async def redraw() -> None:
            last_event = 0
            while not stop.is_set():
                if not seen:
                    await asyncio.sleep(0.05)
                    continue
                stored = await asyncio.to_thread(open_incidents, seen[0])
                snap = snapshot(seen[0], time.time(), stored)
                console.observe(snap)
                for event_id, kind, target, text in await asyncio.to_thread(new_events, store, last_event):
                    last_event = event_id
                    console.event(f"⚡ {kind} {target or ''}: {clean(text)[:120]}")
                console.draw(snap)
                await asyncio.sleep(0.5)

        def on_step(step: scenarios.Step) -> None:
            console.step(step.say, step.action)
            step_times.append((time.time(), step))

        step_times: list[tuple[float, scenarios.Step]] = []
        drawer = asyncio.create_task(redraw(), name="console")
        player = asyncio.create_task(scenarios.run(script, lab, on_step), name="scenario")
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({player, monitor_task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        interrupted = not player.done()
        # Let the last recoveries and their pages land before stopping.
        if not interrupted:
            await asyncio.sleep(min(3 * interval, 10))
        stop.set()
        player.cancel()
        await asyncio.gather(player, drawer, waiter, return_exceptions=True)
        await monitor_task
        store.close()
        store = None
        summary = summarise(console, phone, step_times, interrupted)
        summary["icmp"] = "permitted" if icmp_ok else "not_permitted"
        report = write_report(config, str(store_path), out, lang, summary)
        summary["report"] = report
        summary["config"] = str(config_path)
        (out / "demo-summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
        print_summary(summary, lang)
        exit_code = 130 if interrupted else 0
    finally:
        stop.set()
        if store is not None:
            store.close()
        await lab.close()
        await phone.close()
    return exit_code


def summarise(console: Console, phone: Phone, steps: list[tuple[float, scenarios.Step]],
              interrupted: bool) -> dict[str, Any]:
    """What the scenario expected against what the console saw, and every page the phone got."""
    expectations = []
    for i, (at, step) in enumerate(steps):
        for target, states in step.expect.items():
            seen = [s for ts, s in console.seen.get(target, []) if ts >= at]
            met = any(s in states for s in seen)
            expectations.append({"step": i, "action": step.action, "target": target, "expected": list(states),
                                 "seen": seen, "met": met})
    incidents = [{"target": t, "states": [s for _, s in history]} for t, history in console.seen.items()
                 if any(s in ("down", "unreachable", "degraded") for _, s in history)]
    pages = [{"channel": m.channel, "title": m.title, "body": m.body, "encoding": m.sms_segments()[0],
              "segments": m.sms_segments()[1], "at": m.at} for m in phone.messages]
    return {"interrupted": interrupted, "expectations": expectations, "targets_with_incidents": incidents,
            "pages": pages, "steps_played": len(steps)}


def write_report(config: Any, store_path: str, out: Path, lang: Lang, summary: dict[str, Any]) -> str | None:
    """The uptime report for the demo's window, through netwatch.report (HTML, else another format)."""
    try:
        from netwatch.report.cli import make_report, make_scope, render
    except ImportError:
        return None
    now = time.time()
    start = dt.datetime.fromtimestamp(config.event.phases[1].start, config.site.tz).replace(tzinfo=None)
    try:
        scope = make_scope(config, "all", start.isoformat(timespec="seconds"), None, [], [], now + 1)
        report = make_report(config, store_path, scope)
    except Exception as exc:  # noqa: BLE001 - the demo's summary still stands without the report
        summary["report_error"] = f"{exc.__class__.__name__}: {exc}"
        return None
    for fmt in ("html", "md", "json"):
        try:
            data = render(report, fmt, lang)
        except ImportError:
            continue
        path = out / f"uptime-report.{fmt}"
        path.write_bytes(data)
        return str(path)
    return None


def print_summary(summary: dict[str, Any], lang: Lang) -> None:
    vi = lang == "vi"
    print()
    print("== Tóm tắt buổi diễn tập ==" if vi else "== Demo summary ==")
    met = sum(1 for e in summary["expectations"] if e["met"])
    print(("Kỳ vọng đạt: " if vi else "Expectations met: ") + f"{met}/{len(summary['expectations'])}")
    for e in summary["expectations"]:
        mark = "✓" if e["met"] else "✗"
        print(f"  {mark} {e['target']}: {'|'.join(e['expected'])}  ({', '.join(e['seen']) or '-'})")
    print(("Đối tượng gặp sự cố: " if vi else "Targets with incidents: ")
          + ", ".join(i["target"] for i in summary["targets_with_incidents"]))
    print(("Tin đã gửi tới điện thoại: " if vi else "Messages sent to the phone: ") + str(len(summary["pages"])))
    if summary.get("report"):
        print(("Báo cáo thời gian hoạt động: " if vi else "Uptime report: ") + summary["report"])
    elif summary.get("report_error"):
        print(("Không tạo được báo cáo: " if vi else "Report not written: ") + summary["report_error"])
    print(("Cấu hình địa điểm mô phỏng: " if vi else "Simulated venue config: ") + summary.get("config", ""))
    sys.stdout.flush()
