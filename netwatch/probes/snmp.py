"""SNMP device probe: system group, IF-MIB interfaces as child checks, optional CPU/RAM and extra OIDs."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, Mapping, NamedTuple, Optional, Sequence, Union

from netwatch.fields import FieldError, Secret
from netwatch.model import Event, Outcome, Series, Target
from netwatch.net.snmp import ber
from netwatch.net.snmp import client
from netwatch.net.snmp import oids
from netwatch.net.snmp.client import SnmpError
from netwatch.net.snmp.oids import Oid
from netwatch.text import clean as text_clean
from netwatch.probes.contract import ProbeContext, ProbeKind

KIND = "snmp"
CONCURRENCY = 256

log = logging.getLogger("netwatch.snmp")

MEASUREMENTS: Mapping[str, str] = {
    "uptime_seconds": "Agent uptime from sysUpTime.",
    "response_seconds": "Time the agent took to answer the whole poll (all requests).",
    "interfaces": "Number of rows in the agent's ifTable.",
    "interfaces_watched": "Number of interfaces watched as checks of their own.",
    "interfaces_down": "Watched interfaces that are administratively up but operationally down.",
    "cpu_load_ratio": "Mean hrProcessorLoad over all processors (0..1).",
    "memory_used_ratio": "Used share of physical memory (hrStorageRam, less buffers and cache where the agent "
                         "lists them, as net-snmp does) (0..1).",
}
# The agent's answer time; the probe duration adds queueing behind other polls.
LATENCY = "response_seconds"

# Every series this probe emits (names without the netwatch_ prefix): name -> (help, labels).
SERIES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "snmp_device_info": ("SNMP agent identity; sysName and sysDescr are agent-supplied text, capped.",
                         ("sys_name", "sys_descr")),
    "if_oper_status": ("IF-MIB ifOperStatus (1 up, 2 down, 3 testing, 4 unknown, 5 dormant, "
                       "6 notPresent, 7 lowerLayerDown).", ("if_index", "if_name", "if_alias")),
    "if_admin_status": ("IF-MIB ifAdminStatus (1 up, 2 down, 3 testing).", ("if_index", "if_name", "if_alias")),
    "if_speed_bits_per_second": ("Interface speed (ifHighSpeed, else ifSpeed).", ("if_index", "if_name", "if_alias")),
    "if_in_bits_per_second": ("Received bits per second between the last two polls.",
                              ("if_index", "if_name", "if_alias")),
    "if_out_bits_per_second": ("Sent bits per second between the last two polls.",
                               ("if_index", "if_name", "if_alias")),
    "if_utilisation_ratio": ("Traffic rate divided by interface speed, per direction (0..1).",
                             ("if_index", "if_name", "if_alias", "direction")),
    "if_in_errors_per_second": ("Inbound packets with errors per second.", ("if_index", "if_name", "if_alias")),
    "if_out_errors_per_second": ("Outbound packets with errors per second.", ("if_index", "if_name", "if_alias")),
    "if_in_discards_per_second": ("Inbound packets discarded per second.", ("if_index", "if_name", "if_alias")),
    "if_out_discards_per_second": ("Outbound packets discarded per second.", ("if_index", "if_name", "if_alias")),
    "snmp_oid_value": ("Value of a configured extra numeric OID.", ("name", "oid")),
}

AuthProtocol = Literal["SHA-256", "SHA-384", "SHA-512", "SHA-224", "SHA", "MD5", "none"]
PrivProtocol = Literal["AES", "AES-192", "AES-256", "DES", "3DES", "none"]

LABEL_CAP = 64
DESCR_CAP = 128
_UP, _DOWN = 1, 2
_OPER_NAMES = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent", 7: "lowerLayerDown"}
_TICKS_WRAP = 2**32
_COUNTER32 = 2**32
_SPEED_SATURATED = 2**32 - 1          # ifSpeed's "more than 4.29 Gbit/s: see ifHighSpeed" (RFC 2863)
# No port runs faster than this; an ifHighSpeed (Mbit/s) above it is a device giving bit/s.
MAX_PLAUSIBLE_SPEED_BPS = 1.6e12


@dataclass(frozen=True)
class Watch:
    """Which interfaces become checks of their own: exact names and/or a regex (ifName, ifDescr or ifAlias)."""

    names: tuple[str, ...] = ()
    regex: str = ""

    def __post_init__(self) -> None:
        if not self.names and not self.regex:
            raise FieldError("names", "give names, a regex, or write `watch: all`")
        if self.regex:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise FieldError("regex", f"bad regular expression: {exc}") from None

    def matches(self, name: str, descr: str, alias: str) -> bool:
        if self.names and (name in self.names or descr in self.names or (alias and alias in self.names)):
            return True
        if self.regex:
            rx = _compiled(self.regex)
            return any(rx.search(text) for text in (name, descr, alias) if text)
        return False


_regex_cache: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    rx = _regex_cache.get(pattern)
    if rx is None:
        rx = _regex_cache[pattern] = re.compile(pattern)
    return rx


@dataclass(frozen=True)
class Usm:
    """SNMPv3 user-based security: authPriv with SHA-256 and AES unless `allow_insecure`."""

    user: str
    auth_key: Optional[Secret] = None
    priv_key: Optional[Secret] = None
    auth_protocol: AuthProtocol = "SHA-256"
    priv_protocol: PrivProtocol = "AES"
    context: str = ""

    def __post_init__(self) -> None:
        if not self.user:
            raise FieldError("user", "must not be empty")
        if self.auth_protocol != "none" and (self.auth_key is None or len(self.auth_key.reveal()) < 8):
            raise FieldError("auth_key", "needs at least 8 characters (RFC 3414)")
        if self.priv_protocol != "none":
            if self.auth_protocol == "none":
                raise FieldError("priv_protocol", "privacy needs authentication (auth_protocol is none)")
            if self.priv_key is None or len(self.priv_key.reveal()) < 8:
                raise FieldError("priv_key", "needs at least 8 characters (RFC 3414)")

    @property
    def insecure(self) -> str | None:
        """Why this user is weak, or None."""
        if self.auth_protocol == "none":
            return "noAuthNoPriv"
        if self.auth_protocol == "MD5":
            return "MD5 authentication"
        if self.auth_protocol == "SHA":
            return "SHA-1 authentication"
        if self.priv_protocol == "none":
            return "authNoPriv (no encryption)"
        if self.priv_protocol in ("DES", "3DES"):
            return f"{self.priv_protocol} privacy"
        return None


@dataclass(frozen=True)
class ExtraOid:
    """A numeric OID read with every poll, exported as snmp_oid_value, optionally with thresholds."""

    oid: str
    name: str
    warn_above: Optional[float] = None
    warn_below: Optional[float] = None

    def __post_init__(self) -> None:
        try:
            oids.parse(self.oid)
        except ValueError:
            raise FieldError("oid", f"not a numeric OID: {self.oid!r} (write e.g. 1.3.6.1.4.1.9.2.1.56.0)") from None
        if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]{0,63}", self.name):
            raise FieldError("name", "use letters, digits and _ (at most 64)")

    @property
    def numeric(self) -> Oid:
        return oids.parse(self.oid)


@dataclass(frozen=True)
class Settings:
    version: str = "2c"
    community: Optional[Secret] = None
    v3: Optional[Usm] = None
    port: int = 161
    retries: int = 1
    allow_insecure: bool = False
    watch: Union[Literal["all", "none"], Watch] = "none"
    utilisation_warn_ratio: Optional[float] = 0.9
    errors_warn_per_second: Optional[float] = 1.0
    discards_warn_per_second: Optional[float] = None
    host_resources: bool = False
    cpu_warn_ratio: Optional[float] = None
    memory_warn_ratio: Optional[float] = None
    extra: tuple[ExtraOid, ...] = ()
    export_interfaces: Literal["all", "watched", "none"] = "all"

    def __post_init__(self) -> None:
        if self.version not in ("1", "2c", "3"):
            raise FieldError("version", f"must be 1, 2c or 3, not {self.version!r}")
        if self.version == "3":
            if self.v3 is None:
                raise FieldError("v3", "version 3 needs a v3 block (user, auth_key, priv_key)")
            if self.community is not None:
                raise FieldError("community", "a community is for version 1 or 2c, not 3")
            reason = self.v3.insecure
            if reason and not self.allow_insecure:
                raise FieldError("v3", f"{reason} is refused; use SHA-256 and AES, or set allow_insecure: true")
        else:
            if self.community is None or not self.community.reveal():
                raise FieldError("community", f"version {self.version} needs a community (or community_file)")
            if self.v3 is not None:
                raise FieldError("v3", "a v3 block needs version: 3")
        if not 0 < self.port < 65536:
            raise FieldError("port", "must be between 1 and 65535")
        if not 0 <= self.retries <= 10:
            raise FieldError("retries", "must be between 0 and 10")
        for name in ("utilisation_warn_ratio", "cpu_warn_ratio", "memory_warn_ratio"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= 1:
                raise FieldError(name, "must be a ratio above 0 and at most 1")
        names = [e.name for e in self.extra]
        if len(set(names)) != len(names):
            raise FieldError("extra", "extra OID names must be unique")

    @property
    def insecure(self) -> str | None:
        """Why this check's SNMP security is weak (logged at start when allowed), or None."""
        if self.version == "3" and self.v3 is not None:
            return self.v3.insecure
        return None


