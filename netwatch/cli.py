"""Command line: `netwatch run | check | probe | ...`; exit 2 on a bad config."""

from __future__ import annotations

import argparse
import asyncio
import errno
import importlib
import json
import logging
import os
import sys
import urllib.parse
from typing import Any, Sequence

from netwatch import __version__
from netwatch.config import Config, ConfigError, is_loopback, load, summary_duration
from netwatch.i18n import Lang, default_lang, t
from netwatch.logs import setup_logging
from netwatch.store.db import StoreError

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

# Commands contributed by other capabilities: each module defines `register(subparsers)`, whose
# parsers set `func(args) -> int`. One line per module.
COMMAND_MODULES: tuple[str, ...] = (
    "netwatch.commands.configbackup",
    "netwatch.commands.baseline",
    "netwatch.commands.paging",
    "netwatch.commands.operator",
    "netwatch.commands.inventory",
    "netwatch.commands.discover",
    "netwatch.lab.cli",
    "netwatch.report.cli",
    "netwatch.commands.store",
    "netwatch.commands.cluster",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="netwatch", description="Network and infrastructure assurance monitor.")
    parser.add_argument("--version", action="version", version=f"netwatch {__version__}")
    parser.add_argument("--lang", choices=["vi", "en"], default=default_lang(),
                        help="language of messages (default: vi, or NETWATCH_LANG)")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("check", help="validate a config file and print a summary")
    p.add_argument("-c", "--config", required=True, help="venue config file (YAML)")
    p.add_argument("--strict", action="store_true",
                   help="require every secret (environment variables, secret files), as `run` does")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("probe", help="run checks once and print the results")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("ids", nargs="*", metavar="CHECK_ID", help="checks or targets to run (default: all)")
    p.add_argument("--json", action="store_true", help="print a JSON array")
    p.set_defaults(func=cmd_probe)

    p = sub.add_parser("run", help="monitor forever: schedule checks, serve /metrics, record history")
    p.add_argument("-c", "--config", required=True)
    p.set_defaults(func=cmd_run)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    # `--lang en` is also accepted after the subcommand (`netwatch demo --lang en`); SUPPRESS keeps
    # the value given before it when it is not repeated.
    _accept_lang_after(sub)

    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_CONFIG
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as exc:
        # The history store cannot be opened (a wrong password, a missing database or directory): one line,
        # never the password, for every history command.
        print(f"netwatch {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130


def _accept_lang_after(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    for subparser in sub.choices.values():
        if "--lang" not in subparser._option_string_actions:
            subparser.add_argument("--lang", choices=["vi", "en"], default=argparse.SUPPRESS,
                                   help="language of messages (also accepted before the command)")
        for action in subparser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _accept_lang_after(action)


def load_config(args: argparse.Namespace) -> Config:
    return load(args.config)


def cmd_check(args: argparse.Namespace) -> int:
    config = load(args.config, strict=args.strict)
    lang: Lang = args.lang
    print(t("config_ok", lang, path=config.path))
    for line in summarise(config, lang):
        print(line)
    for note in config.notes:
        print(f"{t('note', lang)}: {note}")
    for line in warnings(config, lang):
        print(line, file=sys.stderr)
    return EXIT_OK


def warnings(config: Config, lang: Lang) -> list[str]:
    """Set-ups that work but will surprise someone: printed by `check`, never fatal."""
    out = []
    base = config.board.link_base(config.listen, bool(getattr(config, "listen_tls", None)))
    host = urllib.parse.urlsplit(base).hostname or ""
    if config.paging.channels and host in ("0.0.0.0", "::"):
        out.append(t("warn_link_any", lang, base=base))
    elif config.paging.channels and config.board.public_url is None and is_loopback(host):
        out.append(t("warn_link_loopback", lang, base=base))
    return out + config_warnings(config, lang)


def config_warnings(config: Config, lang: Lang) -> list[str]:
    """Risky but valid settings: `check` prints them, `run` logs them at start and on reload."""
    out = [t("warn_verify_tls", lang, check=c.id) for c in config.checks
           if getattr(c.settings, "verify_tls", True) is False]
    with_checks = {c.target.id for c in config.checks}
    children: dict[str, list[str]] = {}
    for target in config.targets:
        for parent in target.depends_on:
            children.setdefault(parent, []).append(target.id)
    out += [t("warn_parent_no_checks", lang, target=p, children=", ".join(kids[:5]) + ("…" if len(kids) > 5 else ""))
            for p, kids in children.items() if p not in with_checks]
    return out


def summarise(config: Config, lang: Lang) -> list[str]:
    kinds: dict[str, int] = {}
    for c in config.checks:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    per_kind = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or t("none", lang)
    lines = [
        f"  {t('site', lang)}: {config.site.name} ({config.site.timezone})",
        f"  {t('listen', lang)}: {config.listen}",
        f"  {t('store', lang)}: {config.store}",
        f"  {t('targets', lang)}: {len(config.targets)}",
        f"  {t('checks', lang)}: {len(config.checks)} ({per_kind})",
        f"  {t('zones', lang)}: " + (", ".join(f"{z.id} ({z.name})" if z.name else z.id for z in config.zones)
                                     or t("none", lang)),
    ]
    channels = []
    for name, ch in config.paging.channels.items():
        # Only the scheme: the rest of an apprise URL (host part included, e.g. Telegram) may be a token.
        kinds = sorted({u.reveal().split("://", 1)[0] for u in ch.urls} | ({"modem"} if ch.modem else set()))
        extra = f", SMS ≤{ch.sms.max_segments} seg" + (" không dấu" if ch.sms.strip_diacritics else "") if ch.sms else ""
        channels.append(f"{name} ({'+'.join(kinds)}, {ch.lang}{extra})")
    lines.append(f"  {t('channels', lang)}: " + (", ".join(channels) or t("none", lang)))
    if config.event.phases:
        lines.append(f"  {t('phases', lang)}: " + ", ".join(p.id for p in config.event.phases))
    intervals = sorted({c.interval_seconds for c in config.checks})
    if intervals:
        lines.append("  interval: " + ", ".join(summary_duration(i) for i in intervals))
    return [config.redact(line) for line in lines]


def cmd_probe(args: argparse.Namespace) -> int:
    config = load_config(args)
    lang: Lang = args.lang
    checks = list(config.checks)
    if args.ids:
        wanted: list[Any] = []
        for name in args.ids:
            matched = [c for c in checks if c.id == name or c.target.id == name]
            if not matched:
                print(t("unknown_check", lang, name=name), file=sys.stderr)
                return EXIT_CONFIG
            wanted.extend(c for c in matched if c not in wanted)
        checks = wanted
    from netwatch.configbackup import repo as configs
    from netwatch.egov import baselines
    from netwatch.probe_once import probe_all, render_table
    from netwatch.runner import ProbeContexts

    # Read-only: web_integrity compares with the daemon's baselines, ssh with its drift baseline.
    try:
        versions = configs.Repository.open_readonly(config.store)
    except StoreError as exc:
        # A one-off probe still works without history: it says so instead of refusing to run.
        logging.getLogger(__name__).warning("%s; config drift is not compared", exc)
        versions = None
    contexts = ProbeContexts(baselines.Baselines.open_readonly(config.store), versions)
    rows = asyncio.run(probe_all(checks, contexts))
    if args.json:
        print(json.dumps([{**row, "detail": config.redact(row["detail"])} for row in rows],
                         ensure_ascii=False, indent=2))
    else:
        print(render_table(rows, lang, config.redact))
    return EXIT_OK if all(row["ok"] for row in rows) else EXIT_FAILED


def cmd_run(args: argparse.Namespace) -> int:
    config = load_config(args)
    setup_logging(args.log_level or "INFO", config.redact, config.site.tz)
    for note in config.notes:
        logging.getLogger(__name__).warning("%s", note)
    for line in config_warnings(config, "en"):
        logging.getLogger(__name__).warning("%s", line)
    from netwatch.daemon import serve

    logging.getLogger(__name__).info("netwatch %s starting with %s (%d checks)", __version__, config.path,
                                     len(config.checks))
    try:
        return asyncio.run(serve(config))
    except OSError as exc:
        # The web listener could not bind: one line naming the address and the key to change.
        if exc.errno not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES) or "bind" not in str(exc):
            raise
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        print(t("listen_failed", args.lang, listen=config.listen, path=config.path, reason=reason),
              file=sys.stderr)
        return EXIT_FAILED
