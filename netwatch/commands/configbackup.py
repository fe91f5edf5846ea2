"""CLI commands `ssh-trust`, `config-freeze` and `config-diff` (registered through cli.COMMAND_MODULES)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
import unicodedata
from typing import Any

from netwatch.config import Config, load
from netwatch.configbackup import diff
from netwatch.net import knownhosts
from netwatch.configbackup.repo import Repository, Version
from netwatch.i18n import Lang, default_lang
from netwatch.model import Check
from netwatch.probes.contract import ProbeContext

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

# Module-local catalogue, like report/texts.py and notify/templates.py: netwatch/i18n.py keeps the core's words.
TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "no_check": "không có phép kiểm tra ssh nào cho {name!r} trong {path} (các đối tượng có kiểm tra ssh: {known})",
        "none": "không có",
        "cannot_read": "không đọc được {path}: {reason}",
        "fingerprint": "Dấu vân tay khoá máy chủ: {line}",
        "already_trusted": "Khoá này đã được tin cậy trong {path}",
        "changed": "CẢNH BÁO: {path} đang giữ một khoá khác cho {name} ({held}). Nếu thiết bị không được chủ động "
                   "đổi khoá, có thể ai đó đang giả mạo thiết bị.",
        "changed_hint": "Chưa thay đổi gì; hãy đối chiếu dấu vân tay mới trên console của thiết bị, rồi chạy lại "
                        "với --replace",
        "prompt": "Tin cậy khoá này cho {name}? [c/K] ",
        "no_terminal": "Từ chối tin cậy khoá khi chưa được xác nhận: không có terminal để hỏi. Hãy so dấu vân tay với "
                       "dấu vân tay trên chính thiết bị (ví dụ `show ip ssh` / `show crypto key mypubkey`), rồi chạy "
                       "lại với --yes.",
        "not_trusted": "Không tin cậy khoá; không có gì thay đổi",
        "replaced": "Đã thay {n} mục cũ của {name} trong {path}",
        "added": "Đã thêm {name} vào {path}",
        "freeze_lifted": "{tid}: đã bỏ cố định cấu hình gốc; thay đổi cấu hình vẫn được ghi lại nhưng không còn làm "
                         "phép kiểm tra báo lỗi",
        "cannot_fetch": "{tid}: không lấy được cấu hình: {error}: {detail}",
        "nothing_stored_fetch": "{tid}: chưa có cấu hình nào được lưu; chạy lại không kèm --from-history để lấy "
                                "cấu hình ngay",
        "frozen": "{tid}: đã cố định cấu hình gốc: phiên bản {id} sha256 {sha}, ghi nhận lần đầu {when}, {size} byte",
        "no_store": "{tid}: chưa có kho lịch sử tại {store}",
        "version_row": "{id:>6}  {when}  {sha}  {size:>8} byte{mark}",
        "baseline_mark": "  (cấu hình gốc)",
        "nothing_stored": "{tid}: chưa có cấu hình nào được lưu",
        "only_one": "{tid}: mới lưu một phiên bản ({sha}, {when}); chưa có gì để so sánh",
        "baseline": "cấu hình gốc",
        "previous": "bản trước",
        "current": "hiện tại",
        "matches": "{tid}: cấu hình hiện tại trùng với {label} ({sha})",
    },
    "en": {
        "no_check": "no ssh check for {name!r} in {path} (targets with one: {known})",
        "none": "none",
        "cannot_read": "cannot read {path}: {reason}",
        "fingerprint": "Host key fingerprint: {line}",
        "already_trusted": "already trusted in {path}",
        "changed": "WARNING: {path} holds a different key for {name} ({held}). If the device was not re-keyed on "
                   "purpose, someone may be impersonating it.",
        "changed_hint": "nothing changed; after verifying the new fingerprint on the device's console, run again "
                        "with --replace",
        "prompt": "Trust this key for {name}? [y/N] ",
        "no_terminal": "refusing to trust a key without confirmation: no terminal to ask on. Compare the fingerprint "
                       "with the device's own (e.g. `show ip ssh` / `show crypto key mypubkey`), then pass --yes.",
        "not_trusted": "not trusted; nothing changed",
        "replaced": "replaced {n} old {entries} for {name} in {path}",
        "added": "added {name} to {path}",
        "freeze_lifted": "{tid}: freeze lifted; configuration changes are recorded but no longer fail the check",
        "cannot_fetch": "{tid}: cannot fetch the configuration: {error}: {detail}",
        "nothing_stored_fetch": "{tid}: no configuration stored yet; run without --from-history to fetch it now",
        "frozen": "{tid}: baseline frozen: version {id} sha256 {sha} first seen {when}, {size} bytes",
        "no_store": "{tid}: no history store at {store} yet",
        "version_row": "{id:>6}  {when}  {sha}  {size:>8} bytes{mark}",
        "baseline_mark": " baseline",
        "nothing_stored": "{tid}: no configuration stored yet",
        "only_one": "{tid}: only one version stored ({sha}, {when}); nothing to compare",
        "baseline": "baseline",
        "previous": "previous",
        "current": "current",
        "matches": "{tid}: the current configuration matches the {label} ({sha})",
    },
}

# Confirmation answers; a Vietnamese keyboard may be off on a console, so "co" counts as "có".
YES_ANSWERS: dict[str, frozenset[str]] = {
    "vi": frozenset({"c", "có", "co", "y", "yes"}),
    "en": frozenset({"y", "yes"}),
}


def tr(key: str, lang: Lang, **kwargs: object) -> str:
    text = TEXTS[lang].get(key) or TEXTS["en"][key]
    return text.format(**kwargs) if kwargs else text


def lang_of(args: argparse.Namespace) -> Lang:
    lang = getattr(args, "lang", None)
    return lang if lang in ("vi", "en") else default_lang()


def register(sub: Any) -> None:
    p = sub.add_parser("ssh-trust", help="show a device's SSH host key and add it to the check's known_hosts")
    p.add_argument("target", metavar="TARGET", help="target id or ssh check id")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--yes", action="store_true", help="trust without asking (you checked the fingerprint)")
    p.add_argument("--replace", action="store_true",
                   help="replace a different key already held for the device (after a verified re-key)")
    p.set_defaults(func=cmd_trust)

    p = sub.add_parser("config-freeze", help="freeze a device's current configuration as the drift baseline")
    p.add_argument("target", metavar="TARGET", help="target id or ssh check id")
    p.add_argument("-c", "--config", required=True)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--from-history", action="store_true",
                     help="freeze the latest stored version instead of fetching the config now")
    how.add_argument("--clear", action="store_true", help="lift the freeze: no baseline, no drift")
    p.set_defaults(func=cmd_freeze)

    p = sub.add_parser("config-diff", help="unified diff of a device's configuration against its baseline")
    p.add_argument("target", metavar="TARGET", help="target id or ssh check id")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--list", action="store_true", help="list the stored versions instead")
    p.set_defaults(func=cmd_diff)


def load_lenient(path: str) -> Config:
    """Load a config whose known_hosts entries may not exist yet (that is what ssh-trust is for)."""
    token = knownhosts.REQUIRE_ENTRY.set(False)
    try:
        return load(path)
    finally:
        knownhosts.REQUIRE_ENTRY.reset(token)


def ssh_checks(config: Config, name: str) -> list[Check]:
    return [c for c in config.checks if c.kind == "ssh" and name in (c.id, c.target.id)]


def _no_check(config: Config, name: str, lang: Lang) -> int:
    known = sorted({c.target.id for c in config.checks if c.kind == "ssh"})
    print(tr("no_check", lang, name=name, path=config.path, known=", ".join(known) or tr("none", lang)),
          file=sys.stderr)
    return EXIT_CONFIG


def cmd_trust(args: argparse.Namespace) -> int:
    from netwatch.probes import ssh

    lang = lang_of(args)
    config = load_lenient(args.config)
    checks = ssh_checks(config, args.target)
    if not checks:
        return _no_check(config, args.target, lang)
    done: set[tuple[str, int, str]] = set()
    for check in checks:
        s: ssh.Settings = check.settings  # type: ignore[assignment]
        host = ssh.host_of(check.target)
        where = (host, s.port, s.known_hosts)
        if where in done:
            continue
        done.add(where)
        name = knownhosts.host_entry(host, s.port)
        try:
            known = knownhosts.keys_for(s.known_hosts, host, s.port) if os.path.exists(s.known_hosts) else []
        except OSError as exc:
            print(tr("cannot_read", lang, path=s.known_hosts, reason=exc.strerror or exc), file=sys.stderr)
            return EXIT_FAILED
        try:
            key = ssh.scan(host, s.port, known, check.timeout_seconds)
        except ssh.Failure as f:
            print(f"{name}: {f.error}: {f.detail}", file=sys.stderr)
            return EXIT_FAILED
        print(tr("fingerprint", lang, line=knownhosts.describe(key, name)))
        verdict = knownhosts.verdict(known, key)
        if verdict == "trusted":
            print(tr("already_trusted", lang, path=s.known_hosts))
            continue
        if verdict == "changed":
            held = ", ".join(sorted({knownhosts.fingerprint(k) for k in known}))
            print(tr("changed", lang, path=s.known_hosts, name=name, held=held), file=sys.stderr)
            if not args.replace:
                print(tr("changed_hint", lang), file=sys.stderr)
                return EXIT_FAILED
        if not _confirm(args.yes, tr("prompt", lang, name=name), lang):
            return EXIT_FAILED
        if verdict == "changed":
            dropped = knownhosts.replace(s.known_hosts, key, host, s.port)
            print(tr("replaced", lang, n=dropped, entries="entry" if dropped == 1 else "entries", name=name,
                     path=s.known_hosts))
        else:
            knownhosts.append(s.known_hosts, key, host, s.port)
            print(tr("added", lang, name=name, path=s.known_hosts))
    return EXIT_OK


def is_yes(answer: str, lang: Lang) -> bool:
    """Whether a typed answer confirms; NFC first, since a terminal may send "có" decomposed."""
    return unicodedata.normalize("NFC", answer).strip().lower() in YES_ANSWERS[lang]


def _confirm(yes: bool, prompt: str, lang: Lang) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        print(tr("no_terminal", lang), file=sys.stderr)
        return False
    try:
        answer = input(prompt)
    except (EOFError, UnicodeDecodeError):
        answer = ""
    if not is_yes(answer, lang):
        print(tr("not_trusted", lang), file=sys.stderr)
        return False
    return True


def cmd_freeze(args: argparse.Namespace) -> int:
    from netwatch.probes import ssh
    from netwatch.store import Store

    lang = lang_of(args)
    config = load_lenient(args.config)
    checks = ssh_checks(config, args.target)
    if not checks:
        return _no_check(config, args.target, lang)
    check = checks[0]
    tid = check.target.id
    store = Store.open(config.store)
    try:
        repo = Repository(store.db)
        now = time.time()
        if args.clear:
            repo.freeze(tid, None, now)
            print(tr("freeze_lifted", lang, tid=tid))
            return EXIT_OK
        if not args.from_history:
            outcome = asyncio.run(ssh.probe(check.target, check.settings, check.timeout_seconds,
                                            ProbeContext(check.id, config_versions=repo)))
            if outcome.events:
                store.record_events([(now, check.id, tid, e) for e in outcome.events])
            if not outcome.ok and outcome.error != "config_drift":
                print(tr("cannot_fetch", lang, tid=tid, error=outcome.error, detail=config.redact(outcome.detail)),
                      file=sys.stderr)
                return EXIT_FAILED
        version = repo.latest(tid)
        if version is None:
            print(tr("nothing_stored_fetch", lang, tid=tid), file=sys.stderr)
            return EXIT_FAILED
        repo.freeze(tid, version.id, now)
        print(tr("frozen", lang, tid=tid, id=version.id, sha=version.sha256[:12], when=_when(config, version.ts),
                 size=len(version.text.encode())))
        return EXIT_OK
    finally:
        store.close()


def cmd_diff(args: argparse.Namespace) -> int:
    lang = lang_of(args)
    config = load_lenient(args.config)
    checks = ssh_checks(config, args.target)
    if not checks:
        return _no_check(config, args.target, lang)
    tid = checks[0].target.id
    repo = Repository.open_readonly(config.store)
    if repo is None:
        print(tr("no_store", lang, tid=tid, store=config.store), file=sys.stderr)
        return EXIT_FAILED
    try:
        versions = repo.versions(tid)
        freeze = repo.freeze_of(tid)
    finally:
        repo.close()
    baseline = freeze.version if freeze is not None else None
    if args.list:
        for v in versions:
            mark = tr("baseline_mark", lang) if baseline is not None and v.id == baseline.id else ""
            print(tr("version_row", lang, id=v.id, when=_when(config, v.ts), sha=v.sha256[:12],
                     size=len(v.text.encode()), mark=mark))
        return EXIT_OK
    if not versions:
        print(tr("nothing_stored", lang, tid=tid), file=sys.stderr)
        return EXIT_FAILED
    latest = versions[-1]
    old: Version | None = baseline
    label = tr("baseline", lang)
    if old is None:
        old = versions[-2] if len(versions) > 1 else None
        label = tr("previous", lang)
    if old is None:
        print(tr("only_one", lang, tid=tid, sha=latest.sha256[:12], when=_when(config, latest.ts)), file=sys.stderr)
        return EXIT_OK
    lines = diff.unified(old.text, latest.text, f"{label} {old.sha256[:12]} {_when(config, old.ts)}",
                         f"{tr('current', lang)} {latest.sha256[:12]} {_when(config, latest.ts)}")
    for line in lines:
        print(config.redact(line))
    if not lines:
        print(tr("matches", lang, tid=tid, label=label, sha=old.sha256[:12]), file=sys.stderr)
    return EXIT_FAILED if lines else EXIT_OK


def _when(config: Config, ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, config.site.tz).isoformat(timespec="seconds")

