"""Signed acknowledgement links: a token bound to one incident and one recipient, expiring; pure (no I/O)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import functools
import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from netwatch.store import StoreLocation
    from netwatch.config import Config

log = logging.getLogger(__name__)

TOKEN_MAX_CHARS = 400
MAC_BYTES = 16          # 128-bit tag: forging one is out of reach, and the link stays short enough to tap


@dataclass(frozen=True)
class Claim:
    """What a valid token grants: acknowledging `incident` as `recipient` (a channel id) until `expires_at`."""

    incident: int
    recipient: str
    expires_at: float
    nonce: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(key: bytes, incident: int, recipient: str, expires_at: float, nonce: str | None = None) -> str:
    payload = json.dumps([incident, recipient, int(expires_at), nonce or secrets.token_urlsafe(6)],
                         separators=(",", ":"), ensure_ascii=True).encode()
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]
    return f"{_b64(payload)}.{_b64(mac)}"


def verify(key: bytes, token: str, now: float) -> Claim | str:
    """The claim, or why not: 'bad' (forged, cut or altered) or 'expired'."""
    if not token or len(token) > TOKEN_MAX_CHARS or token.count(".") != 1:
        return "bad"
    body, tag = token.split(".")
    try:
        payload, mac = _unb64(body), _unb64(tag)
    except (ValueError, TypeError):
        return "bad"
    if not hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).digest()[:MAC_BYTES]):
        return "bad"
    try:
        incident, recipient, expires_at, nonce = json.loads(payload)
    except (ValueError, TypeError):
        return "bad"
    if not (isinstance(incident, int) and isinstance(recipient, str) and isinstance(expires_at, int)):
        return "bad"
    if now >= expires_at:
        return "expired"
    return Claim(incident, recipient, float(expires_at), str(nonce))


# ---------------------------------------------------------------- the key (I/O at the edge)

KEY_BYTES = 32


def key_path(store: "str | StoreLocation", config_path: str) -> str:
    """Next to a SQLite history store (it lives as long as the incidents the links name), else (PostgreSQL)
    next to the config."""
    import os

    store = store if isinstance(store, str) else (store.path or "")
    if "://" not in store and store not in ("", ":memory:"):
        return os.path.join(os.path.dirname(os.path.abspath(store)), ".netwatch-ack.key")
    return os.path.join(os.path.dirname(os.path.abspath(config_path)), ".netwatch-ack.key")


def load_key(path: str) -> bytes:
    """The signing key, created once (0600) so links survive a restart; a short or unreadable file is an error."""
    import os

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path, "rb") as f:
            key = f.read(KEY_BYTES + 1)
        if len(key) != KEY_BYTES:
            raise OSError(f"{path}: not a {KEY_BYTES}-byte acknowledgement key; delete it to make a new one")
        return key
    key = secrets.token_bytes(KEY_BYTES)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


@functools.lru_cache(maxsize=4)
def _cached_key(path: str) -> bytes:
    return load_key(path)


def key_of(store: "str | StoreLocation", config_path: str) -> bytes:
    return _cached_key(key_path(store, config_path))


def maker(config: Callable[[], "Config"], clock: Callable[[], float]) -> Callable[[int, str], str]:
    """Links for the outbox: one token per incident and recipient channel, valid for board.ack_link_lifetime."""
    def link(incident: int, channel: str) -> str:
        cfg = config()
        try:
            key = key_of(cfg.store, cfg.path)
        except OSError as exc:
            log.error("acknowledgement links are off: %s", exc)
            return ""
        token = sign(key, incident, channel, clock() + cfg.board.ack_link_lifetime)
        # `listen_tls` arrives with HTTPS for the web side; until then getattr finds none
        return f"{cfg.board.link_base(cfg.listen, bool(getattr(cfg, 'listen_tls', None)))}/ack/{token}"
    return link
