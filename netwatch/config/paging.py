"""Config sections for paging: channels, maintenance, on-call roster, escalation, operators."""

from __future__ import annotations

import urllib.parse
import zoneinfo
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Mapping, Optional

from netwatch.windows import Repeat, Window, window
from netwatch.config import tokens
from netwatch.fields import Duration, FieldError, Secret
from netwatch.net.resolver import TIMEOUT_SECONDS as RESOLVER_TIMEOUT_SECONDS
from netwatch.yamlsource import Path, Source

Severity = Literal["warning", "critical"]
Role = Literal["viewer", "operator", "admin"]
ROLE_RANK = {"viewer": 0, "operator": 1, "admin": 2}


# Schemes netwatch posts itself (apprise's payload, but with the status code and Retry-After seen).
NATIVE = {"json": ("http", "json"), "jsons": ("https", "json"), "form": ("http", "form"),
          "forms": ("https", "form")}

def check_url(url: str) -> str | None:
    """A reader's message if apprise cannot use this URL, else None."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if not scheme:
        return "not an apprise URL (e.g. tgram://TOKEN/CHAT, json://host:port/path)"
    if scheme in NATIVE:
        parts = urllib.parse.urlsplit(url)
        return None if parts.hostname else "missing host"
    import apprise

    if apprise.Apprise.instantiate(url, suppress_exceptions=True) is None:
        return f"apprise does not accept this {scheme}:// URL"
    return None


@dataclass(frozen=True)
class SmsOptions:
    strip_diacritics: bool = False
    max_segments: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.max_segments <= 10:
            raise FieldError("max_segments", "must be between 1 and 10")


@dataclass(frozen=True)
class ModemSpec:
    """A GSM/4G modem on a serial port: the out-of-band path when the uplink is down."""

    device: str
    to: tuple[str, ...]
    baud: int = 115200
    pin: Optional[Secret] = None
    # Read incoming SMS: "OK 12" from a roster contact's phone acknowledges incident 12.
    replies: bool = False
    replies_every: Duration = Duration(5)

    def __post_init__(self) -> None:
        if self.replies_every <= 0:
            raise FieldError("replies_every", "must be greater than zero")
        if not self.to:
            raise FieldError("to", "give at least one phone number")
        for number in self.to:
            if not number.lstrip("+").isdigit():
                raise FieldError("to", f"bad phone number {number!r}: digits with an optional leading +")


@dataclass(frozen=True)
class Channel:
    """One way to reach people: apprise URLs (chat, e-mail, HTTP SMS gateways) or a modem."""

    urls: tuple[Secret, ...] = ()
    modem: Optional[ModemSpec] = None
    lang: Literal["vi", "en"] = "vi"
    sms: Optional[SmsOptions] = None
    fallback: Optional[str] = None
    fallback_after: Duration = Duration(120)
    timeout: Duration = Duration(10)
    rate_per_minute: int = 10
    burst: int = 3
    group_wait: Duration = Duration(1)
    id: str = ""

    def __post_init__(self) -> None:
        if not self.urls and self.modem is None:
            raise FieldError("urls", "give urls (apprise URLs) or a modem")
        if self.rate_per_minute < 1:
            raise FieldError("rate_per_minute", "must be at least 1")
        if self.burst < 1:
            raise FieldError("burst", "must be at least 1")
        # The upper bound (one check interval, at least 2 s) needs the checks: netwatch.config checks it.
        if self.group_wait < 0:
            raise FieldError("group_wait", "must not be negative")
        if self.timeout <= 0:
            raise FieldError("timeout", "must be greater than zero")
        for i, url in enumerate(self.urls):
            problem = check_url(url.reveal())
            if problem:
                raise FieldError(f"urls.{i}", problem)


@dataclass(frozen=True)
class MaintenanceSpec:
    start: str
    end: str
    repeat: Repeat = "none"
    until: Optional[str] = None
    targets: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    reason: str = ""
    id: str = ""


@dataclass(frozen=True)
class Maintenance:
    """A resolved window and what it covers (nothing listed = everything)."""

    id: str
    window: Window
    targets: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    reason: str = ""

    def covers(self, check_id: str, target_id: str, zone: str) -> bool:
        if not (self.targets or self.zones or self.checks):
            return True
        return (target_id in self.targets or (bool(zone) and zone in self.zones)
                or any(check_id == c or check_id.startswith(c + "/") for c in self.checks))


@dataclass(frozen=True)
class Contact:
    id: str
    name: str = ""
    phone: str = ""
    chat: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    notify: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShiftSpec:
    contact: str
    start: str
    end: str
    repeat: Repeat = "none"
    until: Optional[str] = None
    role: str = "primary"


@dataclass(frozen=True)
class Shift:
    contact: str
    role: str
    window: Window


@dataclass(frozen=True)
class OncallSpec:
    contacts: tuple[Contact, ...] = ()
    shifts: tuple[ShiftSpec, ...] = ()


@dataclass(frozen=True)
class Level:
    """One escalation step: `after` the incident opened and nobody acknowledged it."""

    after: Duration = Duration(0)
    notify: tuple[str, ...] = ()
    oncall: tuple[str, ...] = ()      # roster roles (primary, lead, ...) whose on-duty contacts are told


@dataclass(frozen=True)
class Operator:
    name: str
    role: Role = "operator"
    token: Optional[Secret] = None
    password_hash: Optional[Secret] = None

    def __post_init__(self) -> None:
        if self.password_hash is not None:
            parts = self.password_hash.reveal().split("$")
            if len(parts) != 4 or parts[0] != "pbkdf2_sha256" or not parts[1].isdigit():
                raise FieldError("password_hash", "expected pbkdf2_sha256$ITERATIONS$SALT$HASH "
                                                  "(netwatch.alerting.operators.hash_password)")
        problem = tokens.weakness(self.token.reveal()) if self.token is not None else None
        if problem:
            raise FieldError("token", problem)


@dataclass(frozen=True)
class FlapSpec:
    # Defaults catch a link down 6 s in every 10 s at a 1 s interval (score 0.21 over 30 results) while a
    # blip followed by a real outage (3 changes, 0.12) still pages at once; Nagios' 0.5 missed the bounce.
    window: int = 30
    high: float = 0.2
    low: float = 0.1

    def __post_init__(self) -> None:
        if not 3 <= self.window <= 100:
            raise FieldError("window", "must be between 3 and 100 results")
        if not 0 < self.low < self.high <= 1:
            raise FieldError("low", "need 0 < low < high <= 1")


@dataclass(frozen=True)
class SelfWatchSpec:
    """Bounds past which netwatch pages "monitoring degraded" about itself (docs/operations.md).

    With self-watch looking every 0.5 s, the defaults see a stalled store or resolver within 10 s.
    """

    store_stall: Duration = Duration(5)        # a write waiting this long: the store is locked or hung
    resolver_stall: Duration = Duration(8)     # a lookup unfinished this long (twice the resolver's timeout)
    delivery_backlog: Duration = Duration(300)  # a notice waiting this long in the outbox
    loop_lag: Duration = Duration(2)           # the watch task's 0.5 s sleep overshot by this much
    skipped_runs_ratio: float = 0.01           # skipped / (run + skipped) between two looks, over at least...
    skipped_runs_min: int = 5                  # ...this many skipped runs: one late run after a pause is no alarm

    def __post_init__(self) -> None:
        for name in ("store_stall", "resolver_stall", "delivery_backlog", "loop_lag"):
            value = getattr(self, name)
            if not 0 < value <= 86400:
                raise FieldError(name, "must be greater than 0s and at most 1d")
        if self.resolver_stall <= RESOLVER_TIMEOUT_SECONDS:
            raise FieldError("resolver_stall", f"must be longer than the resolver's own timeout "
                                               f"({RESOLVER_TIMEOUT_SECONDS:g}s), or every slow lookup alarms")
        if not 0 < self.skipped_runs_ratio <= 1:
            raise FieldError("skipped_runs_ratio", "must be greater than 0 and at most 1")
        if self.skipped_runs_min < 1:
            raise FieldError("skipped_runs_min", "must be at least 1")


@dataclass(frozen=True)
class HeartbeatSpec:
    url: Secret
    every: Duration = Duration(60)
    timeout: Duration = Duration(10)

    def __post_init__(self) -> None:
        # A plain GET: an apprise-style json:// URL would fail every beat, silently.
        parts = urllib.parse.urlsplit(self.url.reveal())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FieldError("url", "must be an http:// or https:// URL with a host")


@dataclass(frozen=True)
class RelaySpec:
    token: Optional[Secret] = None
    notify: Optional[tuple[str, ...]] = None

    def __post_init__(self) -> None:
        problem = tokens.weakness(self.token.reveal()) if self.token is not None else None
        if problem:
            raise FieldError("token", problem)


@dataclass(frozen=True)
class PagingSpec:
    flapping: FlapSpec = FlapSpec()
    heartbeat: Optional[HeartbeatSpec] = None
    alertmanager: RelaySpec = RelaySpec()
    self_notify: Optional[tuple[str, ...]] = None
    security_notify: tuple[str, ...] = ()     # told of security incidents too, besides the usual channels
    reboots: bool = True                      # page a device reboot (sysUpTime reset, coldStart/warmStart trap)
    backoff_initial: Duration = Duration(1)
    backoff_max: Duration = Duration(300)
    lag_alarm: Duration = Duration(30)
    self_watch: SelfWatchSpec = SelfWatchSpec()


@dataclass(frozen=True)
class Paging:
    """Everything paging needs, resolved and cross-checked against targets and checks."""

    channels: Mapping[str, Channel] = field(default_factory=lambda: MappingProxyType({}))
    maintenance: tuple[Maintenance, ...] = ()
    contacts: Mapping[str, Contact] = field(default_factory=lambda: MappingProxyType({}))
    shifts: tuple[Shift, ...] = ()
    escalation: Mapping[str, tuple[Level, ...]] = field(default_factory=lambda: MappingProxyType({}))
    operators: Mapping[str, Operator] = field(default_factory=lambda: MappingProxyType({}))
    spec: PagingSpec = PagingSpec()

    def on_duty(self, ts: float, role: str | None = None) -> list[Contact]:
        out = []
        for s in self.shifts:
            if (role is None or s.role == role) and s.window.active(ts) and s.contact in self.contacts:
                contact = self.contacts[s.contact]
                if contact not in out:
                    out.append(contact)
        return out


def resolve(src: Source, raw: Mapping[str, Any], channels: Mapping[str, Channel],
            maintenance: tuple[MaintenanceSpec, ...], oncall: OncallSpec,
            escalation: Mapping[str, tuple[Level, ...]], operators: tuple[Operator, ...],
            spec: PagingSpec, tz: zoneinfo.ZoneInfo, target_ids: set[str], zone_ids: set[str],
            check_ids: set[str]) -> Paging:
    """Cross-check the paging sections (unknown channel, target, contact...) and build Paging."""
    raw_channels = raw.get("channels")
    # A channel that failed its own checks is still a known name: one mistake, one message.
    names = set(channels) | (set(raw_channels) if isinstance(raw_channels, dict) else set())

    def known_channels(values: Any, path: Path) -> None:
        if not isinstance(values, list):
            return
        for k, name in enumerate(values):
            if name not in names:
                src.error(path + (k,), f"unknown channel {name!r} (channels: {', '.join(sorted(names)) or 'none'})")

    resolved_channels = {}
    for name, ch in channels.items():
        if ch.fallback is not None and ch.fallback not in names:
            src.error(("channels", name, "fallback"), f"unknown channel {ch.fallback!r}")
        if ch.fallback == name:
            src.error(("channels", name, "fallback"), "a channel cannot be its own fallback")
        resolved_channels[name] = Channel(**{**ch.__dict__, "id": name})
    defaults = raw.get("defaults") or {}
    if isinstance(defaults, dict) and isinstance(defaults.get("alert"), dict):
        known_channels(defaults["alert"].get("notify"), ("defaults", "alert", "notify"))
    for i, t in enumerate(raw.get("targets") or []):
        if not isinstance(t, dict) or not isinstance(t.get("checks"), list):
            continue
        for j, c in enumerate(t["checks"]):
            if isinstance(c, dict) and isinstance(c.get("alert"), dict):
                known_channels(c["alert"].get("notify"), ("targets", i, "checks", j, "alert", "notify"))
    windows = []
    for i, m in enumerate(maintenance):
        path: Path = ("maintenance", i)
        try:
            w = window(m.start, m.end, tz, m.repeat, m.until)
        except ValueError as exc:
            src.error(path, f"bad window: {exc}")
            continue
        for key, ids, what in (("targets", target_ids, "target"), ("zones", zone_ids, "zone"),
                               ("checks", check_ids, "check")):
            for k, ident in enumerate(getattr(m, key)):
                if ident not in ids:
                    src.error(path + (key, k), f"unknown {what} {ident!r}")
        windows.append(Maintenance(m.id or f"config-{i + 1}", w, m.targets, m.zones, m.checks, m.reason))
    contacts = {}
    for i, c in enumerate(oncall.contacts):
        if c.id in contacts:
            src.error(("oncall", "contacts", i, "id"), f"duplicate contact id {c.id!r}")
        contacts[c.id] = c
        known_channels(list(c.notify), ("oncall", "contacts", i, "notify"))
    shifts = []
    for i, s in enumerate(oncall.shifts):
        path = ("oncall", "shifts", i)
        if s.contact not in contacts:
            src.error(path + ("contact",), f"unknown contact {s.contact!r}")
            continue
        try:
            shifts.append(Shift(s.contact, s.role, window(s.start, s.end, tz, s.repeat, s.until)))
        except ValueError as exc:
            src.error(path, f"bad shift: {exc}")
    roles = {s.role for s in oncall.shifts}
    for severity, levels in escalation.items():
        if severity not in ("warning", "critical"):
            src.error(("escalation", severity), "escalation is per severity: warning or critical")
        last = -1.0
        for i, level in enumerate(levels):
            known_channels(list(level.notify), ("escalation", severity, i, "notify"))
            for k, role in enumerate(level.oncall):
                if role not in roles:
                    src.error(("escalation", severity, i, "oncall", k), f"no shift has role {role!r}")
            if level.after < last:
                src.error(("escalation", severity, i, "after"), "levels must be in order of `after`")
            last = level.after
    ops = {}
    for i, op in enumerate(operators):
        if op.name in ops:
            src.error(("operators", i, "name"), f"duplicate operator {op.name!r}")
        if op.token is None and op.password_hash is None:
            src.error(("operators", i), "give a token (or token_file) or a password_hash")
        ops[op.name] = op
    if spec.self_notify is not None:
        known_channels(list(spec.self_notify), ("paging", "self_notify"))
    known_channels(list(spec.security_notify), ("paging", "security_notify"))
    if spec.alertmanager.notify is not None:
        known_channels(list(spec.alertmanager.notify), ("paging", "alertmanager", "notify"))
    return Paging(MappingProxyType(resolved_channels), tuple(windows), MappingProxyType(contacts), tuple(shifts),
                  MappingProxyType(dict(escalation)), MappingProxyType(ops), spec)
