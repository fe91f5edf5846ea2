"""CLI commands `ssh-trust`, `config-freeze` and `config-diff` (registered through cli.COMMAND_MODULES)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
from typing import Any

from netwatch.config import Config, load
from netwatch.configbackup import diff, knownhosts
from netwatch.configbackup.repo import Repository, Version
from netwatch.model import Check

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


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


def _no_check(config: Config, name: str) -> int:
    known = sorted({c.target.id for c in config.checks if c.kind == "ssh"})
    print(f"no ssh check for {name!r} in {config.path} (targets with one: {', '.join(known) or 'none'})",
          file=sys.stderr)
    return EXIT_CONFIG


def cmd_trust(args: argparse.Namespace) -> int:
    from netwatch.probes import ssh

    config = load_lenient(args.config)
    checks = ssh_checks(config, args.target)
    if not checks:
        return _no_check(config, args.target)
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
            print(f"cannot read {s.known_hosts}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_FAILED
        try:
            key = ssh.scan(host, s.port, known, check.timeout_seconds)
        except ssh.Failure as f:
            print(f"{name}: {f.error}: {f.detail}", file=sys.stderr)
            return EXIT_FAILED
        print(knownhosts.describe(key, name))
        verdict = knownhosts.verdict(known, key)
        if verdict == "trusted":
            print(f"already trusted in {s.known_hosts}")
            continue
        if verdict == "changed":
            held = ", ".join(sorted({knownhosts.fingerprint(k) for k in known}))
            print(f"WARNING: {s.known_hosts} holds a different key for {name} ({held}). If the device was not "
                  "re-keyed on purpose, someone may be impersonating it.", file=sys.stderr)
            if not args.replace:
                print("nothing changed; after verifying the new fingerprint on the device's console, run again "
                      "with --replace", file=sys.stderr)
                return EXIT_FAILED
        if not _confirm(args.yes, f"Trust this key for {name}? [y/N] "):
            return EXIT_FAILED
        if verdict == "changed":
            dropped = knownhosts.replace(s.known_hosts, key, host, s.port)
            print(f"replaced {dropped} old entr{'y' if dropped == 1 else 'ies'} for {name} in {s.known_hosts}")
        else:
            knownhosts.append(s.known_hosts, key, host, s.port)
            print(f"added {name} to {s.known_hosts}")
    return EXIT_OK


def _confirm(yes: bool, prompt: str) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        print("refusing to trust a key without confirmation: no terminal to ask on. Compare the fingerprint "
              "with the device's own (e.g. `show ip ssh` / `show crypto key mypubkey`), then pass --yes.",
              file=sys.stderr)
        return False
    try:
        answer = input(prompt)
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        print("not trusted; nothing changed", file=sys.stderr)
        return False
    return True


def cmd_freeze(args: argparse.Namespace) -> int:
    from netwatch.probes import ssh
    from netwatch.store import Store

    config = load_lenient(args.config)
    checks = ssh_checks(config, args.target)
    if not checks:
        return _no_check(config, args.target)
    check = checks[0]
    tid = check.target.id
    store = Store.open(config.store)
    try:
        repo = Repository(store.conn, store.lock)
        now = time.time()
        if args.clear:
            repo.freeze(tid, None, now)
            print(f"{tid}: freeze lifted; configuration changes are recorded but no longer fail the check")
            return EXIT_OK
        if not args.from_history:
            outcome = asyncio.run(ssh.probe(check.target, check.settings, check.timeout_seconds,
                                            repo_of=lambda: repo))
            if outcome.events:
                store.record_events([(now, check.id, tid, e) for e in outcome.events])
            if not outcome.ok and outcome.error != "config_drift":
                print(f"{tid}: cannot fetch the configuration: {outcome.error}: {config.redact(outcome.detail)}",
                      file=sys.stderr)
                return EXIT_FAILED
        version = repo.latest(tid)
        if version is None:
            print(f"{tid}: no configuration stored yet; run without --from-history to fetch it now",
                  file=sys.stderr)
            return EXIT_FAILED
        repo.freeze(tid, version.id, now)
        print(f"{tid}: baseline frozen: version {version.id} sha256 {version.sha256[:12]} "
              f"first seen {_when(config, version.ts)}, {len(version.text.encode())} bytes")
        return EXIT_OK
    finally:
        store.close()


def cmd_diff(args: argparse.Namespace) -> int:
    config = load_lenient(args.config)
    checks = ssh_checks(config, args.target)
    if not checks:
        return _no_check(config, args.target)
    tid = checks[0].target.id
    repo = Repository.open_readonly(config.store)
    if repo is None:
        print(f"{tid}: no history store at {config.store} yet", file=sys.stderr)
        return EXIT_FAILED
    try:
        versions = repo.versions(tid)
        freeze = repo.freeze_of(tid)
    finally:
        repo.close()
    baseline = freeze.version if freeze is not None else None
    if args.list:
        for v in versions:
            mark = " baseline" if baseline is not None and v.id == baseline.id else ""
            print(f"{v.id:>6}  {_when(config, v.ts)}  {v.sha256[:12]}  {len(v.text.encode()):>8} bytes{mark}")
        return EXIT_OK
    if not versions:
        print(f"{tid}: no configuration stored yet", file=sys.stderr)
        return EXIT_FAILED
    latest = versions[-1]
    old: Version | None = baseline
    label = "baseline"
    if old is None:
        old = versions[-2] if len(versions) > 1 else None
        label = "previous"
    if old is None:
        print(f"{tid}: only one version stored ({latest.sha256[:12]}, {_when(config, latest.ts)}); "
              "nothing to compare", file=sys.stderr)
        return EXIT_OK
    lines = diff.unified(old.text, latest.text, f"{label} {old.sha256[:12]} {_when(config, old.ts)}",
                         f"current {latest.sha256[:12]} {_when(config, latest.ts)}")
    for line in lines:
        print(config.redact(line))
    if not lines:
        print(f"{tid}: the current configuration matches the {label} ({old.sha256[:12]})", file=sys.stderr)
    return EXIT_FAILED if lines else EXIT_OK


def _when(config: Config, ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, config.site.tz).isoformat(timespec="seconds")