# ---------------------------------------------------------------- fetch

class IfRow(NamedTuple):
    """One ifTable/ifXTable row (a NamedTuple: built ~50 times per poll, cheaper than a dataclass)."""

    index: int
    name: str
    descr: str
    alias: str
    admin: int
    oper: int
    hc: bool                        # octets come from 64-bit counters
    in_octets: Optional[int]
    out_octets: Optional[int]
    in_errors: Optional[int]
    out_errors: Optional[int]
    in_discards: Optional[int]
    out_discards: Optional[int]
    speed_bps: Optional[float]


@dataclass(frozen=True)
class Snapshot:
    """What one poll read from the agent, already parsed and capped."""

    at: float                       # monotonic seconds when the answers were complete
    response_seconds: float
    uptime_ticks: Optional[int]     # None: the agent has no sysUpTime (reboot detection is off)
    sys_name: str
    sys_descr: str
    interfaces: tuple[IfRow, ...]
    cpu_loads: tuple[int, ...] = ()
    memory: Optional[tuple[int, int]] = None            # (used bytes, size bytes)
    extra: Mapping[str, Optional[float]] = field(default_factory=lambda: MappingProxyType({}))
    notes: tuple[str, ...] = ()     # device bugs the sanity rules worked around (logged once per device)


class RowMemo(NamedTuple):
    """What judge built for one interface last time, reused when equal (a poll's outcome holds ~50 child
    outcomes and ~400-550 Series, and most are the same as the previous poll's)."""

    name: str
    alias: str
    labels: tuple[tuple[tuple[str, str], ...], ...]   # the labels of each _SLOTS series
    values: tuple[Optional[float], ...]                # one per _SLOTS entry, None where not emitted
    series: tuple[Optional[Series], ...]
    emitted: tuple[Series, ...]                        # the Series that were not None, in order
    child: Optional[Outcome]
    # The row these were built from, and whether its counters had not moved since the poll before: the
    # same row again is then idle again, with every value as last time (most ports of a switch, most polls).
    row: Optional["IfRow"] = None
    idle: bool = False
    watched: bool = False
    exported: bool = False


@dataclass(frozen=True)
class Sample:
    """Run-time memory of the previous poll of one agent, to turn counters into rates."""

    at: float
    uptime_ticks: Optional[int]
    counters: Mapping[int, tuple[str, bool, tuple[Optional[int], ...]]]
    memo: Mapping[int, RowMemo] = field(default_factory=lambda: MappingProxyType({}))
    judged_with: Optional["Settings"] = None      # the memo holds only for the same settings object


