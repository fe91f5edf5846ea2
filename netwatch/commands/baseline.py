"""`netwatch baseline`: take, approve, compare and list the approved pages of web_integrity checks."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import os
import sys
import time
from typing import Any

from netwatch.config import Config, load
from netwatch.egov import fingerprint as fp
from netwatch.egov.baselines import Baselines
from netwatch.model import Check, Event
from netwatch.probes import web_integrity
from netwatch.net.tcp import Failure

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "taken": "{url}: đã lưu trang gốc ({title})",
        "approved": "{url}: đã phê duyệt trang hiện tại làm trang gốc ({title})",
        "kept": "{url}: giữ trang gốc lưu lúc {when}; dùng --approve để thay",
        "refused": "{url}: KHÔNG lưu, trang vi phạm quy tắc: {why}",
        "fetch_failed": "{url}: không tải được trang: {error}: {detail}",
        "no_baseline": "{url}: chưa có trang gốc",
        "same": "{url}: khớp trang gốc ({ratio:.1%} văn bản thay đổi)",
        "differs": "{url}: KHÁC trang gốc ({ratio:.1%} văn bản thay đổi)",
        "no_checks": "không có phép kiểm tra web_integrity nào khớp {names}",
        "empty": "chưa có trang gốc nào",
    },
    "en": {
        "taken": "{url}: baseline taken ({title})",
        "approved": "{url}: current page approved as the baseline ({title})",
        "kept": "{url}: keeping the baseline taken at {when}; use --approve to replace it",
        "refused": "{url}: NOT stored, the page breaks the rules: {why}",
        "fetch_failed": "{url}: cannot fetch the page: {error}: {detail}",
        "no_baseline": "{url}: no baseline yet",
        "same": "{url}: matches the baseline ({ratio:.1%} of the text changed)",
        "differs": "{url}: DIFFERS from the baseline ({ratio:.1%} of the text changed)",
        "no_checks": "no web_integrity check matches {names}",
        "empty": "no baselines yet",
    },
}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "baseline", help="take, approve, compare or list the approved pages of web_integrity checks",
        description="Without options: store the current page of every matching web_integrity check that has "
                    "no baseline yet. --approve replaces existing baselines (a legitimate change).")
    p.add_argument("-c", "--config", required=True)
    p.add_argument("ids", nargs="*", metavar="ID", help="web_integrity checks or targets (default: all)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--approve", action="store_true", help="replace existing baselines with the current pages")
    mode.add_argument("--diff", action="store_true", help="compare the current pages with their baselines")
    mode.add_argument("--list", action="store_true", help="list stored baselines")
    p.add_argument("--by", default=None, help="who approves (default: the login name)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per page (default 30)")
    p.set_defaults(func=cmd_baseline)


def _t(lang: str, key: str, **kwargs: Any) -> str:
    return TEXTS.get(lang, TEXTS["en"])[key].format(**kwargs)


def select_checks(config: Config, names: list[str]) -> list[Check]:
    checks = [c for c in config.checks if c.kind == web_integrity.KIND]
    if names:
        checks = [c for c in checks if c.id in names or c.target.id in names]
    return checks


def cmd_baseline(args: argparse.Namespace) -> int:
    from netwatch.store import Store

    config = load(args.config)
    lang = getattr(args, "lang", "en")
    store = Store.open(config.store)
    try:
        repo = Baselines.of_store(store)
        if args.list:
            rows = list(repo.listing())
            for target_id, url, taken_at, by in rows:
                print(f"{target_id}  {config.redact(url)}  {_when(taken_at, config)}  {by}")
            if not rows:
                print(_t(lang, "empty"))
            return EXIT_OK
        checks = select_checks(config, list(args.ids))
        if not checks:
            print(_t(lang, "no_checks", names=", ".join(args.ids) or "*"), file=sys.stderr)
            return EXIT_CONFIG
        by = args.by or os.environ.get("SUDO_USER") or _login()
        ok = asyncio.run(_run(config, store, repo, checks, args, by, lang))
        return EXIT_OK if ok else EXIT_FAILED
    finally:
        store.close()


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _when(ts: float, config: Config) -> str:
    return dt.datetime.fromtimestamp(ts, config.site.tz).strftime("%Y-%m-%d %H:%M:%S %Z")


async def _run(config: Config, store: Any, repo: Baselines, checks: list[Check], args: argparse.Namespace,
               by: str, lang: str) -> bool:
    all_ok = True
    for check in checks:
        settings: web_integrity.Settings = check.settings  # type: ignore[assignment]
        for url in settings.pages:
            shown = config.redact(str(url))
            try:
                fetched = await asyncio.wait_for(web_integrity.fetch_page(settings, url), args.timeout)
            except Failure as failure:
                print(_t(lang, "fetch_failed", url=shown, error=failure.error, detail=config.redact(failure.detail)))
                all_ok = False
                continue
            except TimeoutError:
                print(_t(lang, "fetch_failed", url=shown, error="timeout", detail=f"{args.timeout:g}s"))
                all_ok = False
                continue
            response = fetched.response
            page, current = await asyncio.to_thread(web_integrity.analyse, response.body, str(response.url),
                                                    response.header("content-type"), settings.profile)
            existing = await asyncio.to_thread(repo.get, check.target.id, str(url))
            if args.diff:
                all_ok &= _show_diff(lang, shown, existing, settings, page, current)
                continue
            if existing is not None and not args.approve:
                print(_t(lang, "kept", url=shown, when=_when(existing.taken_at, config)))
                continue
            findings = fp.check_rules(page, settings.rules)
            if findings:
                print(_t(lang, "refused", url=shown, why="; ".join(f.summary for f in findings)))
                all_ok = False
                continue
            now = time.time()
            await asyncio.to_thread(repo.put, check.target.id, str(url), response.body,
                                    response.header("content-type"), {settings.profile.digest(): current}, now, by)
            verb = "approved" if existing is not None else "taken"
            data: dict[str, object] = {"url": str(url), "by": by, "title": current.title, "reason": verb}
            if existing is not None:
                old = existing.fingerprints.get(settings.profile.digest())
                if old is not None:
                    ratio, diff = fp.text_change(old.blocks, current.blocks)
                    data.update(change_ratio=ratio, diff=fp.cap_diff(diff))
            store.record_events([(now, check.id, check.target.id,
                                  Event("baseline", f"{url}: baseline {verb} by {by}", data))])
            print(_t(lang, verb, url=shown, title=current.title))
    return all_ok


def _show_diff(lang: str, shown: str, existing: Any, settings: web_integrity.Settings, page: fp.Page,
               current: fp.Fingerprint) -> bool:
    if existing is None:
        print(_t(lang, "no_baseline", url=shown))
        for finding in fp.check_rules(page, settings.rules):
            print(f"  {finding.error}: {finding.summary}")
        return False
    base = existing.fingerprints.get(settings.profile.digest())
    if base is None:
        _, base = web_integrity.analyse(existing.body, existing.url, existing.content_type, settings.profile)
    verdict = fp.compare(base, current, page, settings.rules)
    ratio = verdict.change_ratio or 0.0
    print(_t(lang, "differs" if verdict.findings else "same", url=shown, ratio=ratio))
    for finding in verdict.findings:
        print(f"  {finding.error}: {finding.summary}")
    for line in verdict.diff:
        print(f"    {line}")
    return not verdict.findings
