"""`netwatch store copy`: bring an existing SQLite history into the config's store (e.g. PostgreSQL)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from netwatch.config import load

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "no_source": "không có tệp lịch sử SQLite {path}",
        "same": "nguồn và đích là cùng một tệp {path}",
        "progress": "sao chép {table}: {done}/{total}",
        "done": "đã sao chép {rows} dòng từ {source} sang {target}",
        "refused": "không sao chép: {why}",
    },
    "en": {
        "no_source": "no SQLite history file {path}",
        "same": "the source and the target are the same file {path}",
        "progress": "copying {table}: {done}/{total}",
        "done": "copied {rows} rows from {source} to {target}",
        "refused": "not copied: {why}",
    },
}


def _t(lang: str, key: str, **kwargs: Any) -> str:
    return TEXTS.get(lang, TEXTS["en"])[key].format(**kwargs)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("store", help="manage the history store (copy a SQLite history into it)")
    sub = p.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    c = sub.add_parser("copy", help="copy a SQLite history file into the config's (empty) store",
                       description="Copies every table, ids kept, in one transaction. The target (the config's "
                                   "`store:`, e.g. PostgreSQL) must hold no history yet; it is created if needed.")
    c.add_argument("-c", "--config", required=True)
    c.add_argument("--from", dest="source", required=True, metavar="SQLITE_PATH", help="the old history file")
    c.set_defaults(func=cmd_copy)


def cmd_copy(args: argparse.Namespace) -> int:
    from netwatch.store import Store
    from netwatch.store.copy import CopyRefused, copy_history

    lang = getattr(args, "lang", "en")
    config = load(args.config)
    if not os.path.isfile(args.source):
        print(_t(lang, "no_source", path=args.source), file=sys.stderr)
        return EXIT_FAILED
    if config.store.path is not None and os.path.abspath(config.store.path) == os.path.abspath(args.source):
        print(_t(lang, "same", path=args.source), file=sys.stderr)
        return EXIT_CONFIG
    last = [0.0]

    def progress(table: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= 1.0:   # at most a line a second, and one per finished table
            last[0] = now
            print(_t(lang, "progress", table=table, done=done, total=total), file=sys.stderr, flush=True)

    target = Store.open(config.store)
    try:
        copied = copy_history(args.source, target, progress)
    except CopyRefused as exc:
        print(_t(lang, "refused", why=exc), file=sys.stderr)
        return EXIT_FAILED
    finally:
        target.close()
    print(_t(lang, "done", rows=sum(copied.values()), source=args.source, target=config.store))
    return EXIT_OK
