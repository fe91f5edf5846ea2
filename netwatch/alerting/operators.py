"""Operators and the audit log: who may change state, and the record of every change."""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import os
import socket
import time

from netwatch.config.paging import ROLE_RANK, Operator, Paging
from netwatch.store.db import Tx
from netwatch.store.operators import record_audit

PBKDF2_ITERATIONS = 200_000


def audit(tx: Tx, who: str, action: str, what: str, source: str, now: float | None = None) -> None:
    """Record one state-changing action (ack, maintenance, baseline approval, config freeze)."""
    record_audit(tx, who, action, what, source, time.time() if now is None else now)


def hash_password(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """`pbkdf2_sha256$ITERATIONS$SALT$HASH` (base64), the form `password_hash` takes in config."""
    salt = salt or os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(stored: str, password: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        got = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
        return hmac.compare_digest(got, base64.b64decode(digest))
    except (ValueError, TypeError):
        return False


def authenticate(paging: Paging, token: str | None = None, name: str | None = None,
                 password: str | None = None) -> Operator | None:
    """The operator a bearer token, or a name and password, belongs to; None when neither matches."""
    for op in paging.operators.values():
        if token and op.token is not None and hmac.compare_digest(op.token.reveal().encode(), token.encode()):
            return op
        if (name and password and op.name == name and op.password_hash is not None
                and verify_password(op.password_hash.reveal(), password)):
            return op
    return None


def allowed(op: Operator | None, role: str) -> bool:
    return op is not None and ROLE_RANK[op.role] >= ROLE_RANK[role]


def cli_operator(paging: Paging, name: str | None, role: str = "operator") -> tuple[str | None, str]:
    """(operator name, error) for a command run on the host.

    Trust on the host is file-system access to the store; with operators configured the name must
    still be one of them with the role, so the audit log names a real account.
    """
    if not paging.operators:
        return name or getpass.getuser(), ""
    if not name:
        return None, f"give --by NAME (operators: {', '.join(sorted(paging.operators))})"
    op = paging.operators.get(name)
    if op is None:
        return None, f"unknown operator {name!r}"
    if not allowed(op, role):
        return None, f"operator {name!r} is a {op.role}; this needs {role}"
    return op.name, ""


def cli_source() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"cli:{user}@{socket.gethostname()}"
