"""Commands: `netwatch ack`, `netwatch maintenance add|list|end`, `netwatch oncall`, `netwatch notify-test`.

State-changing commands write to the store (acks to `incidents`, windows to `maintenance`, both
audited); the running daemon reads them within a second, so no daemon API is needed and they
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
from netwatch.alerting.operators import audit, cli_operator, cli_source
from netwatch.alerting.windows import parse_local, window
from netwatch.config import Config, load
from netwatch.config.fields import parse_duration
from netwatch.store import Store


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
    a.add_argument("--start", help="ISO time, default now")
    group = a.add_mutually_exclusive_group(required=True)
    group.add_argument("--end", help="ISO time")
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
    config = load(args.config)
    who, error = cli_operator(config.paging, args.by)
    if who is None:
        print(error, file=sys.stderr)
        return 2
    try:
        incident_id = int(args.incident.lstrip("#"))
    except ValueError:
        print(f"bad incident number {args.incident!r}", file=sys.stderr)
        return 2
    store = _store(config)
    try:
        with store.transaction() as c:
            error = incidents.ack(c, incident_id, who, args.note, cli_source(), time.time())
    finally:
        store.close()
    if error:
        print(error, file=sys.stderr)
        return 1
    print(f"#{incident_id} acknowledged by {who}")
    return 0


def cmd_incidents(args: argparse.Namespace) -> int:
    config = load(args.config)
    store = _store(config)
    try:
        with store.lock:
            rows = incidents.list_incidents(store.conn, ("open", "acked", "resolved") if args.all
                                            else incidents.OPEN_STATES)
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    tz = config.site.tz
    for r in rows:
        since = dt.datetime.fromtimestamp(r["since"], tz).strftime("%Y-%m-%d %H:%M:%S")
        acked = f" acked by {r['acked_by']}" if r["acked_by"] else ""
        print(f"#{r['id']:<5} {r['state']:<8} {r['severity']:<8} {since} {r['title']}{acked}")
    return 0


def cmd_maintenance_add(args: argparse.Namespace) -> int:
    config = load(args.config)
    who, error = cli_operator(config.paging, args.by)
    if who is None:
        print(error, file=sys.stderr)
        return 2
    if not (args.target or args.zone or args.check or args.all):
        print("give --target, --zone or --check (or --all for everything)", file=sys.stderr)
        return 2
    tz = config.site.tz
    for ident, known, what in ([(t, {x.id for x in config.targets}, "target") for t in args.target]
                               + [(z, {x.id for x in config.zones}, "zone") for z in args.zone]
                               + [(c, {x.id for x in config.checks}, "check") for c in args.check]):
        if ident not in known:
            print(f"unknown {what} {ident!r}", file=sys.stderr)
            return 2
    try:
        start = parse_local(args.start, tz) if args.start else dt.datetime.now(tz)
        end = parse_local(args.end, tz) if args.end else start + dt.timedelta(seconds=parse_duration(args.duration))
        window(start.isoformat(), end.isoformat(), tz, args.repeat, args.until)
    except ValueError as exc:
        print(f"bad window: {exc}", file=sys.stderr)
        return 2
    store = _store(config)
    try:
        with store.transaction() as c:
            cur = c.execute(
                "INSERT INTO maintenance (created_at, start, end, repeat, until, targets, zones, checks, reason, "
                "created_by) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (time.time(), start.isoformat(), end.isoformat(), args.repeat, args.until, json.dumps(args.target),
                 json.dumps(args.zone), json.dumps(args.check), args.reason, who))
            wid = int(cur.lastrowid or 0)
            scope = ", ".join(args.target + args.zone + args.check) or "everything"
            audit(c, who, "maintenance_add", f"window {wid}: {scope} {start.isoformat()} - {end.isoformat()}"
                  f" repeat {args.repeat} {args.reason}".strip(), cli_source())
    finally:
        store.close()
    print(f"maintenance window {wid} added: {start:%Y-%m-%d %H:%M} - {end:%Y-%m-%d %H:%M} ({config.site.timezone})")
    return 0


def cmd_maintenance_list(args: argparse.Namespace) -> int:
    config = load(args.config)
    for m in config.paging.maintenance:
        print(f"{m.id:<10} {m.window.start:%Y-%m-%d %H:%M} - {m.window.end:%Y-%m-%d %H:%M} {m.window.repeat:<6} "
              f"{', '.join(m.targets + m.zones + m.checks) or 'everything'} {m.reason}")
    store = _store(config)
    try:
        with store.lock:
            rows = store.conn.execute("SELECT id, start, end, repeat, targets, zones, checks, reason, created_by "
                                      "FROM maintenance WHERE cancelled_at IS NULL ORDER BY id").fetchall()
    finally:
        store.close()
    for r in rows:
        scope = ", ".join(json.loads(r[4]) + json.loads(r[5]) + json.loads(r[6])) or "everything"
        print(f"{r[0]:<10} {r[1][:16]} - {r[2][:16]} {r[3]:<6} {scope} {r[7]} (by {r[8]})")
    return 0


def cmd_maintenance_end(args: argparse.Namespace) -> int:
    config = load(args.config)
    who, error = cli_operator(config.paging, args.by)
    if who is None:
        print(error, file=sys.stderr)
        return 2
    store = _store(config)
    try:
        with store.transaction() as c:
            n = c.execute("UPDATE maintenance SET cancelled_at=? WHERE id=? AND cancelled_at IS NULL",
                          (time.time(), args.id)).rowcount
            if n:
                audit(c, who, "maintenance_end", f"window {args.id}", cli_source())
    finally:
        store.close()
    if not n:
        print(f"no active window {args.id}", file=sys.stderr)
        return 1
    print(f"maintenance window {args.id} ended")
    return 0


def cmd_oncall(args: argparse.Namespace) -> int:
    config = load(args.config)
    tz = config.site.tz
    at = parse_local(args.at, tz).timestamp() if args.at else time.time()
    paging = config.paging
    print(f"on duty at {dt.datetime.fromtimestamp(at, tz):%Y-%m-%d %H:%M} ({config.site.timezone}):")
    found = False
    for shift in paging.shifts:
        occ = shift.window.occurrence(at)
        if occ is None:
            continue
        found = True
        c = paging.contacts[shift.contact]
        chat = ", ".join(f"{k}: {v}" for k, v in c.chat.items())
        until = dt.datetime.fromtimestamp(occ[1], tz).strftime("%H:%M %d/%m")
        print(f"  {shift.role:<10} {c.name or c.id:<24} {c.phone:<14} {chat}  until {until}")
    if not found:
        print("  nobody (no shift covers this time)")
    print("contacts:")
    for c in paging.contacts.values():
        print(f"  {c.id:<12} {c.name:<24} {c.phone:<14} " + ", ".join(f"{k}: {v}" for k, v in c.chat.items()))
    return 0


def cmd_notify_test(args: argparse.Namespace) -> int:
    config = load(args.config)
    ch = config.paging.channels.get(args.channel)
    if ch is None:
        print(f"unknown channel {args.channel!r} (channels: {', '.join(sorted(config.paging.channels)) or 'none'})",
              file=sys.stderr)
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
            print(f"modem {ch.modem.device}: {'sent' if r.ok else 'FAILED ' + r.error}")
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
            print(f"{senders.privacy_url(url)}: {'sent' if r.ok else 'FAILED ' + config.redact(r.error)}")
            failed += not r.ok
        return failed

    return 1 if asyncio.run(send_all()) else 0
