"""Commands: `netwatch operator token` (a fresh random token) and `netwatch operator hash` (a password hash)."""

from __future__ import annotations

import argparse
import getpass
import sys

from netwatch.alerting.operators import hash_password
from netwatch.config import tokens
from netwatch.i18n import Lang

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "token_hint": "Token mới (256 bit ngẫu nhiên). Đặt vào biến môi trường hoặc tệp bí mật, ví dụ "
                      "operators: [{{name: an, token: \"${{NETWATCH_TOKEN_AN}}\"}}]; không ghi thẳng vào cấu hình.",
        "password": "Mật khẩu: ",
        "again": "Nhập lại: ",
        "mismatch": "hai lần nhập không khớp",
        "empty": "mật khẩu trống",
        "hash_hint": "Dán vào cấu hình: password_hash: \"...\"",
    },
    "en": {
        "token_hint": "A new token (256 random bits). Put it in an environment variable or a secret file, e.g. "
                      "operators: [{{name: an, token: \"${{NETWATCH_TOKEN_AN}}\"}}]; never in the config itself.",
        "password": "Password: ",
        "again": "Again: ",
        "mismatch": "the two entries differ",
        "empty": "empty password",
        "hash_hint": "Paste into the config: password_hash: \"...\"",
    },
}


def tr(key: str, lang: Lang) -> str:
    return TEXTS.get(lang, TEXTS["en"])[key].format()


def cmd_token(args: argparse.Namespace) -> int:
    print(tokens.generate())
    print(tr("token_hint", args.lang), file=sys.stderr)
    return 0


def cmd_hash(args: argparse.Namespace) -> int:
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(tr("password", args.lang))
        if getpass.getpass(tr("again", args.lang)) != password:
            print(tr("mismatch", args.lang), file=sys.stderr)
            return 1
    if not password:
        print(tr("empty", args.lang), file=sys.stderr)
        return 1
    print(hash_password(password))
    print(tr("hash_hint", args.lang), file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("operator", help="credentials for operators: a random token, or a password hash")
    osub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    t = osub.add_parser("token", help="print a new random token (for operators, board.viewer_token, the relay)")
    t.set_defaults(func=cmd_token)
    h = osub.add_parser("hash", help="print the password_hash of a password read from the terminal")
    h.add_argument("--stdin", action="store_true", help="read the password from standard input instead")
    h.set_defaults(func=cmd_hash)