_IF_NAME_COLUMNS: tuple[Oid, ...] = (oids.IF_NAME, oids.IF_DESCR, oids.IF_ALIAS)
_IF_DATA_COLUMNS: tuple[Oid, ...] = (
    oids.IF_ADMIN_STATUS, oids.IF_OPER_STATUS, oids.IF_HC_IN_OCTETS, oids.IF_HC_OUT_OCTETS,
    oids.IF_IN_ERRORS, oids.IF_OUT_ERRORS, oids.IF_IN_DISCARDS, oids.IF_OUT_DISCARDS, oids.IF_HIGH_SPEED,
)
# Interface names change rarely; reading them every poll costs a third of the varbinds. They are re-read
# every NAME_REFRESH_POLLS polls and at once when an unknown ifIndex appears.
NAME_REFRESH_POLLS = 10
_SYS_NEXT: tuple[Oid, ...] = (oids.SYS_UPTIME[:-1], oids.SYS_NAME[:-1], oids.SYS_DESCR[:-1])
_IF_FALLBACK: tuple[Oid, ...] = (oids.IF_IN_OCTETS, oids.IF_OUT_OCTETS, oids.IF_SPEED)
# Read with the names (first poll, then every NAME_REFRESH_POLLS): ifSpeed for ports whose ifHighSpeed is
# 0 or absent, and the 32-bit octets to catch 64-bit counters stuck at zero. Only ifSpeed is kept.
_IF_REFRESH_COLUMNS = _IF_NAME_COLUMNS + _IF_FALLBACK
_IF_COLUMNS = _IF_REFRESH_COLUMNS + _IF_DATA_COLUMNS
_IF_CACHED_COLUMNS = _IF_NAME_COLUMNS + (oids.IF_SPEED,)
_HR_COLUMNS: tuple[Oid, ...] = (oids.HR_PROCESSOR_LOAD, oids.HR_STORAGE_TYPE, oids.HR_STORAGE_DESCR,
                                oids.HR_STORAGE_ALLOCATION_UNITS, oids.HR_STORAGE_SIZE, oids.HR_STORAGE_USED)
# net-snmp's hrStorageOther rows that Linux counts as used but hands back under pressure; net-snmp's own
# tools, LibreNMS and the common Grafana dashboards subtract them from "Physical memory".
_RECLAIMABLE_MEMORY = frozenset({b"Memory buffers", b"Cached memory"})

Cell = tuple[int, ber.Value]
Table = Mapping[Oid, Mapping[Oid, Cell]]


def clean_text(raw: object, cap: int) -> str:
    """Agent-supplied text made safe for labels and logs: decoded, control characters removed, capped."""
    if raw.__class__ is bytes:
        key = (cap, raw)
        hit = _clean_memo.get(key)
        if hit is not None:
            return hit
    if isinstance(raw, (bytes, bytearray)):
        text = bytes(raw[:cap * 4]).decode("utf-8", errors="replace")
    else:
        text = "" if raw is None else str(raw)
    text = text_clean(text, cap + 1).strip()[:cap]
    if raw.__class__ is bytes and len(raw) <= _CLEAN_MEMO_BYTES:
        if len(_clean_memo) >= _CLEAN_MEMO_MAX:
            _clean_memo.clear()
        _clean_memo[key] = text
    return text


# Interface names come back every poll (from the names cache): clean each distinct one once.
_clean_memo: dict[tuple[int, bytes], str] = {}
_CLEAN_MEMO_MAX = 20_000
_CLEAN_MEMO_BYTES = 512


def _int(cell: Optional[Cell]) -> Optional[int]:
    if cell is None:
        return None
    tag, value = cell
    return value if isinstance(value, int) and tag not in ber.EXCEPTIONS else None


def _agent(target: Target, settings: Settings, timeout_seconds: float) -> object:
    if settings.version == "3":
        from netwatch.net.snmp import v3
        usm = settings.v3
        assert usm is not None
        return v3.V3Agent(
            host=target.host, user=usm.user, port=settings.port,
            auth_protocol=usm.auth_protocol, auth_key=usm.auth_key.reveal() if usm.auth_key else "",
            priv_protocol=usm.priv_protocol, priv_key=usm.priv_key.reveal() if usm.priv_key else "",
            context=usm.context, timeout_seconds=timeout_seconds, retries=settings.retries)
    assert settings.community is not None
    return client.Agent(host=target.host, port=settings.port, community=settings.community.reveal().encode(),
                        version=ber.V1 if settings.version == "1" else ber.V2C,
                        timeout_seconds=timeout_seconds, retries=settings.retries)


def _engine(settings: Settings) -> object:
    if settings.version == "3":
        from netwatch.net.snmp import v3
        return v3.engine()
    return client.engine()


