"""Commands: `netwatch ack`, `netwatch maintenance add|list|end`, `netwatch oncall`, `netwatch notify-test`.

State-changing commands write to the store (acks to `incidents`, windows to `maintenance`, both
audited); the running daemon reads them within two seconds, so no daemon API is needed and they
work while it is down too.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
import time

from netwatch.alerting import incidents
from netwatch.config.paging import Paging
from netwatch.alerting.operators import audit, cli_operator, cli_source
from netwatch.windows import parse_local, window
from netwatch.config import Config, load
from netwatch.fields import parse_duration
from netwatch.i18n import Lang, default_lang
from netwatch.store import Store
from netwatch.store.maintenance import active_windows, add_window, cancel_window
from netwatch.store.operators import incident_ack_state

# Module-local catalogue, like report/texts.py and notify/templates.py: netwatch/i18n.py keeps the core's words.
# Audit records stay English: they are data (the report shows them), not messages.
TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "give_by": "hãy ghi rõ người thực hiện: --by TÊN (cán bộ trực: {names})",
        "unknown_operator": "không có cán bộ trực nào tên {name!r} (xem operators: trong cấu hình)",
        "wrong_role": "tài khoản {name!r} có vai trò {role}; thao tác này cần vai trò {needed}",
        "bad_incident": "số sự cố không hợp lệ: {value!r}",
        "no_incident": "Không có sự cố #{id}",
        "already_acked": "Sự cố #{id} đã được {who} xác nhận trước đó",
        "acked": "Đã xác nhận sự cố #{id} (người xác nhận: {who})",
        "no_open_incidents": "Không có sự cố nào đang mở",
        "no_incidents": "Chưa có sự cố nào",
        "acked_by": " — {who} đã xác nhận",
        "with_checks": " (cùng sự cố: {checks})",
        "state_open": "đang mở", "state_acked": "đã xác nhận", "state_resolved": "đã khôi phục",
        "severity_critical": "nghiêm trọng", "severity_warning": "cảnh báo",
        "no_scope": "hãy chỉ rõ --target, --zone hoặc --check (hoặc --all để bảo trì toàn bộ)",
        "unknown_target": "không có đối tượng nào tên {id!r}",
        "unknown_zone": "không có khu vực nào tên {id!r}",
        "unknown_check": "không có phép kiểm tra nào tên {id!r}",
        "bad_window": "khung bảo trì không hợp lệ: {reason}",
        "window_added": "Đã thêm khung bảo trì {id}: {start} - {end} ({tz})",
        "everything": "toàn bộ",
        "repeat_none": "một lần", "repeat_daily": "hằng ngày", "repeat_weekly": "hằng tuần",
        "created_by": "(người tạo: {who})",
        "no_windows": "Không có khung bảo trì nào",
        "no_active_window": "Không có khung bảo trì số {id} nào đang hiệu lực",
        "window_ended": "Đã kết thúc khung bảo trì {id}",
        "on_duty": "Trực lúc {when} ({tz}):",
        "until": "đến {until}",
        "nobody": "  không có ai (không ca trực nào vào thời điểm này)",
        "contacts": "Danh bạ:",
        "unknown_channel": "không có kênh thông báo nào tên {name!r} (các kênh: {names})",
        "none": "không có",
        "sent": "đã gửi",
        "failed": "LỖI {error}",
    },
    "en": {
        "give_by": "give --by NAME (operators: {names})",
        "unknown_operator": "unknown operator {name!r}",
        "wrong_role": "operator {name!r} is a {role}; this needs {needed}",
        "bad_incident": "bad incident number {value!r}",
        "no_incident": "no incident #{id}",
        "already_acked": "incident #{id} is already acknowledged by {who}",
        "acked": "#{id} acknowledged by {who}",
        "no_open_incidents": "no open incidents",
        "no_incidents": "no incidents",
        "acked_by": " acked by {who}",
        "with_checks": " (same fault: {checks})",
        "state_open": "open", "state_acked": "acked", "state_resolved": "resolved",
        "severity_critical": "critical", "severity_warning": "warning",
        "no_scope": "give --target, --zone or --check (or --all for everything)",
        "unknown_target": "unknown target {id!r}",
        "unknown_zone": "unknown zone {id!r}",
        "unknown_check": "unknown check {id!r}",
        "bad_window": "bad window: {reason}",
        "window_added": "maintenance window {id} added: {start} - {end} ({tz})",
        "everything": "everything",
        "repeat_none": "none", "repeat_daily": "daily", "repeat_weekly": "weekly",
        "created_by": "(by {who})",
        "no_windows": "no maintenance windows",
        "no_active_window": "no active window {id}",
        "window_ended": "maintenance window {id} ended",
        "on_duty": "on duty at {when} ({tz}):",
        "until": "until {until}",
        "nobody": "  nobody (no shift covers this time)",
        "contacts": "contacts:",
        "unknown_channel": "unknown channel {name!r} (channels: {names})",
        "none": "none",
        "sent": "sent",
        "failed": "FAILED {error}",
    },
}


def tr(key: str, lang: Lang, **kwargs: object) -> str:
    text = TEXTS[lang].get(key) or TEXTS["en"][key]
    return text.format(**kwargs) if kwargs else text


def word(prefix: str, value: str, lang: Lang) -> str:
    """A stored value (state, severity, repeat) in words; an unexpected one as it is."""
    return TEXTS[lang].get(f"{prefix}_{value}", value)


def column(prefix: str, values: tuple[str, ...], lang: Lang) -> int:
    return max(len(word(prefix, v, lang)) for v in values)


def lang_of(args: argparse.Namespace) -> Lang:
    lang = getattr(args, "lang", None)
    return lang if lang in ("vi", "en") else default_lang()


def operator(paging: Paging, name: str | None, lang: Lang, role: str = "operator") -> tuple[str | None, str]:
    """`cli_operator` with its refusal in the person's language (the refusal text there is English)."""
    who, _ = cli_operator(paging, name, role)
    if who is not None:
        return who, ""
    if not name:
        return None, tr("give_by", lang, names=", ".join(sorted(paging.operators)))
    op = paging.operators.get(name)
    if op is None:
        return None, tr("unknown_operator", lang, name=name)
    return None, tr("wrong_role", lang, name=name, role=op.role, needed=role)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ack", help="acknowledge an incident: stops its escalation and reminders")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("incident", help="incident number, e.g. 123 or #123")
    p.add_argument("--by", help="operator name (from operators: in the config)")
    p.add_argument("--note", default="", help="what you are doing about it")
    p.set_defaults(func=cmd_ack)

    p = sub.add_parser("incidents", help="list open incidents")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--all", action="store_true", help="include resolved ones")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_incidents)

    p = sub.add_parser("maintenance", help="maintenance windows: add, list, end")
    msub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = msub.add_parser("add", help="add a window (site time zone unless the time has an offset)")
    a.add_argument("-c", "--config", required=True)
    a.add_argument("--target", action="append", default=[], help="target id (repeatable)")
    a.add_argument("--zone", action="append", default=[], help="zone id (repeatable)")
    a.add_argument("--check", action="append", default=[], help="check id (repeatable)")
    a.add_argument("--start", help="dd/mm/yyyy HH:MM or ISO time, default now")
    group = a.add_mutually_exclusive_group(required=True)
    group.add_argument("--end", help="dd/mm/yyyy HH:MM or ISO time")
    group.add_argument("--for", dest="duration", help="length, e.g. 30m or 2h")
    a.add_argument("--repeat", choices=["none", "daily", "weekly"], default="none")
    a.add_argument("--until", help="last day a repeating window may start (ISO)")
    a.add_argument("--reason", default="")
    a.add_argument("--by", help="operator name")
    a.add_argument("--all", action="store_true", help="cover everything (no target, zone or check given)")
    a.set_defaults(func=cmd_maintenance_add)
    lst = msub.add_parser("list", help="list windows")
    lst.add_argument("-c", "--config", required=True)
    lst.set_defaults(func=cmd_maintenance_list)
    e = msub.add_parser("end", help="end (cancel) a window added from the command line")
    e.add_argument("-c", "--config", required=True)
    e.add_argument("id", type=int)
    e.add_argument("--by", help="operator name")
    e.set_defaults(func=cmd_maintenance_end)

    p = sub.add_parser("oncall", help="who is on duty now (or --at a time)")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--at", help="ISO time in the site zone")
    p.set_defaults(func=cmd_oncall)

    p = sub.add_parser("notify-test", help="send a test message through a channel now")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("channel")
    p.set_defaults(func=cmd_notify_test)


