"""Turn raw device output into stable, secret-free configuration text before it is hashed or stored."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

MASK = "<removed>"

# A token that follows a secret keyword: a quoted string (Juniper) or a run of non-blanks without
# Juniper's trailing `;`. `[ \t]` instead of `\s` so a keyword at the end of a line never reaches into
# the next line.
_TOKEN = r'("[^"\n]*"|[^\s;]+)'
# Encoding and type words that sit between a keyword and its secret (`secret 5 $1$..`,
# `password irreversible-cipher ..`, `pre-shared-key ascii-text ".."`, `key 7 ..`).
_QUALIFIERS = (r"(?:[ \t]+(?:[0-9]|level[ \t]+\d+|cipher|irreversible-cipher|simple|plain|plain-text|"
               r"encrypted|hidden|ascii|ascii-text|hex|hexadecimal|md5|sha|sha1|sha256|hmac-sha1|"
               r"hmac-sha-256|local|remote|read|write))*")

# Cisco IOS/NX-OS, Huawei VRP and Junos lines that carry secrets. Each pattern's capture groups are
# replaced (the whole match when it has none); the rest of the line stays, so a change of e.g. an
# SNMP community's RO/RW flag is still seen as drift.
DEFAULT_MASKS: tuple[str, ...] = (
    # password / secret, also `encrypted-password`, `authentication-password`, `privacy-password`
    r"(?<![\w-])(?:[\w-]*-)?(?:password|passwd|secret|passphrase)" + _QUALIFIERS + r"[ \t]+" + _TOKEN,
    # key, key-string, authentication-key, message-digest-key 1 md5 7 .., pre-shared-key, wpa-psk
    r"(?<![\w])(?:[\w-]*-)?(?:key|key-string|psk)(?:[ \t]+\d{1,3}(?=[ \t]+(?:md5|sha\S*)))?"
    + _QUALIFIERS + r"[ \t]+" + _TOKEN,
    # snmp-server community X RO / snmp-agent community read cipher X / Junos `community X {`;
    # not BGP communities (`set community 65000:100`) nor `send-community`.
    r"(?<![\w-])community" + _QUALIFIERS + r"[ \t]+(?!\d+:\d+\b)" + _TOKEN,
    # snmp-server host ADDR [informs|traps] [version 1|2c|3 [auth|noauth|priv]] COMMUNITY
    r"\bsnmp-server[ \t]+host[ \t]+\S+(?:[ \t]+(?:informs|traps|version|1|2c|3|auth|noauth|priv))*[ \t]+"
    + _TOKEN,
    # snmp-server user U G v3 auth sha AUTHPASS priv aes 128 PRIVPASS
    r"(?<![\w-])auth[ \t]+(?:md5|sha\S*)[ \t]+" + _TOKEN,
    r"(?<![\w-])priv[ \t]+(?:(?:des|3des|aes|\d+)[ \t]+)*" + _TOKEN,
    # Huawei `cipher X` wherever it appears (`authentication-mode md5 1 cipher X`)
    r"(?<![\w-])cipher[ \t]+" + _TOKEN,
    # ArubaOS `mgmt-user NAME [ROLE] HASH`; Aruba Instant `wpa-passphrase X` is caught above
    r"\bmgmt-user[ \t]+\S+[ \t]+(?:\S+[ \t]+)?" + _TOKEN,
    # Huawei plain `snmp-agent usm-user v3 U authentication-mode sha X privacy-mode aes128 Y`
    # (a `cipher X` form is caught below; a numeric key id is kept)
    r"(?<![\w-])(?:authentication|privacy)-mode[ \t]+(?:md5|sha\S*|aes\d*|des\S*|3des)[ \t]+"
    r"(?!cipher\b)(?!\d{1,3}\b)" + _TOKEN,
    # PEM private keys pasted into a configuration
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY-----",
)

# Lines that change without anyone changing the configuration (timestamps, byte counts, clock
# drift); dropped before hashing so they never make a new version.
DEFAULT_IGNORE: tuple[str, ...] = (
    r"^! Last configuration change at ",
    r"^! NVRAM config last updated at ",
    r"^! No configuration change since last restart",
    r"^ntp clock-period ",
    r"^Building configuration\.\.\.",
    r"^Current configuration ?: \d+ bytes",
    r"^!Last configuration was (?:updated|saved) at ",
    r"^!Time: ",
    r"^## Last (?:changed|commit): ",
    r"^\s*$",
)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class Masker:
    """Compiled mask and ignore patterns; `apply` is the one way text reaches hashing and storage."""

    masks: tuple[re.Pattern[str], ...]
    ignore: tuple[re.Pattern[str], ...]
    literals: tuple[str, ...] = ()

    @staticmethod
    def build(masks: Iterable[str], ignore: Iterable[str], literals: Iterable[str] = ()) -> "Masker":
        return Masker(tuple(re.compile(p, re.MULTILINE | re.IGNORECASE) for p in masks),
                      tuple(re.compile(p) for p in ignore),
                      tuple(sorted((s for s in literals if len(s) >= 3), key=len, reverse=True)))

    def apply(self, raw: bytes | str) -> str:
        return mask(normalise(raw, self.ignore), self.masks, self.literals)


def normalise(raw: bytes | str, ignore: Iterable[re.Pattern[str]] = ()) -> str:
    """Decode, drop terminal noise and volatile lines, so the same config always gives the same text."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    text = _ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    patterns = tuple(ignore)
    lines = [line.rstrip() for line in text.splitlines()]
    kept = [line for line in lines if not any(p.search(line) for p in patterns)]
    return "\n".join(kept) + "\n" if kept else ""


def mask(text: str, patterns: Iterable[re.Pattern[str]], literals: Iterable[str] = ()) -> str:
    """Replace every secret the patterns find (their groups, else the whole match) and every literal."""
    for pattern in patterns:
        text = pattern.sub(_replacer, text)
    for literal in literals:
        text = text.replace(literal, MASK)
    return text


def _replacer(m: re.Match[str]) -> str:
    if m.re.groups == 0:
        return MASK
    whole = m.group(0)
    start = m.start(0)
    out: list[str] = []
    pos = 0
    for i in range(1, m.re.groups + 1):
        if m.start(i) < 0:
            continue
        a, b = m.start(i) - start, m.end(i) - start
        if a < pos:
            continue  # nested group already replaced with its parent
        out.append(whole[pos:a])
        out.append(MASK)
        pos = b
    out.append(whole[pos:])
    return "".join(out)


def check_patterns(patterns: Iterable[str]) -> str | None:
    """The first problem with user-given regular expressions, or None."""
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            return f"{p!r} is not a valid regular expression: {exc}"
    return None