async def fetch(target: Target, settings: Settings, timeout_seconds: float,
                state: Optional[dict[object, object]] = None) -> Snapshot:
    """Read everything one poll needs from the agent; raises SnmpError on an expected failure.

    `state` (the engine's run-time dict) lets the poll reuse interface names read recently."""
    eng = _engine(settings)
    agent = _agent(target, settings, timeout_seconds)
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + timeout_seconds
    names_key = ("names", target.id, target.host, settings.port)
    cached = state.get(names_key) if state is not None else None
    with_names = cached is None or cached[0] <= 0  # type: ignore[index]
    columns = _IF_COLUMNS if with_names else _IF_DATA_COLUMNS
    rows_hint = len(cached[1][oids.IF_DESCR]) if cached is not None else 0  # type: ignore[index]
    jobs = [eng.walk_with_next(agent, _SYS_NEXT, columns, deadline, rows_hint)]  # type: ignore[attr-defined]
    if settings.extra:
        jobs.append(eng.get(agent, [e.numeric for e in settings.extra], deadline))  # type: ignore[attr-defined]
    if settings.host_resources:
        jobs.append(eng.walk(agent, _HR_COLUMNS, deadline))  # type: ignore[attr-defined]
    if len(jobs) == 1:
        results = [await jobs[0]]      # the usual poll: no task for gather to wrap it in
    else:
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r
    sys_cells, table = results[0]  # type: ignore[misc]
    table = dict(table)
    labels: Optional[Mapping[Oid, tuple[str, str, str]]] = None
    names: Table
    left: int
    stuck_key = ("hc_stuck", target.id, target.host, settings.port)
    stuck: frozenset[Oid] = state.get(stuck_key, frozenset()) if state is not None else frozenset()  # type: ignore[assignment]
    fallback: Table = {}
    if not with_names:
        left, names, labels = cached  # type: ignore[misc]
        if table[oids.IF_OPER_STATUS].keys() - names[oids.IF_NAME].keys() - names[oids.IF_DESCR].keys():
            names = await eng.walk(agent, _IF_CACHED_COLUMNS, deadline)  # type: ignore[attr-defined]
            left, labels = NAME_REFRESH_POLLS, None
        table.update(names)
    else:
        left, names = NAME_REFRESH_POLLS, {c: table[c] for c in _IF_CACHED_COLUMNS}
        fallback = {c: table[c] for c in _IF_FALLBACK}      # fresh: this walk read them
    if labels is None:
        labels = _labels(names)
    if state is not None:
        state[names_key] = (left - 1, names, labels)
    n = 1
    extra_cells: Mapping[Oid, Cell] = {}
    if settings.extra:
        extra_cells = results[n]  # type: ignore[assignment]
        n += 1
    # 32-bit counters are needed fresh for ports without 64-bit ones and for ports whose 64-bit ones were
    # stuck at zero at the last names refresh.
    if not fallback and (stuck or not table[oids.IF_OPER_STATUS].keys() <= table[oids.IF_HC_IN_OCTETS].keys()):
        fallback = await eng.walk(agent, _IF_FALLBACK, deadline)  # type: ignore[attr-defined]
    if not fallback:
        fallback = {oids.IF_SPEED: table.get(oids.IF_SPEED, {})}   # cached with the names
    at = loop.time()
    uptime = _int(sys_cells.get(oids.SYS_UPTIME[:-1]))
    extra = {e.name: _number(extra_cells.get(e.numeric)) for e in settings.extra}
    cpu: tuple[int, ...] = ()
    memory = None
    if settings.host_resources:
        cpu, memory = _host_resources(results[n])  # type: ignore[arg-type]
    found: dict[str, list[int]] = {}
    interfaces = interfaces_of(table, fallback, labels, found)
    if state is not None and with_names:
        state[stuck_key] = frozenset((i,) for i in found.get("hc_stuck", ()))
    notes = tuple(_NOTES[rule].format(ports=_ports(indexes)) for rule, indexes in sorted(found.items()))
    if uptime is None:
        notes += (_NOTES["no_uptime"],)
    if state is not None:
        for rule, note in zip([*sorted(found), "no_uptime"], notes):
            if ("noted", rule, target.id, target.host) not in state:
                state[("noted", rule, target.id, target.host)] = True
                log.warning("check %s (%s): %s", target.id, target.host, note)
    return Snapshot(
        at=at, response_seconds=at - start, uptime_ticks=uptime,
        sys_name=clean_text(sys_cells.get(oids.SYS_NAME[:-1], (0, b""))[1], LABEL_CAP),
        sys_descr=clean_text(sys_cells.get(oids.SYS_DESCR[:-1], (0, b""))[1], DESCR_CAP),
        interfaces=interfaces, cpu_loads=cpu, memory=memory, extra=MappingProxyType(extra), notes=notes)


_NOTES: Mapping[str, str] = {
    "high_speed_bits": "ifHighSpeed is given in bit/s, not Mbit/s ({ports}); read as bit/s",
    "hc_stuck": "64-bit octet counters stay at 0 while the 32-bit ones count ({ports}); the 32-bit ones are used",
    "speed_saturated": "ifSpeed is 4294967295 (above 4.29 Gbit/s) with no ifHighSpeed ({ports}); speed unknown",
    "no_uptime": "the agent has no sysUpTime: polled without reboot detection",
}


def _ports(indexes: Sequence[int]) -> str:
    shown = ", ".join(map(str, sorted(indexes)[:5]))
    return f"ifIndex {shown}" + (f" and {len(indexes) - 5} more" if len(indexes) > 5 else "")


def _number(cell: Optional[Cell]) -> Optional[float]:
    if cell is None:
        return None
    tag, value = cell
    if tag in ber.EXCEPTIONS or not isinstance(value, int):
        return None
    return float(value)


def _labels(table: Table) -> dict[Oid, tuple[str, str, str]]:
    """(name, descr, alias) per ifIndex, cleaned; ifName falls back to ifDescr, then to the index."""
    empty: Mapping[Oid, Cell] = {}
    names, descrs, aliases = (table.get(c, empty) for c in (oids.IF_NAME, oids.IF_DESCR, oids.IF_ALIAS))
    nothing = (0, b"")
    out = {}
    for idx in set(names) | set(descrs) | set(aliases):
        descr = clean_text(descrs.get(idx, nothing)[1], LABEL_CAP)
        name = clean_text(names.get(idx, nothing)[1], LABEL_CAP) or descr or ".".join(map(str, idx))
        out[idx] = (name, descr, clean_text(aliases.get(idx, nothing)[1], LABEL_CAP))
    return out