def _store(config: Config) -> Store:
    return Store.open(config.store)


def cmd_ack(args: argparse.Namespace) -> int:
    lang = lang_of(args)
    config = load(args.config)
    who, error = operator(config.paging, args.by, lang)
    if who is None:
        print(error, file=sys.stderr)
        return 2
    try:
        incident_id = int(args.incident.lstrip("#"))
    except ValueError:
        print(tr("bad_incident", lang, value=args.incident), file=sys.stderr)
        return 2
    store = _store(config)
    try:
        with store.transaction() as c:
            # Read in the same transaction so a refusal can be told in the person's language.
            before = incident_ack_state(c, incident_id)
            refused = incidents.ack(c, incident_id, who, args.note, cli_source(), time.time())
    finally:
        store.close()
    if refused:
        if before is None:
            refused = tr("no_incident", lang, id=incident_id)
        elif before[0] == "acked":
            refused = tr("already_acked", lang, id=incident_id, who=before[1])
        print(refused, file=sys.stderr)
        return 1
    print(tr("acked", lang, id=incident_id, who=who))
    return 0


def cmd_incidents(args: argparse.Namespace) -> int:
    lang = lang_of(args)
    config = load(args.config)
    store = _store(config)
    try:
        with store.db.read() as tx:
            rows = incidents.list_incidents(tx, ("open", "acked", "resolved") if args.all  # type: ignore[arg-type]
                                            else incidents.OPEN_STATES)
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not rows:
        print(tr("no_incidents" if args.all else "no_open_incidents", lang))
        return 0
    tz = config.site.tz
    states = column("state", ("open", "acked", "resolved"), lang)
    severities = column("severity", ("critical", "warning"), lang)
    for r in rows:
        since = dt.datetime.fromtimestamp(r["since"], tz).strftime("%Y-%m-%d %H:%M:%S")
        acked = tr("acked_by", lang, who=r["acked_by"]) if r["acked_by"] else ""
        # the other checks of the target folded into this incident (one incident per fault)
        others = [m["check"] for m in r.get("checks") or () if m["check"] != r["check"]]
        also = tr("with_checks", lang, checks=", ".join(others)) if others else ""
        print(f"#{r['id']:<5} {word('state', r['state'], lang):<{states}} "
              f"{word('severity', r['severity'], lang):<{severities}} {since} {r['title']}{also}{acked}")
    return 0


