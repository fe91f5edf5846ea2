"""Bearer tokens (operators, board viewers, the relay): generated at random, refused at load when guessable."""

from __future__ import annotations

import math
import secrets
import string

MIN_CHARS = 16
MIN_BITS = 64.0
# A token that is one of these (whatever the case, digits and punctuation aside) is the first thing guessed.
_COMMON = frozenset({"password", "passwort", "matkhau", "secret", "token", "admin", "administrator", "changeme",
                     "letmein", "qwerty", "qwertyuiop", "asdfgh", "netwatch", "operator", "viewer", "welcome",
                     "default", "iloveyou", "abc", "test", "guest", "root", "toor", "master", "monkey", "dragon"})


def generate() -> str:
    """A fresh token: 32 random bytes, URL-safe base64 (43 characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def estimated_bits(token: str) -> float:
    """A deliberately pessimistic strength estimate: characters that repeat or continue a run (`aaaa`,
    `1234`, `fedc`) add nothing, the rest add log2 of the alphabet their character classes span."""
    pool = 0
    for chars in (string.ascii_lowercase, string.ascii_uppercase, string.digits):
        if any(ch in chars for ch in token):
            pool += len(chars)
    if any(not ch.isascii() or not ch.isalnum() for ch in token):
        pool += 33
    effective = 0
    for i, ch in enumerate(token):
        if i and abs(ord(ch) - ord(token[i - 1])) <= 1:
            continue   # a repeat or the next step of a sequence
        effective += 1
    return effective * math.log2(max(pool, 2))


def weakness(token: str) -> str | None:
    """Why `token` is guessable, or None. The messages never quote the token."""
    hint = "generate one with `netwatch operator token`"
    if len(token) < MIN_CHARS:
        return f"too short: use at least {MIN_CHARS} random characters ({hint})"
    if "".join(ch for ch in token.lower() if ch.isalpha()) in _COMMON or len(set(token)) < 6:
        return f"guessable: a common word or too few different characters ({hint})"
    if estimated_bits(token) < MIN_BITS:
        return f"guessable: runs or repeats leave less than {MIN_BITS:g} bits of randomness ({hint})"
    return None