# What a malformed ifTable/ifXTable is reported with (issue 13): a wrong type or value in a status column,
# an index that is not an ifIndex, a status row missing in one column. Such an answer fails the poll as
# `protocol`; reading it as a state (an OCTET STRING read as "oper 0", i.e. down) would page a false outage,
# and dropping the odd rows would silently stop watching them.
_COLUMN_NAMES: Mapping[Oid, str] = {
    oids.IF_DESCR: "ifDescr", oids.IF_SPEED: "ifSpeed", oids.IF_ADMIN_STATUS: "ifAdminStatus",
    oids.IF_OPER_STATUS: "ifOperStatus", oids.IF_IN_OCTETS: "ifInOctets", oids.IF_IN_DISCARDS: "ifInDiscards",
    oids.IF_IN_ERRORS: "ifInErrors", oids.IF_OUT_OCTETS: "ifOutOctets", oids.IF_OUT_DISCARDS: "ifOutDiscards",
    oids.IF_OUT_ERRORS: "ifOutErrors", oids.IF_NAME: "ifName", oids.IF_HC_IN_OCTETS: "ifHCInOctets",
    oids.IF_HC_OUT_OCTETS: "ifHCOutOctets", oids.IF_HIGH_SPEED: "ifHighSpeed", oids.IF_ALIAS: "ifAlias",
}
_TYPE_NAMES: Mapping[int, str] = {
    ber.INTEGER: "an INTEGER", ber.OCTET_STRING: "an OCTET STRING", ber.NULL: "a NULL",
    ber.OBJECT_ID: "an OBJECT IDENTIFIER", ber.IP_ADDRESS: "an IpAddress", ber.COUNTER32: "a Counter32",
    ber.GAUGE32: "a Gauge32", ber.TIMETICKS: "a TimeTicks", ber.OPAQUE: "an Opaque", ber.COUNTER64: "a Counter64",
    ber.NO_SUCH_OBJECT: "a noSuchObject", ber.NO_SUCH_INSTANCE: "a noSuchInstance",
    ber.END_OF_MIB_VIEW: "an endOfMibView",
}
# (lowest, highest) enumerated value (RFC 2863)
_STATUS_VALUES: Mapping[Oid, tuple[int, int]] = {oids.IF_ADMIN_STATUS: (1, 3), oids.IF_OPER_STATUS: (1, 7)}
_MAX_IF_INDEX = 2**31 - 1      # InterfaceIndex is 1..2147483647


def _check_if_table(table: Table, fallback: Table) -> None:
    """Raise SnmpError("protocol", what and where) for an IF-MIB answer that cannot be read honestly.

    Runs every poll, so per-cell work is only for ifOperStatus (whose indexes are the rows) and
    ifAdminStatus; in another column, an odd index makes an extra cell (looked into) or, when the whole
    column has another index type, shows at its first and last cell."""
    empty: Mapping[Oid, Cell] = {}
    admin, oper = table.get(oids.IF_ADMIN_STATUS, empty), table.get(oids.IF_OPER_STATUS, empty)
    for column, cells in ((oids.IF_OPER_STATUS, oper), (oids.IF_ADMIN_STATUS, admin)):
        lo, hi = _STATUS_VALUES[column]
        for idx, (tag, value) in cells.items():
            if len(idx) != 1 or not 0 < idx[0] <= _MAX_IF_INDEX:
                _bad_index(column, idx)
            if tag != ber.INTEGER:
                raise SnmpError("protocol", f"{_COLUMN_NAMES[column]}.{idx[0]} is "
                                            f"{_TYPE_NAMES.get(tag, f'tag 0x{tag:02x}')}, not an INTEGER")
            if not lo <= value <= hi:  # type: ignore[operator]
                raise SnmpError("protocol", f"{_COLUMN_NAMES[column]}.{idx[0]} is {value}, "
                                            f"not a status ({lo}-{hi})")
    rows = oper.keys()
    if admin.keys() != rows:
        # a row present in one status column only: a gap, or a column that left the table early
        for lacking, having, missing in (("ifAdminStatus", "ifOperStatus", rows - admin.keys()),
                                         ("ifOperStatus", "ifAdminStatus", admin.keys() - rows)):
            if missing:
                raise SnmpError("protocol", f"{lacking} lacks {_ports([i[0] for i in missing])} "
                                            f"that {having} has")
    count = len(rows)
    for source in (table, fallback):
        for column, cells in source.items():
            if not cells:
                continue
            # a column walked under another index type shows it at its ends (cells are in walk order)
            odd = cells.keys() - rows if len(cells) > count else (next(iter(cells)), next(reversed(cells)))
            for idx in odd:
                if len(idx) != 1 or not 0 < idx[0] <= _MAX_IF_INDEX:
                    _bad_index(column, idx)


def _bad_index(column: Oid, idx: Oid) -> None:
    raise SnmpError("protocol", f"{_COLUMN_NAMES.get(column, oids.dotted(column))} has a row with index "
                                f"{oids.dotted(idx)}, which is not an ifIndex")