def cmd_maintenance_add(args: argparse.Namespace) -> int:
    lang = lang_of(args)
    config = load(args.config)
    who, error = operator(config.paging, args.by, lang)
    if who is None:
        print(error, file=sys.stderr)
        return 2
    if not (args.target or args.zone or args.check or args.all):
        print(tr("no_scope", lang), file=sys.stderr)
        return 2
    tz = config.site.tz
    for ident, known, what in ([(t, {x.id for x in config.targets}, "target") for t in args.target]
                               + [(z, {x.id for x in config.zones}, "zone") for z in args.zone]
                               + [(c, {x.id for x in config.checks}, "check") for c in args.check]):
        if ident not in known:
            print(tr(f"unknown_{what}", lang, id=ident), file=sys.stderr)
            return 2
    try:
        start = parse_local(args.start, tz) if args.start else dt.datetime.now(tz)
        end = parse_local(args.end, tz) if args.end else start + dt.timedelta(seconds=parse_duration(args.duration))
        window(start.isoformat(), end.isoformat(), tz, args.repeat, args.until)
    except ValueError as exc:
        print(tr("bad_window", lang, reason=exc), file=sys.stderr)
        return 2
    store = _store(config)
    try:
        with store.transaction() as c:
            wid = add_window(c, time.time(), start.isoformat(), end.isoformat(), args.repeat, args.until,
                             json.dumps(args.target), json.dumps(args.zone), json.dumps(args.check), args.reason, who)
            scope = ", ".join(args.target + args.zone + args.check) or "everything"
            audit(c, who, "maintenance_add", f"window {wid}: {scope} {start.isoformat()} - {end.isoformat()}"
                  f" repeat {args.repeat} {args.reason}".strip(), cli_source())
    finally:
        store.close()
    print(tr("window_added", lang, id=wid, start=f"{start:%Y-%m-%d %H:%M}", end=f"{end:%Y-%m-%d %H:%M}",
             tz=config.site.timezone))
    return 0


