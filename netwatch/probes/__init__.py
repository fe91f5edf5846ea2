"""The probe registry: PROBES maps a check kind to its module's contract.

A probe module holds a frozen `Settings` dataclass (validated in `__post_init__`), `MEASUREMENTS`
(name -> help text, base units in names) and
`async def probe(target, settings, timeout_seconds, context=None) -> Outcome`, and declares them
once as `CONTRACT = ProbeKind(...)` (netwatch.probes.contract: the optional fields, their defaults
and what they mean). Adding a kind = one file + one line below.
"""

from __future__ import annotations

from typing import Mapping

from netwatch.probes.contract import ProbeContext, ProbeKind
from netwatch.probes import dns, http, icmp, tcp
from netwatch.probes import snmp, ssh
from netwatch.probes import http_flow, imap, mail_roundtrip, smtp, web_integrity

__all__ = ["PROBES", "SHARED_MEASUREMENTS", "ProbeContext", "ProbeKind"]

# Measurements exported under one shared name whatever the kind (promtool wants one HELP each).
SHARED_MEASUREMENTS: Mapping[str, str] = {
    "tls_cert_expiry_timestamp_seconds": "Unix time when the leaf TLS certificate expires.",
}

PROBES: Mapping[str, ProbeKind] = {
    p.kind: p
    for p in (
        icmp.CONTRACT,
        http.CONTRACT,
        tcp.CONTRACT,
        dns.CONTRACT,
        snmp.CONTRACT,
        ssh.CONTRACT,
        web_integrity.CONTRACT,
        smtp.CONTRACT,
        imap.CONTRACT,
        mail_roundtrip.CONTRACT,
        http_flow.CONTRACT,
    )
}