def interfaces_of(table: Table, fallback: Table,
                  labels: Optional[Mapping[Oid, tuple[str, str, str]]] = None,
                  found: Optional[dict[str, list[int]]] = None) -> tuple[IfRow, ...]:
    """Join IF-MIB columns into rows; rows are keyed by a one-arc ifIndex. `labels` (from _labels, kept
    between polls) saves cleaning the same names again. Device bugs the sanity rules correct are added to
    `found` (rule -> ifIndexes): ifHighSpeed in bit/s, 64-bit counters stuck at 0 while the 32-bit ones
    count, a saturated ifSpeed with no ifHighSpeed. Raises SnmpError (`protocol`) for a table that cannot be
    read honestly: a status of the wrong type or out of its range, an index that is not an ifIndex, a status
    row missing in one of the two status columns."""
    _check_if_table(table, fallback)
    if found is None:
        found = {}
    empty: Mapping[Oid, Cell] = {}
    if labels is None:
        labels = _labels(table)
    oper_cells = table.get(oids.IF_OPER_STATUS, empty)
    keys = list(oper_cells)

    def column(source: Table, col: Oid) -> list[Optional[int]]:
        """The column's integer values in row order, None where it has no integer (exceptions and NULL
        decode to None). Columns usually hold the same rows in the same (walk) order: one pass."""
        cells = source.get(col, empty)
        if list(cells) == keys:
            return [v if v.__class__ is int else None for _, v in cells.values()]
        return [v if (v := cells.get(k, (0, None))[1]).__class__ is int else None for k in keys]

    # _check_if_table saw INTEGER cells for the same rows in both status columns
    admin_cells = table.get(oids.IF_ADMIN_STATUS, empty)
    rows = []
    for (idx, (_, oper)), hin, hout, in_err, out_err, in_disc, out_disc, high, lo_in, lo_out, lo_speed in zip(
            oper_cells.items(), *(column(table, c) for c in (
                oids.IF_HC_IN_OCTETS, oids.IF_HC_OUT_OCTETS, oids.IF_IN_ERRORS, oids.IF_OUT_ERRORS,
                oids.IF_IN_DISCARDS, oids.IF_OUT_DISCARDS, oids.IF_HIGH_SPEED)),
            *(column(fallback, c) for c in (oids.IF_IN_OCTETS, oids.IF_OUT_OCTETS, oids.IF_SPEED))):
        i = idx[0]
        hc = hin is not None and hout is not None
        if hc and hin == 0 and hout == 0 and (lo_in or lo_out):
            hc = False
            found.setdefault("hc_stuck", []).append(i)
        if not hc:
            hin, hout = lo_in, lo_out
        speed = _speed(high, lo_speed, i, found)
        name, descr, alias = labels.get(idx) or (str(i), "", "")
        rows.append(IfRow(i, name, descr, alias, admin_cells[idx][1], oper, hc, hin, hout,  # type: ignore[arg-type]
                          in_err, out_err, in_disc, out_disc, speed))
    return tuple(rows)


def _speed(high: Optional[int], low: Optional[int], index: int, found: dict[str, list[int]]) -> Optional[float]:
    """Interface speed in bit/s from ifHighSpeed (Mbit/s) and ifSpeed (bit/s), with the device bugs seen
    in the field corrected; None when unknown."""
    if high:
        if high * 1e6 > MAX_PLAUSIBLE_SPEED_BPS or (high == low and high >= 1_000_000):
            found.setdefault("high_speed_bits", []).append(index)
            return float(high)
        return high * 1e6
    if not low:
        return None
    if low == _SPEED_SATURATED:
        found.setdefault("speed_saturated", []).append(index)
        return None
    return float(low)


def _host_resources(table: Table) -> tuple[tuple[int, ...], Optional[tuple[int, int]]]:
    loads = tuple(v for v in (_int(c) for c in table[oids.HR_PROCESSOR_LOAD].values()) if v is not None)
    memory = None
    reclaimable = 0
    descrs = table.get(oids.HR_STORAGE_DESCR, {})
    for idx, (tag, value) in table[oids.HR_STORAGE_TYPE].items():
        units = _int(table[oids.HR_STORAGE_ALLOCATION_UNITS].get(idx))
        size = _int(table[oids.HR_STORAGE_SIZE].get(idx))
        used = _int(table[oids.HR_STORAGE_USED].get(idx))
        if not units or not size or used is None or size <= 0:
            continue
        if value == oids.HR_STORAGE_RAM and memory is None:
            memory = (used * units, size * units)
        elif descrs.get(idx, (0, b""))[1] in _RECLAIMABLE_MEMORY:
            reclaimable += used * units
    if memory is not None and reclaimable:
        memory = (max(0, memory[0] - reclaimable), memory[1])
    return loads, memory


# ---------------------------------------------------------------- judge (pure)

def _rate(prev: Optional[int], cur: Optional[int], elapsed: float, wraps32: bool,
          ceiling: Optional[float]) -> Optional[float]:
    """Per-second rate of a counter, or None when no honest rate exists (reset, gap, absurd value)."""
    if prev is None or cur is None:
        return None
    delta = cur - prev
    if delta < 0:
        if not wraps32:
            return None          # a 64-bit counter does not wrap in practice: it was reset
        delta += _COUNTER32
    rate = delta / elapsed
    if ceiling is not None and rate > ceiling:
        return None              # more than the link can carry: a reset mistaken for a wrap
    return rate


_NO_RATES: tuple[None, ...] = (None,) * 6
_ZERO_RATES: tuple[float, ...] = (0.0,) * 6


def _rates(before: tuple[Optional[int], ...], now: tuple[Optional[int], ...], elapsed: float, hc: bool,
           speed_bps: Optional[float]) -> list[Optional[float]]:
    """_rate of the six interface counters (in/out octets, errors, discards), in one call per row."""
    byte_ceiling = speed_bps / 8 * 1.1 if speed_bps else None
    packet_ceiling = speed_bps / 512 * 1.1 if speed_bps else None   # 64-byte frames
    return [_rate(before[0], now[0], elapsed, not hc, byte_ceiling),
            _rate(before[1], now[1], elapsed, not hc, byte_ceiling),
            _rate(before[2], now[2], elapsed, True, packet_ceiling),
            _rate(before[3], now[3], elapsed, True, packet_ceiling),
            _rate(before[4], now[4], elapsed, True, packet_ceiling),
            _rate(before[5], now[5], elapsed, True, packet_ceiling)]


def _rebooted(prev: Sample, snap: Snapshot) -> bool:
    if snap.uptime_ticks is None or prev.uptime_ticks is None or snap.uptime_ticks >= prev.uptime_ticks:
        return False
    # sysUpTime is a 32-bit TimeTicks: after 497 days it wraps without a reboot.
    expected = prev.uptime_ticks + (snap.at - prev.at) * 100
    return not (expected >= _TICKS_WRAP and abs((expected - _TICKS_WRAP) - snap.uptime_ticks) < 6000)


def _watched(settings: Settings, row: IfRow) -> bool:
    if settings.watch == "all":
        return True
    if settings.watch == "none":
        return False
    return settings.watch.matches(row.name, row.descr, row.alias)  # type: ignore[union-attr]


