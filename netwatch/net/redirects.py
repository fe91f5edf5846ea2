"""Where a redirect may lead: a website chooses its Location, so its hops are judged, configured URLs are not.

Pure: addresses in, a refusal sentence (or None) out. `fetch` in net/http.py resolves every hop, asks this
module once per hop, then connects to exactly the addresses it checked (no second lookup to rebind).
"""

from __future__ import annotations

import ipaddress
from typing import Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ERROR_CLASS = "redirect_blocked"
# Cloud and hypervisor metadata services: credentials for the taking, never a monitored page.
METADATA = (ipaddress.ip_network("169.254.169.254/32"), ipaddress.ip_network("fd00:ec2::254/128"),
            ipaddress.ip_network("100.100.100.200/32"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def parse_networks(items: Sequence[str]) -> tuple[Network, ...]:
    """`allow_redirects_to` entries (CIDR or single address); raises ValueError naming the bad one."""
    out = []
    for item in items:
        try:
            out.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an address or CIDR network (e.g. 10.30.0.0/16)") from None
    return tuple(out)


def unwrap(address: Address) -> Address:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 IPv6 address (the kernel reaches that one)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _kind(address: Address) -> str:
    if address.is_loopback or address.is_unspecified:
        return "loopback"   # 0.0.0.0 and :: reach this host too
    if any(address in net for net in METADATA):
        return "metadata"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast or address.is_reserved:
        return "reserved"
    return "public" if address.is_global else "private"


def refusal(from_address: str, to_addresses: Sequence[str], allowed: Sequence[Network] = ()) -> str | None:
    """Why a redirect from the page served by `from_address` may not go to `to_addresses` (every address
    its host resolved to), or None. `allowed` (the check's `allow_redirects_to`) opens networks on purpose."""
    source = _kind(unwrap(ipaddress.ip_address(from_address.split("%", 1)[0])))
    for text in to_addresses:
        raw = ipaddress.ip_address(text.split("%", 1)[0])
        to = unwrap(raw)
        if any(to in net or raw in net for net in allowed if net.version in (to.version, raw.version)):
            continue
        kind = _kind(to)
        shown = str(to) if to == raw else f"{to} (as {raw})"
        if kind == "metadata":
            return f"redirect to the metadata address {shown} refused"
        if kind == "link-local":
            return f"redirect to the link-local address {shown} refused"
        if kind == "reserved":
            return f"redirect to the reserved or multicast address {shown} refused"
        if kind == "loopback" and source != "loopback":
            return f"redirect from {source} {from_address} to the loopback address {shown} refused"
        if kind == "private" and source == "public":
            return f"redirect from public {from_address} to the private address {shown} refused"
    return None