def cmd_maintenance_list(args: argparse.Namespace) -> int:
    lang = lang_of(args)
    config = load(args.config)
    repeats = column("repeat", ("none", "daily", "weekly"), lang)
    everything = tr("everything", lang)
    for m in config.paging.maintenance:
        print(f"{m.id:<10} {m.window.start:%Y-%m-%d %H:%M} - {m.window.end:%Y-%m-%d %H:%M} "
              f"{word('repeat', m.window.repeat, lang):<{repeats}} "
              f"{', '.join(m.targets + m.zones + m.checks) or everything} {m.reason}")
    store = _store(config)
    try:
        rows = active_windows(store.db)
    finally:
        store.close()
    for r in rows:
        scope = ", ".join(json.loads(r.targets) + json.loads(r.zones) + json.loads(r.checks)) or everything
        print(f"{r.id:<10} {r.start[:16]} - {r.end[:16]} {word('repeat', r.repeat, lang):<{repeats}} {scope} "
              f"{r.reason} " + tr("created_by", lang, who=r.created_by))
    if not rows and not config.paging.maintenance:
        print(tr("no_windows", lang))
    return 0


def cmd_maintenance_end(args: argparse.Namespace) -> int:
    lang = lang_of(args)
    config = load(args.config)
    who, error = operator(config.paging, args.by, lang)
    if who is None:
        print(error, file=sys.stderr)
        return 2
    store = _store(config)
    try:
        with store.transaction() as c:
            n = cancel_window(c, args.id, time.time())
            if n:
                audit(c, who, "maintenance_end", f"window {args.id}", cli_source())
    finally:
        store.close()
    if not n:
        print(tr("no_active_window", lang, id=args.id), file=sys.stderr)
        return 1
    print(tr("window_ended", lang, id=args.id))
    return 0


def cmd_oncall(args: argparse.Namespace) -> int:
    lang = lang_of(args)
    config = load(args.config)
    tz = config.site.tz
    at = parse_local(args.at, tz).timestamp() if args.at else time.time()
    paging = config.paging
    print(tr("on_duty", lang, when=f"{dt.datetime.fromtimestamp(at, tz):%Y-%m-%d %H:%M}", tz=config.site.timezone))
    found = False
    for shift in paging.shifts:
        occ = shift.window.occurrence(at)
        if occ is None:
            continue
        found = True
        c = paging.contacts[shift.contact]
        chat = ", ".join(f"{k}: {v}" for k, v in c.chat.items())
        until = dt.datetime.fromtimestamp(occ[1], tz).strftime("%H:%M %d/%m")
        print(f"  {shift.role:<10} {c.name or c.id:<24} {c.phone:<14} {chat}  {tr('until', lang, until=until)}")
    if not found:
        print(tr("nobody", lang))
    print(tr("contacts", lang))
    for c in paging.contacts.values():
        print(f"  {c.id:<12} {c.name:<24} {c.phone:<14} " + ", ".join(f"{k}: {v}" for k, v in c.chat.items()))
    return 0


def cmd_notify_test(args: argparse.Namespace) -> int:
    lang = lang_of(args)
    config = load(args.config)
    ch = config.paging.channels.get(args.channel)
    if ch is None:
        print(tr("unknown_channel", lang, name=args.channel,
                 names=", ".join(sorted(config.paging.channels)) or tr("none", lang)), file=sys.stderr)
        return 2
    from netwatch.notify import modem, senders, templates

    facts = {"kind": "test", "channel": args.channel, "title": config.site.name, "since": time.time()}

    async def send_all() -> int:
        failed = 0
        tz = config.site.tz
        if ch.modem is not None:
            text = templates.sms_text([facts], ch.lang, ch.sms.max_segments if ch.sms else 1,
                                      ch.sms.strip_diacritics if ch.sms else True, tz)
            r = await modem.send(ch.modem.device, ch.modem.baud, ch.modem.to, text.text, ch.timeout,
                                 ch.modem.pin.reveal() if ch.modem.pin else None)
            print(f"modem {ch.modem.device}: " + (tr("sent", lang) if r.ok else tr("failed", lang, error=r.error)))
            failed += not r.ok
        for secret in ch.urls:
            url = secret.reveal()
            if ch.sms is not None:
                text = templates.sms_text([facts], ch.lang, ch.sms.max_segments, ch.sms.strip_diacritics, tz)
                title, body, markup = "", text.text, "text"
            else:
                markup = templates.markup_for(url)
                title, body = templates.chat([facts], ch.lang, markup, tz)
            r = await senders.send(url, title, body, markup, "test", f"test-{int(time.time())}", ch.timeout)
            print(f"{senders.privacy_url(url)}: "
                  + (tr("sent", lang) if r.ok else tr("failed", lang, error=config.redact(r.error))))
            failed += not r.ok
        return failed

    return 1 if asyncio.run(send_all()) else 0
