"""load(path) -> Config: the venue file parsed once into frozen, validated objects."""

from __future__ import annotations

import dataclasses
import functools
import datetime as dt
import ipaddress
import logging
import urllib.parse
import typing
import os
import re
import zoneinfo
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from netwatch.fields import MISSING, Converter, Duration, FieldError, Secret, unknown_key_message
from netwatch.yamlsource import ConfigError, Path, Problem, Source, parse
from netwatch.config import paging as paging_config
from netwatch.config import cluster as cluster_config
from netwatch.config import store as store_config
from netwatch.config.cluster import ClusterSettings
from netwatch.config.store import StoreSpec
from netwatch.config import tokens
from netwatch.config import profiles
from netwatch.model import AlertPolicy, Check, Target
from netwatch.probes import PROBES
from netwatch.net.snmp.traps import TrapSettings

__all__ = ["StoreSpec", "Config", "ConfigError", "Problem", "load", "loads", "reloaded", "Duration", "Secret",
           "FieldError"]

_log = logging.getLogger(__name__)

# fullmatch, never match(...$): `$` also matches before a final newline, so `host1\n` would pass and
# split every log line that names it.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_CHECK_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/]*")
_ID_MAX_CHARS = 200
_DNS_LABEL_RE = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_\-]{0,61}[A-Za-z0-9_])?")
_CHECK_COMMON = frozenset({"kind", "id", "interval", "timeout", "alert", "vantage", "confirm"})
# Check kinds whose settings name what they contact (a URL, a DNS server): the target needs no host.
_HOST_FREE_KINDS = frozenset({"dns", "http", "http_flow", "web_integrity"})


def _names_own_hosts(raw_check: Mapping[str, Any]) -> bool:
    """A mail round trip whose smtp and imap both name a host does not use the target's."""
    if raw_check.get("kind") != "mail_roundtrip":
        return False
    return all(isinstance(raw_check.get(side), dict) and raw_check[side].get("host") for side in ("smtp", "imap"))


