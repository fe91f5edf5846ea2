"""The `store:` key: a SQLite file path, a `postgresql://` URL, or `{url: ..., password_file: PATH}`."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from netwatch.fields import MISSING, Converter, FieldError, Secret

SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class StoreSpec:
    """Where history lives. `url` never holds the password; `str()` is safe to print and log."""

    path: str | None = None
    url: str | None = None
    password: Secret | None = None

    @property
    def backend(self) -> str:
        return "sqlite" if self.url is None else "postgresql"

    def password_text(self) -> str | None:
        return self.password.reveal() if self.password is not None else None

    def __str__(self) -> str:
        return self.url if self.url is not None else str(self.path)


@dataclass(frozen=True)
class _StoreMapping:
    url: str
    password: Secret | None = None


def _userinfo(url: str) -> tuple[str, str, str | None, str]:
    """(scheme, user, password or None, rest after the `@`), split by hand: a password taken from the
    environment may hold `:`, `/` or `?`, which would derail a URL parser (and its error messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "", "", None, url
    at = rest.rfind("@")
    if at < 0:
        return scheme, "", None, rest
    user, colon, password = rest[:at].partition(":")
    return scheme, user, password if colon else None, rest[at + 1:]


def masked(url: str) -> str:
    """The URL with any password replaced, for error messages about the URL itself."""
    scheme, user, password, rest = _userinfo(url)
    if password is None:
        return url
    return f"{scheme}://{user}:********@{rest}"


def parse_url(url: str, password: Secret | None = None) -> StoreSpec:
    """Split the password off a PostgreSQL URL; FieldError (never quoting the password) when it is unusable."""
    shown = masked(url)
    scheme, user, url_password, rest = _userinfo(url)
    if scheme not in SCHEMES:
        raise FieldError("", f"bad store URL {shown}: use postgresql://USER@HOST:PORT/DATABASE or a file path")
    try:
        parts = urllib.parse.urlsplit(f"{scheme}://{rest}")
        port = parts.port
    except ValueError as exc:
        raise FieldError("", f"bad PostgreSQL URL {shown}: {exc}") from None
    if not parts.hostname:
        raise FieldError("", f"bad PostgreSQL URL {shown}: no host (postgresql://USER@HOST:PORT/DATABASE)")
    database = parts.path.lstrip("/")
    if not database or "/" in database:
        raise FieldError("", f"bad PostgreSQL URL {shown}: name one database after the host, e.g. /netwatch")
    if url_password is not None and password is not None:
        raise FieldError("", "give the password either in the URL or as password/password_file, not both")
    if url_password is not None:
        password = Secret(urllib.parse.unquote(url_password))
    login = urllib.parse.quote(urllib.parse.unquote(user), safe="") + "@" if user else ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = f"{login}{host}" + (f":{port}" if port is not None else "")
    clean = urllib.parse.urlunsplit(("postgresql", netloc, "/" + database, parts.query, ""))
    return StoreSpec(url=clean, password=password)


def convert(conv: Converter, raw: Any, path: tuple[str, ...] = ("store",)) -> StoreSpec:
    """Config value -> StoreSpec; problems are reported at `path` (`store`, `cluster.dsn`), a default returned."""
    if isinstance(raw, dict):
        mapping = conv.dataclass(raw, _StoreMapping, path)
        if mapping is MISSING:
            return StoreSpec(path="netwatch.db")
        url, password, where = mapping.url, mapping.password, path + ("url",)
    elif isinstance(raw, str) and raw.strip():
        text = conv.src.interpolate(raw, path)
        if "://" not in text:
            return StoreSpec(path=text)
        url, password, where = text, None, path
    else:
        conv.src.error(path, "give a file path (SQLite), a postgresql:// URL, or {url: ..., password_file: PATH}")
        return StoreSpec(path="netwatch.db")
    try:
        spec = parse_url(url.strip(), password)
    except FieldError as exc:
        conv.src.error(where, exc.message)
        return StoreSpec(path="netwatch.db")
    if spec.password:
        conv.src.secrets.add(spec.password.reveal())  # a literal password in the URL is redacted like ${ENV}
    return spec