def judge(snap: Snapshot, prev: Optional[Sample], settings: Settings, target_id: str = ""
          ) -> tuple[Outcome, Sample]:
    """Turn one poll (and the previous one) into the device outcome with interface children."""
    events: list[Event] = []
    elapsed = snap.at - prev.at if prev is not None else 0.0
    rates_ok = prev is not None and elapsed > 0
    if prev is not None and _rebooted(prev, snap):
        rates_ok = False
        events.append(Event(
            kind="reboot",
            summary=f"{target_id or 'agent'} restarted: sysUpTime went from {prev.uptime_ticks / 100:.0f}s "
                    f"to {snap.uptime_ticks / 100:.0f}s",
            data=MappingProxyType({"previous_uptime_seconds": prev.uptime_ticks / 100,
                                   "uptime_seconds": snap.uptime_ticks / 100,
                                   # the loop's monotonic clock: the daemon uses only their difference
                                   "previous_at": prev.at, "at": snap.at,
                                   "sys_name": snap.sys_name})))
    series: list[Series] = [Series("snmp_device_info", (("sys_name", snap.sys_name), ("sys_descr", snap.sys_descr)),
                                   1.0)]
    children: dict[str, Outcome] = {}
    counters: dict[int, tuple[str, bool, tuple[Optional[int], ...]]] = {}
    memos: dict[int, RowMemo] = {}
    old_memos = prev.memo if prev is not None and prev.judged_with is settings else {}
    seen_keys: set[str] = set()
    down = 0
    export = settings.export_interfaces
    for row in snap.interfaces:
        index = row.index
        memo = old_memos.get(index)
        if rates_ok and memo is not None and memo.idle and memo.row == row:
            # Same row as last poll, which had not moved either: same series and child outcome, nothing
            # to compute (settings are the same object, so watched and exported are as last time).
            counters[index] = prev.counters[index]  # type: ignore[union-attr]
            if memo.exported:
                series.extend(memo.emitted)
            if memo.watched:
                key = f"if/{row.name}"
                if key in seen_keys:
                    key = f"if/{row.name}@{index}"
                seen_keys.add(key)
                if memo.child.error == "if_down":  # type: ignore[union-attr]
                    down += 1
                children[key] = memo.child  # type: ignore[assignment]
            memos[index] = memo
            continue
        name, hc, speed = row.name, row.hc, row.speed_bps
        values = row[7:13]          # in/out octets, in/out errors, in/out discards
        counters[index] = (name, hc, values)
        rates: Sequence[Optional[float]] = _NO_RATES
        if rates_ok:
            before = prev.counters.get(index)  # type: ignore[union-attr]
            if before is not None and before[0] == name and before[1] == hc:
                if before[2] == values and None not in values:
                    rates = _ZERO_RATES      # an idle port (most access ports): nothing to divide
                else:
                    rates = _rates(before[2], values, elapsed, hc, speed)
        in_bps = rates[0] * 8 if rates[0] is not None else None
        out_bps = rates[1] * 8 if rates[1] is not None else None
        util_in = in_bps / speed if in_bps is not None and speed else None
        util_out = out_bps / speed if out_bps is not None and speed else None
        slot_values = (float(row.oper), float(row.admin), speed or None, in_bps, out_bps, util_in, util_out,
                       rates[2], rates[3], rates[4], rates[5])
        watched = _watched(settings, row)
        exported = export == "all" or (export == "watched" and watched)
        idle = rates is _ZERO_RATES
        if memo is None or memo.name != name or memo.alias != row.alias:
            memo = _new_memo(row)
        elif memo.values == slot_values and (memo.child is not None or not watched):
            # Nothing this row's series and child outcome depend on changed: last poll's objects stand.
            if exported:
                series.extend(memo.emitted)
            if watched:
                key = f"if/{name}"
                if key in seen_keys:
                    key = f"if/{name}@{index}"
                seen_keys.add(key)
                if memo.child.error == "if_down":  # type: ignore[union-attr]
                    down += 1
                children[key] = memo.child  # type: ignore[assignment]
            memos[index] = RowMemo(name, memo.alias, memo.labels, memo.values, memo.series, memo.emitted, memo.child,
                                   row, idle, watched, exported)
            continue
        row_series, emitted = _if_series(memo, slot_values)
        if exported:
            series.extend(emitted)
        child = memo.child
        if watched:
            key = f"if/{name}"
            if key in seen_keys:
                key = f"if/{name}@{index}"      # two interfaces with one name: keep both checks
            seen_keys.add(key)
            # the child depends on the status, utilisation and error/discard slots, not on speed or bps
            if child is None or slot_values[:2] != memo.values[:2] or slot_values[5:] != memo.values[5:]:
                child = _judge_interface(row, util_in, util_out, rates, settings, child)
            if child.error == "if_down":
                down += 1
            children[key] = child
        memos[index] = RowMemo(name, memo.alias, memo.labels, slot_values, row_series, emitted, child,
                               row, idle, watched, exported)
    measurements: dict[str, float] = {
        "response_seconds": snap.response_seconds,
        "interfaces": float(len(snap.interfaces)),
        "interfaces_watched": float(len(children)),
        "interfaces_down": float(down),
    }
    if snap.uptime_ticks is not None:
        measurements["uptime_seconds"] = snap.uptime_ticks / 100
    degraded: list[str] = []
    if snap.cpu_loads:
        cpu = sum(snap.cpu_loads) / len(snap.cpu_loads) / 100
        measurements["cpu_load_ratio"] = cpu
        if settings.cpu_warn_ratio is not None and cpu > settings.cpu_warn_ratio:
            degraded.append("cpu")
    if snap.memory is not None:
        mem = snap.memory[0] / snap.memory[1]
        measurements["memory_used_ratio"] = mem
        if settings.memory_warn_ratio is not None and mem > settings.memory_warn_ratio:
            degraded.append("memory")
    for extra in settings.extra:
        value = snap.extra.get(extra.name)
        if value is None:
            continue
        series.append(Series("snmp_oid_value", (("name", extra.name), ("oid", extra.oid.lstrip("."))), value))
        if (extra.warn_above is not None and value > extra.warn_above) or \
                (extra.warn_below is not None and value < extra.warn_below):
            degraded.append(extra.name)
    outcome = Outcome(
        ok=True, detail="; ".join([f"{snap.sys_name or 'agent'} answered", f"{len(snap.interfaces)} interfaces",
                                   *snap.notes])[:500],
        measurements=MappingProxyType(measurements), degraded=",".join(degraded) or None,
        series=tuple(series), children=MappingProxyType(children), events=tuple(events))
    return outcome, Sample(at=snap.at, uptime_ticks=snap.uptime_ticks, counters=MappingProxyType(counters),
                           memo=MappingProxyType(memos), judged_with=settings)


