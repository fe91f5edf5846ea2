"""A small, capped cookie jar for multi-step web checks (RFC 6265 domain, path and Secure rules)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # the HTTP client keeps a jar per fetch: it imports this module
    from netwatch.net.http import Url

MAX_COOKIES = 50
MAX_COOKIE_BYTES = 4096


@dataclass
class Cookie:
    name: str
    value: str
    domain: str          # lower-case, no leading dot
    host_only: bool      # no Domain attribute: this exact host only
    path: str
    secure: bool
    expires_at: float | None


class CookieJar:
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.cookies: list[Cookie] = []
        self.clock = clock or time.time

    def update(self, url: Url, headers: list[tuple[str, str]]) -> None:
        """Take every Set-Cookie of a response to `url`; bad or foreign cookies are ignored."""
        for key, value in headers:
            if key == "set-cookie" and len(value) <= MAX_COOKIE_BYTES:
                cookie = self._parse(url, value)
                if cookie is not None:
                    self._store(cookie)

    def header(self, url: Url) -> str | None:
        """The Cookie header for a request to `url`, or None."""
        now = self.clock()
        host = url.host.lower()
        path = url.target.split("?", 1)[0] or "/"
        chosen = [c for c in self.cookies
                  if (c.expires_at is None or c.expires_at > now)
                  and (host == c.domain if c.host_only else _domain_match(host, c.domain))
                  and _path_match(path, c.path)
                  and (url.scheme == "https" or not c.secure)]
        chosen.sort(key=lambda c: -len(c.path))
        return "; ".join(f"{c.name}={c.value}" for c in chosen) or None

    def _store(self, cookie: Cookie) -> None:
        self.cookies = [c for c in self.cookies
                        if not (c.name == cookie.name and c.domain == cookie.domain and c.path == cookie.path)]
        if cookie.expires_at is not None and cookie.expires_at <= self.clock():
            return  # a deletion
        self.cookies.append(cookie)
        del self.cookies[:-MAX_COOKIES]

    def _parse(self, url: Url, text: str) -> Cookie | None:
        parts = text.split(";")
        name, sep, value = parts[0].partition("=")
        name, value = name.strip(), value.strip().strip('"')
        if not sep or not name or any(ch in name + value for ch in "\r\n\0 ,\t"):
            return None
        host = url.host.lower()
        domain, host_only, path, secure, expires_at = host, True, _default_path(url), False, None
        for attr in parts[1:]:
            key, _, val = attr.partition("=")
            key, val = key.strip().lower(), val.strip()
            if key == "domain" and val:
                wanted = val.lstrip(".").lower()
                if not _domain_match(host, wanted):
                    return None  # a site may not set cookies for another one
                domain, host_only = wanted, False
            elif key == "path" and val.startswith("/"):
                path = val
            elif key == "secure":
                secure = True
            elif key == "max-age":
                try:
                    expires_at = self.clock() + int(val)
                except ValueError:
                    pass
            elif key == "expires" and expires_at is None:
                try:
                    expires_at = parsedate_to_datetime(val).timestamp()
                except (TypeError, ValueError, IndexError, OverflowError):
                    pass
        return Cookie(name, value, domain, host_only, path, secure, expires_at)


def _domain_match(host: str, domain: str) -> bool:
    return host == domain or (host.endswith("." + domain) and not host.replace(".", "").isdigit())


def _path_match(path: str, cookie_path: str) -> bool:
    if path == cookie_path:
        return True
    if path.startswith(cookie_path):
        return cookie_path.endswith("/") or path[len(cookie_path)] == "/"
    return False


def _default_path(url: Url) -> str:
    path = url.target.split("?", 1)[0]
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rindex("/")]
