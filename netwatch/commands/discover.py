"""`netwatch discover --seed HOST[:PORT] --community C`: targets proposed from one SNMP device."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import ipaddress
import socket
import sys
from typing import Any

from netwatch import discover
from netwatch.net.icmp import ping_many
from netwatch.net.snmp import ber
from netwatch.net.snmp.client import Agent, SnmpError, engine

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("discover", help="propose targets from one SNMP device's LLDP/CDP neighbours and "
                                               "ARP table")
    p.add_argument("--seed", required=True, metavar="HOST[:PORT]", help="the one device asked (an IP address)")
    p.add_argument("--community", required=True, help="SNMP v2c community of the seed")
    p.add_argument("--format", choices=["yaml", "csv"], default="yaml",
                   help="yaml (targets to paste) or csv (for `netwatch import`)")
    p.add_argument("--zone", default="", help="zone to give every proposed target")
    p.add_argument("--probe", action="store_true",
                   help="also ping the learned addresses inside --ranges (nothing else is contacted)")
    p.add_argument("--ranges", default="", metavar="CIDR[,CIDR...]", help="what --probe may ping, e.g. 10.20.0.0/16")
    p.add_argument("--resolve", action="store_true", help="look up names by reverse DNS (off: no DNS at all)")
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS", help="SNMP timeout (default 5)")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of standard output")
    p.set_defaults(func=cmd_discover)


def _seed(text: str) -> tuple[str, int]:
    host, port = text, 161
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 161
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = int(port_text)
    ipaddress.ip_address(host)   # a name would need DNS; the seed is given by address
    if not 0 < port < 65536:
        raise ValueError("port out of range")
    return host, port


def cmd_discover(args: argparse.Namespace) -> int:
    try:
        host, port = _seed(args.seed)
    except ValueError:
        print(f"netwatch discover: --seed {args.seed!r}: give an IP address, optionally with :PORT",
              file=sys.stderr)
        return EXIT_USAGE
    ranges = []
    for part in filter(None, (p.strip() for p in args.ranges.split(","))):
        try:
            ranges.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            print(f"netwatch discover: --ranges: {part!r} is not a CIDR range (e.g. 10.20.0.0/16)", file=sys.stderr)
            return EXIT_USAGE
    if args.probe and not ranges:
        print("netwatch discover: --probe needs --ranges: the ranges that may be pinged", file=sys.stderr)
        return EXIT_USAGE
    try:
        proposals = asyncio.run(_discover(host, port, args, ranges))
    except SnmpError as exc:
        print(f"netwatch discover: seed {host}:{port}: {exc.error}: {exc.detail}", file=sys.stderr)
        return EXIT_FAILED
    text = discover.render_csv(proposals, args.zone) if args.format == "csv" else \
        discover.render_yaml(proposals, args.zone)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    learned = len(proposals) - 1
    print(f"netwatch discover: {learned} devices learned from {host} (LLDP/CDP neighbours and ARP)", file=sys.stderr)
    return EXIT_OK


async def _discover(host: str, port: int, args: argparse.Namespace,
                    ranges: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> list[discover.Proposal]:
    agent = Agent(host=host, port=port, community=args.community.encode(), timeout_seconds=args.timeout)
    snmp = engine()
    sys_name = (await snmp.get(agent, [discover.SYS_NAME])).get(discover.SYS_NAME, (ber.NULL, None))
    tables = await snmp.walk(agent, discover.COLUMNS)
    name = discover._text(sys_name[1]) if sys_name[0] == ber.OCTET_STRING else ""
    proposals = discover.propose(host, tables, name)
    if args.resolve:
        names = {}
        for p in proposals:
            try:
                names[p.host] = (await asyncio.get_running_loop().run_in_executor(None, socket.gethostbyaddr,
                                                                                   p.host))[0]
            except OSError:
                continue
        proposals = discover.propose(host, tables, name, names)
    if args.probe:
        # Only learned addresses inside the given ranges; the seed was contacted already.
        allowed = [p.host for p in proposals[1:] if discover.in_ranges(p.host, ranges)]
        stats = await ping_many(allowed, 1, 0, 1.0) if allowed else {}
        proposals = [p if p.host not in stats else dataclasses.replace(
            p, labels={**p.labels, "reachable": "yes" if stats[p.host].rtts_seconds else "no"}) for p in proposals]
    return proposals
