"""Proposed targets from one SNMP seed device: its LLDP/CDP neighbours and ARP table, as YAML or CSV."""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import yaml

from netwatch.net.snmp import ber
from netwatch.net.snmp.oids import Oid

SYS_NAME: Oid = (1, 3, 6, 1, 2, 1, 1, 5, 0)
# LLDP-MIB: remote systems (index timeMark.localPort.remIndex) and their management addresses
# (index timeMark.localPort.remIndex.addrSubtype.addrLen.addr...).
LLDP_REM_SYS_NAME: Oid = (1, 0, 8802, 1, 1, 2, 1, 4, 1, 1, 9)
LLDP_REM_MAN_ADDR_IF_SUBTYPE: Oid = (1, 0, 8802, 1, 1, 2, 1, 4, 2, 1, 3)
# CISCO-CDP-MIB cdpCacheTable (index ifIndex.deviceIndex)
CDP_CACHE_ADDRESS_TYPE: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1, 3)
CDP_CACHE_ADDRESS: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1, 4)
CDP_CACHE_DEVICE_ID: Oid = (1, 3, 6, 1, 4, 1, 9, 9, 23, 1, 2, 1, 1, 6)
# IP-MIB ipNetToMediaTable (index ifIndex.a.b.c.d): the ARP cache
ARP_PHYS_ADDRESS: Oid = (1, 3, 6, 1, 2, 1, 4, 22, 1, 2)
ARP_TYPE: Oid = (1, 3, 6, 1, 2, 1, 4, 22, 1, 4)
COLUMNS: tuple[Oid, ...] = (LLDP_REM_SYS_NAME, LLDP_REM_MAN_ADDR_IF_SUBTYPE, CDP_CACHE_ADDRESS_TYPE,
                            CDP_CACHE_ADDRESS, CDP_CACHE_DEVICE_ID, ARP_PHYS_ADDRESS, ARP_TYPE)
CSV_COLUMNS = ("id", "name", "host", "zone", "role", "profile", "parent", "source", "mac")
Tables = Mapping[Oid, Mapping[Oid, tuple[int, ber.Value]]]


@dataclass(frozen=True)
class Proposal:
    """One proposed target: what was learned about it and from where."""

    id: str
    name: str
    host: str
    parent: str = ""
    role: str = ""
    source: str = "seed"          # seed, lldp, cdp or arp
    mac: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)


def _text(value: ber.Value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip().strip("\x00")
    return "" if value is None else str(value)


def _slug(name: str) -> str:
    """A target id from a device name: `SW-Hall.example.vn` -> `sw-hall`."""
    short = name.split(".")[0] if not _is_ip(name) else name.replace(".", "-").replace(":", "-")
    slug = re.sub(r"[^a-z0-9_-]+", "-", short.lower()).strip("-_")
    return slug or "device"


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _ipv4(octets: Sequence[int] | bytes) -> str:
    return str(ipaddress.IPv4Address(bytes(octets))) if len(octets) == 4 else ""


def propose(seed_host: str, tables: Tables, seed_name: str = "", names: Mapping[str, str] | None = None,
            zone: str = "") -> list[Proposal]:
    """Pure: the seed, then its LLDP/CDP neighbours (role `network`), then ARP-only hosts (role `host`),
    each with the seed as parent. `names` are reverse-DNS names, only when the user asked for them."""
    names = names or {}
    out: list[Proposal] = []
    ids: set[str] = set()
    hosts: set[str] = set()

    def add(name: str, host: str, role: str, source: str, mac: str = "", parent: str = "") -> None:
        if host in hosts:
            return
        ident = base = _slug(name or host)
        n = 2
        while ident in ids:
            ident, n = f"{base}-{n}", n + 1
        ids.add(ident)
        hosts.add(host)
        out.append(Proposal(ident, name or host, host, parent, role, source, mac,
                            {"zone": zone} if zone else {}))

    seed_label = seed_name or names.get(seed_host, "") or seed_host
    add(seed_label, seed_host, "network", "seed")
    seed_id = out[0].id

    lldp_names = {idx[:3]: _text(v) for idx, (_, v) in tables.get(LLDP_REM_SYS_NAME, {}).items() if len(idx) >= 3}
    for idx in sorted(tables.get(LLDP_REM_MAN_ADDR_IF_SUBTYPE, {})):
        # timeMark.localPort.remIndex.subtype(1 = IPv4).length(4).a.b.c.d
        if len(idx) >= 9 and idx[3] == 1 and idx[4] == 4:
            host = _ipv4(idx[5:9])
            if host:
                add(lldp_names.get(idx[:3], "") or names.get(host, ""), host, "network", "lldp", parent=seed_id)

    cdp_types = tables.get(CDP_CACHE_ADDRESS_TYPE, {})
    cdp_names = tables.get(CDP_CACHE_DEVICE_ID, {})
    for idx, (_, value) in sorted(tables.get(CDP_CACHE_ADDRESS, {}).items()):
        kind = cdp_types.get(idx, (0, 1))[1]
        if kind == 1 and isinstance(value, bytes):
            host = _ipv4(value)
            if host:
                add(_text(cdp_names.get(idx, (0, b""))[1]) or names.get(host, ""), host, "network", "cdp",
                    parent=seed_id)

    arp_types = tables.get(ARP_TYPE, {})
    for idx, (_, value) in sorted(tables.get(ARP_PHYS_ADDRESS, {}).items()):
        if len(idx) < 5 or arp_types.get(idx, (0, 3))[1] == 2:   # type invalid(2): a stale entry
            continue
        host = _ipv4(idx[-4:])
        mac = ":".join(f"{b:02x}" for b in value) if isinstance(value, bytes) else ""
        if host:
            add(names.get(host, ""), host, "host", "arp", mac, parent=seed_id)
    return out


def in_ranges(host: str, ranges: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    address = ipaddress.ip_address(host)
    return any(address in r for r in ranges)


def render_csv(proposals: Sequence[Proposal], zone: str = "") -> str:
    """The columns `netwatch import` reads (plus source and mac, which it keeps as labels)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in proposals:
        writer.writerow([p.id, p.name, p.host, zone, p.role, "", p.parent, p.source, p.mac])
    return buf.getvalue()


def render_yaml(proposals: Sequence[Proposal], zone: str = "") -> str:
    targets: list[dict[str, Any]] = []
    for p in proposals:
        target: dict[str, Any] = {"id": p.id, "name": p.name, "host": p.host}
        if zone:
            target["zone"] = zone
        if p.parent:
            target["depends_on"] = [p.parent]
        labels = {"role": p.role, "discovered": p.source, **({"mac": p.mac} if p.mac else {}),
                  **{k: v for k, v in p.labels.items() if k != "zone"}}
        target["labels"] = labels
        targets.append(target)
    return yaml.safe_dump({"targets": targets}, allow_unicode=True, sort_keys=False, default_flow_style=None,
                          width=200)