_SLOTS: tuple[str, ...] = (
    "if_oper_status", "if_admin_status", "if_speed_bits_per_second", "if_in_bits_per_second", "if_out_bits_per_second",
    "if_utilisation_ratio", "if_utilisation_ratio", "if_in_errors_per_second", "if_out_errors_per_second",
    "if_in_discards_per_second", "if_out_discards_per_second")
_NO_SERIES: tuple[None, ...] = (None,) * len(_SLOTS)


def _new_memo(row: IfRow) -> RowMemo:
    labels = (("if_index", str(row.index)), ("if_name", row.name), ("if_alias", row.alias))
    per_slot = (labels,) * 5 + (labels + (("direction", "in"),), labels + (("direction", "out"),)) + (labels,) * 4
    return RowMemo(row.name, row.alias, per_slot, _NO_SERIES, _NO_SERIES, (), None)


# Slots that change together: status and speed (rarely), traffic (every poll on a busy port), errors and
# discards (mostly zero): a group equal to last poll's is taken whole.
_GROUPS: tuple[tuple[int, int], ...] = ((0, 3), (3, 7), (7, 11))


def _if_series(memo: RowMemo, values: tuple[Optional[float], ...]
               ) -> tuple[tuple[Optional[Series], ...], tuple[Series, ...]]:
    """One Series per _SLOTS value that is not None (last poll's object when its value is the same):
    (by slot, for the next poll; the ones emitted, in order)."""
    old_values, old_series, labels = memo.values, memo.series, memo.labels
    slots: list[Optional[Series]] = []
    for lo, hi in _GROUPS:
        if values[lo:hi] == old_values[lo:hi]:
            slots.extend(old_series[lo:hi])
            continue
        for k in range(lo, hi):
            value, old = values[k], old_series[k]
            if value is None:
                slots.append(None)
            elif old is not None and old.value == value:
                slots.append(old)
            else:
                slots.append(Series(_SLOTS[k], labels[k], value))
    by_slot = tuple(slots)
    return by_slot, tuple(filter(None, by_slot))


def _judge_interface(row: IfRow, util_in: Optional[float], util_out: Optional[float],
                     rates: Sequence[Optional[float]], settings: Settings, last: Optional[Outcome] = None) -> Outcome:
    """The interface's own outcome; `last` (the previous poll's) is returned when nothing changed."""
    label = f"{row.name} ({row.alias})" if row.alias else row.name
    if row.admin != _UP:
        return _outcome(last, None, f"{label} is administratively down"[:500], None)
    if row.oper not in (_UP, 5):   # dormant (5) is a legitimate waiting state (e.g. dial-on-demand)
        state = _OPER_NAMES.get(row.oper, str(row.oper))
        return _outcome(last, "if_down", f"{label} is admin up but oper {state}"[:500], None)
    degraded = []
    util = util_out if util_in is None else util_in if util_out is None else max(util_in, util_out)
    if util is not None and settings.utilisation_warn_ratio is not None and util > settings.utilisation_warn_ratio:
        degraded.append("utilisation")
    errors = [r for r in rates[2:4] if r is not None]
    if errors and settings.errors_warn_per_second is not None and sum(errors) > settings.errors_warn_per_second:
        degraded.append("errors")
    discards = [r for r in rates[4:6] if r is not None]
    if discards and settings.discards_warn_per_second is not None \
            and sum(discards) > settings.discards_warn_per_second:
        degraded.append("discards")
    detail = f"{label} is up"
    if util is not None:
        detail += f", {util:.0%} utilised"
    return _outcome(last, None, detail[:500], ",".join(degraded) or None)


def _outcome(last: Optional[Outcome], error: Optional[str], detail: str, degraded: Optional[str]) -> Outcome:
    if last is not None and last.detail == detail and last.error == error and last.degraded == degraded:
        return last
    return Outcome(ok=error is None, error=error, detail=detail, degraded=degraded)


# ---------------------------------------------------------------- probe

async def probe(target: Target, settings: Settings, timeout_seconds: float,
                context: ProbeContext | None = None) -> Outcome:
    # The daemon hands each check its own memory (dropped with the check); a direct call (tests,
    # benchmarks) keeps samples on the loop's shared engine.
    state = context.memory if context is not None else client.engine().state
    key = (target.id, target.host, settings.port)
    if settings.insecure and ("warned", key) not in state:
        state[("warned", key)] = True
        log.warning("check %s uses insecure SNMPv3 settings (%s), allowed by allow_insecure",
                    target.id, settings.insecure)
    try:
        snap = await fetch(target, settings, timeout_seconds, state)
    except SnmpError as exc:
        return Outcome.fail(exc.error, exc.detail)
    outcome, sample = judge(snap, state.get(key), settings, target.id)
    state[key] = sample
    return outcome


CONTRACT = ProbeKind(
    kind=KIND,
    settings=Settings,
    measurements=MEASUREMENTS,
    probe=probe,
    latency=LATENCY,
    concurrency=CONCURRENCY,
    series=SERIES,
)
