"""`netwatch import inventory.csv -c FILE`: a device list from a spreadsheet becomes the venue's targets."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import yaml

from netwatch.config import ConfigError, load
from netwatch.config import inventory

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "created": "Đã tạo {config} đọc danh sách thiết bị {csv}",
        "linked": "Đã thêm `inventory: {csv}` vào {config}",
        "already": "{config} đã đọc {csv}",
        "summary": ("{n} thiết bị từ {csv} ({merged} gộp với đối tượng cùng id trong {config}); "
                    "cấu hình hợp lệ"),
        "other": "{config} đã đọc danh sách khác ({other}); thêm {csv} vào khóa `inventory:` bằng tay",
        "restored": "Cấu hình không hợp lệ với danh sách này: {config} được giữ nguyên",
    },
    "en": {
        "created": "Created {config} reading the inventory {csv}",
        "linked": "Added `inventory: {csv}` to {config}",
        "already": "{config} already reads {csv}",
        "summary": "{n} devices from {csv} ({merged} merged with targets of the same id in {config}); config is valid",
        "other": "{config} already reads another inventory ({other}); add {csv} to its `inventory:` key by hand",
        "restored": "The config is not valid with this inventory: {config} was left as it was",
    },
}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("import",
                              help="read targets from a CSV inventory (id,name,host,zone,role,profile,parent)")
    p.add_argument("csv", metavar="INVENTORY.csv", help="UTF-8 (with or without BOM), `,` or `;` separated")
    p.add_argument("-c", "--config", required=True, help="venue config: created if missing, else it gains "
                                                         "`inventory: INVENTORY.csv`")
    p.add_argument("--print", dest="print_yaml", action="store_true",
                   help="print the targets as YAML instead (writes nothing)")
    p.set_defaults(func=cmd_import)


def _t(lang: str, key: str, **kw: Any) -> str:
    return TEXTS.get(lang, TEXTS["en"])[key].format(**kw)


def cmd_import(args: argparse.Namespace) -> int:
    lang = args.lang
    try:
        with open(args.csv, "rb") as f:
            data = f.read(inventory.MAX_INVENTORY_BYTES + 1)
        rows, problems = inventory.parse(data)
    except OSError as exc:
        print(f"{args.csv}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_CONFIG
    except inventory.InventoryError as exc:
        print(f"{args.csv}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if problems:
        for line, col, message in problems:
            print(f"{args.csv}:{line}:{col}: {message}", file=sys.stderr)
        return EXIT_CONFIG
    if args.print_yaml:
        print(yaml.safe_dump({"targets": [r.target for r in rows]}, allow_unicode=True, sort_keys=False,
                             default_flow_style=None, width=200), end="")
        return EXIT_OK
    config_dir = os.path.dirname(os.path.abspath(args.config))
    rel = os.path.relpath(os.path.abspath(args.csv), config_dir)
    original: str | None = None
    if not os.path.exists(args.config):
        zones = sorted({r.target["zone"] for r in rows if "zone" in r.target})
        text = ("# Written by `netwatch import`: targets come from the inventory; add profiles: and the rest.\n"
                + yaml.safe_dump({"zones": [{"id": z} for z in zones], "inventory": rel},
                                 allow_unicode=True, sort_keys=False, default_flow_style=None))
        message = _t(lang, "created", config=args.config, csv=rel)
    else:
        with open(args.config, encoding="utf-8") as f:
            original = f.read()
        current = (yaml.safe_load(original) or {}) if original.strip() else {}
        existing = current.get("inventory") if isinstance(current, dict) else None
        listed = [existing] if isinstance(existing, str) else existing or []
        same = [x for x in listed if isinstance(x, str)
                and os.path.abspath(os.path.join(config_dir, x)) == os.path.abspath(args.csv)]
        if same:
            text, message = original, _t(lang, "already", config=args.config, csv=rel)
        elif existing is not None:
            print(_t(lang, "other", config=args.config, other=existing, csv=rel), file=sys.stderr)
            return EXIT_CONFIG
        else:
            text = original + ("" if original.endswith("\n") or not original else "\n") + \
                f"inventory: {yaml.safe_dump(rel, default_style=None).splitlines()[0]}\n"
            message = _t(lang, "linked", config=args.config, csv=rel)
    if text != original:
        _write(args.config, text)
    try:
        config = load(args.config, strict=False)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        if text != original:
            if original is None:
                os.unlink(args.config)
            else:
                _write(args.config, original)
            print(_t(lang, "restored", config=args.config), file=sys.stderr)
        return EXIT_CONFIG
    yaml_ids = {t.get("id") for t in (yaml.safe_load(original or "") or {}).get("targets", []) or []
                if isinstance(t, dict)} if original else set()
    merged = sum(1 for r in rows if r.target["id"] in yaml_ids)
    print(message)
    print(_t(lang, "summary", n=len(rows), csv=rel, merged=merged, config=args.config))
    for note in config.notes:
        print(f"note: {note}")
    return EXIT_OK


def _write(path: str, text: str) -> None:
    """Replace the file whole (a crash leaves the old or the new one, never half)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    if os.path.exists(path):
        os.chmod(tmp, os.stat(path).st_mode & 0o777)
    os.replace(tmp, path)