@dataclass(frozen=True)
class Site:
    name: str = "netwatch"
    timezone: str = "Asia/Ho_Chi_Minh"

    def __post_init__(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise FieldError("timezone", f"unknown time zone {self.timezone!r} (e.g. Asia/Ho_Chi_Minh)")

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Zone:
    id: str
    name: str = ""


@dataclass(frozen=True)
class PhaseSpec:
    id: str
    start: str
    end: str
    name: str = ""


@dataclass(frozen=True)
class Phase:
    """A named wall-clock window of the event; instants are Unix seconds."""

    id: str
    name: str
    start: float
    end: float


@dataclass(frozen=True)
class EventSpec:
    name: str = ""
    phases: tuple[PhaseSpec, ...] = ()


@dataclass(frozen=True)
class Event:
    name: str = ""
    phases: tuple[Phase, ...] = ()

    def phase_at(self, ts: float) -> Phase | None:
        for phase in self.phases:
            if phase.start <= ts < phase.end:
                return phase
        return None


@dataclass(frozen=True)
class Retention:
    """How long history is kept: raw results briefly, rollups and transitions for reports."""

    results: Duration = Duration(2 * 86400)
    rollups: Duration = Duration(400 * 86400)


@dataclass(frozen=True)
class ReportDocument:
    """The administrative parts of the báo cáo (Nghị định 30/2020/NĐ-CP): who issues it, its number, who it goes
    to and who signs. Every part left empty prints as a placeholder to fill in by hand."""

    superior: str = ""                 # cơ quan chủ quản, e.g. "UBND TỈNH PHÚ THỌ"
    issuer: str = ""                   # cơ quan ban hành, e.g. "SỞ THÔNG TIN VÀ TRUYỀN THÔNG"
    number: str = ""                   # số, e.g. "125" (empty: "…")
    symbol: str = ""                   # ký hiệu, e.g. "BC-STTTT" (empty: "BC-…")
    place: str = ""                    # địa danh, e.g. "Phú Thọ"
    recipients: tuple[str, ...] = ()   # Kính gửi
    copies: tuple[str, ...] = ()       # Nơi nhận (besides "Như trên" and the archive)
    signer_authority: str = ""         # quyền hạn ký, e.g. "KT. GIÁM ĐỐC"
    signer_title: str = ""             # chức vụ, e.g. "PHÓ GIÁM ĐỐC"
    signer_name: str = ""
    prepared_by: str = ""              # người lập báo cáo
    recommendations: tuple[str, ...] = ()   # kiến nghị, one paragraph each


@dataclass(frozen=True)
class ReportSettings:
    """Availability targets for `netwatch report`, in percent: a default, per zone, per check id; and the
    administrative parts of the document."""

    sla_target: float = 99.9
    zones: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    checks: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    document: ReportDocument = ReportDocument()

    def __post_init__(self) -> None:
        for key, value in (("sla_target", self.sla_target), *((f"zones.{k}", v) for k, v in self.zones.items()),
                           *((f"checks.{k}", v) for k, v in self.checks.items())):
            if not 0 < value <= 100:
                raise FieldError(key, "must be a percentage above 0 and at most 100, e.g. 99.9")


@dataclass(frozen=True)
class BoardSettings:
    """The status board (/board): a viewer token, asked for only when netwatch listens beyond loopback."""

    viewer_token: Secret | None = None
    # The address people type for the board and that acknowledgement links in notices use (a reverse
    # proxy or VPN address; by default the `listen` address). Its host is accepted in the Host header, like
    # `allowed_hosts` (DNS-rebinding defence; IP literals always pass).
    public_url: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    ack_link_lifetime: Duration = Duration(86400)
    recently_resolved: Duration = Duration(1800)   # how long a resolved incident stays listed on the wall

    def __post_init__(self) -> None:
        if self.recently_resolved < 0:
            raise FieldError("recently_resolved", "must be 0 (off) or a duration, e.g. 30m")
        if self.public_url is not None:
            parts = urllib.parse.urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
                raise FieldError("public_url", "use http(s)://HOST[:PORT][/PATH], e.g. https://noc.example.vn")
        for i, name in enumerate(self.allowed_hosts):
            problem = host_error(name)
            if problem:
                raise FieldError(f"allowed_hosts.{i}", problem)
        problem = tokens.weakness(self.viewer_token.reveal()) if self.viewer_token is not None else None
        if problem:
            raise FieldError("viewer_token", problem)
        if self.ack_link_lifetime <= 0:
            raise FieldError("ack_link_lifetime", "must be greater than zero")

    def link_base(self, listen: "Listen", tls: bool = False) -> str:
        """The base of acknowledgement links: public_url, else the listen address (https when it serves TLS)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{listen.host}]" if ":" in listen.host else listen.host
        return f"{'https' if tls else 'http'}://{host}:{listen.port}"


@dataclass(frozen=True)
class Defaults:
    interval: Duration = Duration(30)
    timeout: Duration | None = None
    alert: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class ListenTls:
    """HTTPS for the web side: a PEM certificate chain and its key (TLS 1.2 at least)."""

    cert_file: str
    key_file: str


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    tls: ListenTls | None = None

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        """Bound to this machine only: the board needs no login, the relay no token."""
        return is_loopback(self.host)


def valid_id(ident: str) -> bool:
    """Target and zone ids: they appear in log lines, metric labels and URLs."""
    return bool(_ID_RE.fullmatch(ident)) and len(ident) <= _ID_MAX_CHARS


def host_error(host: str) -> str | None:
    """Why `host` is neither an IP address nor a DNS name, or None. A NUL would cut the name at the
    resolver (`127.0.0.1\\0evil` probes 127.0.0.1) and an overlong one fails deep inside a probe."""
    shown = repr(host[:60]) + ("..." if len(host) > 60 else "")
    if len(host) > 253:
        return f"bad host {shown}: longer than 253 characters"
    if any(not ch.isprintable() or ch.isspace() for ch in host):
        return f"bad host {shown}: control characters or spaces are not allowed"
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    try:
        ascii_name = host.encode("idna").decode("ascii") if not host.isascii() else host
    except UnicodeError:
        return f"bad host {shown}: not an IP address or a DNS name"
    labels = ascii_name[:-1].split(".") if ascii_name.endswith(".") else ascii_name.split(".")
    if len(ascii_name) > 253 or not all(_DNS_LABEL_RE.fullmatch(label) for label in labels):
        return (f"bad host {shown}: not an IP address or a DNS name (labels of letters, digits and '-', "
                "at most 63 characters each)")
    if labels[-1].isdigit():
        return f"bad host {shown}: not a valid IP address"
    return None


def is_loopback(host: str) -> bool:
    """`localhost` or an address in 127.0.0.0/8 or ::1 (a name other than localhost is not trusted)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Config:
    """The whole venue, resolved. Secrets are `Secret` objects; `secrets` lists values to redact."""

    path: str
    site: Site
    listen: Listen
    store: StoreSpec
    defaults: Defaults
    zones: tuple[Zone, ...]
    event: Event
    targets: tuple[Target, ...]
    checks: tuple[Check, ...]
    retention: Retention
    secrets: frozenset[str] = frozenset()
    report: ReportSettings = ReportSettings()
    paging: paging_config.Paging = paging_config.Paging()
    board: BoardSettings = BoardSettings()
    traps: TrapSettings | None = None
    # Said by `check` but not errors: unset secrets when not strict, group-readable secret files.
    notes: tuple[Problem, ...] = ()
    cluster: ClusterSettings | None = None   # None: one process, the single-node default

    def target(self, target_id: str) -> Target | None:
        return next((t for t in self.targets if t.id == target_id), None)

    @functools.cached_property
    def _checks_by_id(self) -> Mapping[str, Check]:
        # Paging looks checks up by id on every result (held pages, cascades): a scan of thousands of
        # checks there made 2,000 held pages starve the event loop (issue 13). The config is frozen, so
        # the index is built once per Config.
        return MappingProxyType({c.id: c for c in self.checks})

    def check(self, check_id: str) -> Check | None:
        return self._checks_by_id.get(check_id)

    def zone_name(self, zone_id: str) -> str:
        return next((z.name or z.id for z in self.zones if z.id == zone_id), zone_id)

    def redact(self, text: str) -> str:
        """Mask every known secret value inside free text (URLs, error details, logs)."""
        return self._secrets_pattern.sub("********", text) if self._secrets_pattern else text

    @functools.cached_property
    def _secrets_pattern(self) -> re.Pattern[str] | None:
        # Built once per config (redact runs on every log line); longest first, so a secret that
        # contains another is masked whole.
        values = sorted((v for v in self.secrets if len(v) >= 3), key=len, reverse=True)
        return re.compile("|".join(re.escape(v) for v in values)) if values else None


@dataclass(frozen=True)
class _Top:
    """The top-level keys; each section is converted by its own type."""

    site: Site = Site()
    listen: str = "127.0.0.1:9800"
    listen_tls: ListenTls | None = None
    store: Any = "netwatch.db"  # a path, a URL or a mapping: see config/store.py
    defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    zones: tuple[Zone, ...] = ()
    event: EventSpec = EventSpec()
    targets: tuple[Any, ...] = ()
    retention: Retention = Retention()
    report: ReportSettings = ReportSettings()
    channels: Mapping[str, paging_config.Channel] = field(default_factory=lambda: MappingProxyType({}))
    maintenance: tuple[paging_config.MaintenanceSpec, ...] = ()
    oncall: paging_config.OncallSpec = paging_config.OncallSpec()
    escalation: Mapping[str, tuple[paging_config.Level, ...]] = field(default_factory=lambda: MappingProxyType({}))
    operators: tuple[paging_config.Operator, ...] = ()
    traps: TrapSettings | None = None
    paging: paging_config.PagingSpec = paging_config.PagingSpec()
    board: BoardSettings = BoardSettings()
    profiles: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # see config.profiles
    inventory: Any = None  # CSV file(s) of targets, read by config.profiles
    cluster: Any = None  # see config/cluster.py


def load(path: str, env: Mapping[str, str] | None = None, strict: bool = True) -> Config:
    """Read and validate a config file; raise ConfigError listing every problem found.

    `strict=False` (plain `netwatch check`) reports unset secrets as `Config.notes` instead: such a
    Config holds stand-in values and is only for validation, never for running.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise ConfigError([Problem(path, 1, 1, "", f"cannot read config: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(path, 1, 1, "", f"config is not UTF-8 text: {exc.reason}")]) from None
    return loads(text, path, env, strict)


RESTART_KEYS = ("store",)   # read once at start; every other section is applied by a reload (listen rebinds)


def reloaded(path: str, running: Config) -> Config | None:
    """What a reload adopts: the file at `path`, with the sections read once at start kept as they run (a change
    to one is logged for the next restart); None when the file is refused (logged with every problem)."""
    try:
        new = load(path)
    except ConfigError as exc:
        _log.error("config reload refused, keeping the running config:\n%s", exc)
        return None
    for key in (k for k in RESTART_KEYS if getattr(new, k) != getattr(running, k)):
        _log.warning("config reload: %s changed; it takes effect at the next restart", key)
    return dataclasses.replace(new, **{k: getattr(running, k) for k in RESTART_KEYS})


def loads(text: str, path: str = "<config>", env: Mapping[str, str] | None = None,
          strict: bool = True) -> Config:
    src = parse(text, path, env, strict)
    src.raise_if_problems()
    if not isinstance(src.value, dict):
        src.error((), "the config must be a mapping of sections (site, zones, targets, ...)")
        src.raise_if_problems()
    profiles.expand(src)
    conv = Converter(src)
    top = _convert_sections(conv, src.value)
    config = _resolve(conv, top)
    src.raise_if_problems()
    assert config is not None
    return dataclasses.replace(config, notes=tuple(src.notes)) if src.notes else config


def _convert_sections(conv: Converter, raw: dict[str, Any]) -> _Top:
    """Convert each top-level section on its own, so one bad section does not hide the others."""
    hints = typing.get_type_hints(_Top)
    known = {f.name for f in dataclasses.fields(_Top)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            conv.error((key,), "unknown top-level " + unknown_key_message(key, sorted(known)))
            continue
        converted = conv.convert(value, hints[key], (key,))
        if converted is not MISSING:
            values[key] = converted
    return _Top(**values)


def _resolve(conv: Converter, top: _Top) -> Config | None:
    src = conv.src
    listen = _parse_listen(src, top.listen)
    if top.listen_tls is not None:
        listen = dataclasses.replace(listen, tls=_resolve_listen_tls(src, top.listen_tls))
    tz = top.site.tz
    defaults = conv.dataclass(dict(src.value.get("defaults") or {}), Defaults, ("defaults",),
                              skip=frozenset({"alert"}))
    default_alert_raw = (src.value.get("defaults") or {}).get("alert") or {}
    if not isinstance(default_alert_raw, dict):
        src.error(("defaults", "alert"), "must be a mapping")
        default_alert_raw = {}
    if defaults is MISSING:
        defaults = Defaults()
    defaults = Defaults(defaults.interval, defaults.timeout, MappingProxyType(dict(default_alert_raw)))
    conv.dataclass(default_alert_raw, AlertPolicy, ("defaults", "alert"))  # report bad defaults once
    if defaults.timeout is not None and defaults.timeout > defaults.interval:
        src.error(("defaults", "timeout"), "timeout must not be longer than the interval")

    zone_ids = _unique_ids(src, [(z.id, ("zones", i, "id")) for i, z in enumerate(top.zones)], "zone")
    for i, z in enumerate(top.zones):
        if not valid_id(z.id):
            src.error(("zones", i, "id"), f"bad zone id {z.id!r}: use letters, digits, '.', '_' or '-'")
    event = _resolve_event(src, top.event, tz)

    zoneless: list[str] = []  # a note, not an error: such a target is on no zone tile and in no zone report
    targets: list[Target] = []
    checks: list[Check] = []
    check_paths: list[Path] = []
    target_paths: dict[str, Path] = {}
    for i, raw in enumerate(top.targets):
        tpath: Path = ("targets", i)
        target = conv.dataclass(raw, Target, tpath, skip=frozenset({"checks"}))
        if target is MISSING:
            continue
        if not valid_id(target.id):
            src.error(tpath + ("id",), f"bad id {target.id!r}: use letters, digits, '.', '_' or '-'")
        host_problem = host_error(target.host) if target.host else None
        if host_problem:
            src.error(tpath + ("host",), host_problem)
        if target.id in target_paths:
            src.error(tpath + ("id",), f"duplicate target id {target.id!r}")
            continue
        if target.zone and target.zone not in zone_ids:
            src.error(tpath + ("zone",), f"unknown zone {target.zone!r} (zones: {', '.join(sorted(zone_ids)) or 'none'})")
        elif not target.zone:
            zoneless.append(target.id)
        target_paths[target.id] = tpath
        targets.append(target)
        raw_checks = raw.get("checks", []) if isinstance(raw, dict) else []
        if not isinstance(raw_checks, list):
            src.error(tpath + ("checks",), "must be a list")
            continue
        needs_host = sorted({c["kind"] for c in raw_checks if isinstance(c, dict) and isinstance(c.get("kind"), str)
                             and c["kind"] not in _HOST_FREE_KINDS and not _names_own_hosts(c)})
        if not target.host and needs_host:
            src.error(tpath, f"missing required key 'host': its {', '.join(needs_host)} checks need an IP "
                             "address or DNS name")
        for j, raw_check in enumerate(raw_checks):
            check = _resolve_check(conv, raw_check, target, defaults, default_alert_raw, tpath + ("checks", j))
            if check is not None:
                checks.append(check)
                check_paths.append(tpath + ("checks", j))

    if zoneless:
        shown = ", ".join(zoneless[:5]) + (f" and {len(zoneless) - 5} more" if len(zoneless) > 5 else "")
        fix = "give each target its `zone:`" if zone_ids else "declare `zones:` and give each target its `zone:`"
        src.note(("targets",), f"no zone for {shown}: the board and reports group by zone ({fix})")
    by_id = {t.id: t for t in targets}
    for t in targets:
        for k, parent in enumerate(t.depends_on):
            if parent not in by_id:
                src.error(target_paths[t.id] + ("depends_on", k), f"unknown target {parent!r}")
            elif parent == t.id:
                src.error(target_paths[t.id] + ("depends_on", k), "a target cannot depend on itself")
    cycle = _find_cycle(by_id)
    if cycle:
        src.error(target_paths[cycle[0]] + ("depends_on",), "dependency cycle: " + " -> ".join(cycle))
    _unique_ids(src, [(c.id, p) for c, p in zip(checks, check_paths)], "check")
    phase_ids = {p.id for p in top.event.phases}
    for check, cpath in zip(checks, check_paths):
        # `freeze_at_phase`, `baseline_at_phase`, ...: a typo would silently never fire.
        for f in dataclasses.fields(check.settings):  # type: ignore[arg-type]
            value = getattr(check.settings, f.name)
            if f.name.endswith("_at_phase") and value is not None and value not in phase_ids:
                src.error(cpath + (f.name,), f"unknown phase {value!r} (phases: "
                                             f"{', '.join(sorted(phase_ids)) or 'none'})")
    for zone_id in top.report.zones:
        if zone_id not in zone_ids:
            src.error(("report", "zones", zone_id), f"unknown zone {zone_id!r}")
    check_ids = {c.id for c in checks}
    for check_id in top.report.checks:
        # Derived checks (an SNMP interface, `<target>/if/<name>`) exist only at run time.
        if check_id not in check_ids and check_id.split("/", 1)[0] not in by_id:
            src.error(("report", "checks", check_id), f"unknown check {check_id!r}")
    store = store_config.convert(conv, top.store)
    cluster = None
    if top.cluster is not None:
        cluster, store = cluster_config.convert(conv, top.cluster, store, "store" in src.value)
    cluster_config.validate_vantages(src, cluster, {c.id: (p, c.vantage) for c, p in zip(checks, check_paths)
                                                    if c.vantage})
    paging = paging_config.resolve(src, src.value, top.channels, top.maintenance, top.oncall, top.escalation,
                                   top.operators, top.paging, tz, set(by_id), zone_ids, {c.id for c in checks})

    cluster_config.validate_channels(src, cluster, paging.channels)
    _validate_group_wait(src, paging.channels, checks, float(defaults.interval))
    return Config(
        path=os.path.abspath(src.file) if src.file != "<config>" else src.file,
        site=top.site, listen=listen, store=store, defaults=defaults,
        zones=top.zones, event=event, targets=tuple(targets), checks=tuple(checks),
        retention=top.retention, secrets=frozenset(src.secrets), report=top.report, paging=paging,
        board=top.board, traps=top.traps, cluster=cluster,
    )


# group_wait may hold a zone's first problem page back by up to one check interval (the shortest one
# configured), so failures of one zone confirmed a little apart leave as one message; never below 2 s.
GROUP_WAIT_FLOOR_SECONDS = 2.0


def group_wait_cap(checks: typing.Sequence[Check], default_interval_seconds: float) -> float:
    shortest = min((c.interval_seconds for c in checks), default=default_interval_seconds)
    return max(GROUP_WAIT_FLOOR_SECONDS, shortest)


def _validate_group_wait(src: Source, channels: Mapping[str, paging_config.Channel], checks: typing.Sequence[Check],
                         default_interval_seconds: float) -> None:
    cap = group_wait_cap(checks, default_interval_seconds)
    for name, ch in channels.items():
        if ch.group_wait > cap:
            src.error(("channels", name, "group_wait"),
                      f"must be between 0s and {cap:g}s: one check interval (the shortest configured, at least "
                      f"{GROUP_WAIT_FLOOR_SECONDS:g}s), as the first page may wait no longer")


def _resolve_check(conv: Converter, raw: Any, target: Target, defaults: Defaults,
                   default_alert_raw: Mapping[str, Any], path: Path) -> Check | None:
    src = conv.src
    if not isinstance(raw, dict):
        src.error(path, "a check must be a mapping with at least a kind")
        return None
    kind = raw.get("kind")
    if kind not in PROBES:
        src.error(path + ("kind",) if "kind" in raw else path,
                  f"unknown check kind {kind!r} (kinds: {', '.join(sorted(PROBES))})" if kind is not None
                  else "missing required key 'kind'")
        return None
    probe_kind = PROBES[kind]
    ok = True
    interval = defaults.interval
    if "interval" in raw:
        value = conv.convert(raw["interval"], Duration, path + ("interval",))
        ok = ok and value is not MISSING
        interval = value if value is not MISSING else interval
    if ok and interval <= 0:
        src.error(path + ("interval",), "interval must be greater than zero")
        ok = False
    timeout: float | None = defaults.timeout
    if "timeout" in raw:
        value = conv.convert(raw["timeout"], Duration, path + ("timeout",))
        ok = ok and value is not MISSING
        timeout = value if value is not MISSING else None
        if timeout is not None and timeout > interval:
            src.error(path + ("timeout",), f"timeout {raw['timeout']} is longer than the interval ({interval:g}s)")
            ok = False
    if timeout is None or timeout > interval:
        timeout = min(probe_kind.default_timeout_seconds, 0.8 * interval)
    check_id = f"{target.id}/{kind}"
    if "id" in raw:
        value = conv.convert(raw["id"], str, path + ("id",))
        if value is MISSING:
            ok = False
        elif not (_CHECK_ID_RE.fullmatch(value) and len(value) <= _ID_MAX_CHARS):
            src.error(path + ("id",), f"bad check id {value!r}")
            ok = False
        else:
            check_id = value
    alert_raw = raw.get("alert") or {}
    if not isinstance(alert_raw, dict):
        src.error(path + ("alert",), "must be a mapping")
        return None
    alert = conv.dataclass({**default_alert_raw, **alert_raw}, AlertPolicy, path + ("alert",))
    settings = conv.dataclass({k: v for k, v in raw.items() if k not in _CHECK_COMMON},
                              probe_kind.settings, path, also_known=_CHECK_COMMON)
    if settings is not MISSING and probe_kind.prepare is not None:
        try:
            settings = probe_kind.prepare(settings, target, os.path.dirname(os.path.abspath(src.file)))
        except FieldError as exc:
            name = exc.field.split(".")[0]
            src.error(path + (name,) if name in raw else path, exc.message)
            settings = MISSING
    vantage: tuple[str, ...] = ()
    confirm: int | None = None
    if "vantage" in raw:
        value = conv.convert(raw["vantage"], tuple[str, ...], path + ("vantage",))
        if value is MISSING:
            ok = False
        elif len(set(value)) != len(value) or not value:
            src.error(path + ("vantage",), "list each site once, e.g. [dc, venue]")
            ok = False
        else:
            vantage = value
    if "confirm" in raw:
        value = conv.convert(raw["confirm"], int, path + ("confirm",))
        if value is MISSING:
            ok = False
        elif not vantage:
            src.error(path + ("confirm",), "confirm needs a vantage list")
            ok = False
        elif not 1 <= value <= len(vantage):
            src.error(path + ("confirm",), f"must be between 1 and the number of vantages ({len(vantage)})")
            ok = False
        else:
            confirm = value
    if not ok or alert is MISSING or settings is MISSING:
        return None
    return Check(id=check_id, target=target, kind=kind, interval_seconds=float(interval),
                 timeout_seconds=float(timeout), alert=alert, settings=settings, vantage=vantage, confirm=confirm)


def _parse_listen(src: Source, text: str) -> Listen:
    m = re.match(r"^(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]]*)):(\d{1,5})$", text.strip())
    if not m or not 0 < int(m.group(3)) < 65536:
        src.error(("listen",), f"bad listen address {text!r}: use HOST:PORT, e.g. 127.0.0.1:9800")
        return Listen("127.0.0.1", 9800)
    return Listen(m.group(1) or m.group(2) or "127.0.0.1", int(m.group(3)))


def _resolve_listen_tls(src: Source, tls: ListenTls) -> ListenTls | None:
    """Paths relative to the config file; the pair is loaded once here so a bad file fails `check`."""
    import ssl

    base = os.path.dirname(os.path.abspath(src.file)) if src.file != "<config>" else os.getcwd()
    cert = os.path.join(base, os.path.expanduser(tls.cert_file))
    key = os.path.join(base, os.path.expanduser(tls.key_file))
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        src.error(("listen_tls",), f"cannot load the certificate {tls.cert_file!r} with key {tls.key_file!r}: "
                                   f"{getattr(exc, 'strerror', None) or exc}")
        return None
    return ListenTls(cert, key)


def _resolve_event(src: Source, spec: EventSpec, tz: dt.tzinfo) -> Event:
    phases: list[Phase] = []
    _unique_ids(src, [(p.id, ("event", "phases", i, "id")) for i, p in enumerate(spec.phases)], "phase")
    for i, p in enumerate(spec.phases):
        path: Path = ("event", "phases", i)
        start = _parse_instant(src, p.start, tz, path + ("start",))
        end = _parse_instant(src, p.end, tz, path + ("end",))
        if start is None or end is None:
            continue
        if end <= start:
            src.error(path + ("end",), "phase end must be after its start")
            continue
        phases.append(Phase(p.id, p.name or p.id, start, end))
    return Event(spec.name, tuple(sorted(phases, key=lambda ph: ph.start)))


def _parse_instant(src: Source, text: str, tz: dt.tzinfo, path: Path) -> float | None:
    try:
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        src.error(path, f"bad time {text!r}: use ISO 8601, e.g. 2026-12-14T07:00")
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.timestamp()


def _unique_ids(src: Source, items: list[tuple[str, Path]], what: str) -> set[str]:
    seen: set[str] = set()
    for ident, path in items:
        if ident in seen:
            src.error(path, f"duplicate {what} id {ident!r}")
        seen.add(ident)
    return seen


def _find_cycle(by_id: Mapping[str, Target]) -> list[str]:
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        colour[node] = 1
        stack.append(node)
        for parent in by_id[node].depends_on:
            if parent not in by_id:
                continue
            if colour.get(parent) == 1:
                return stack[stack.index(parent):] + [parent]
            if parent not in colour:
                found = visit(parent)
                if found:
                    return found
        stack.pop()
        colour[node] = 2
        return []

    for node in by_id:
        if node not in colour:
            found = visit(node)
            if found:
                return found
    return []


def summary_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"

