"""The probe registry: PROBES maps a check kind to its module's contract.

A probe module defines `KIND`, a frozen `Settings` dataclass (validated in `__post_init__`),
`MEASUREMENTS` (name -> help text, base units in names) and
`async def probe(target, settings, timeout_seconds) -> Outcome`. Optional: `CONCURRENCY` (how many
checks of this kind run at once; default 256), `LATENCY` (the measurement that stands for the
check's latency in rollups and reports; default: the probe's duration), `DEFAULT_TIMEOUT_SECONDS`
(the ceiling of the default timeout, 5 s unless the kind needs longer) and `SERIES` (labelled
series the probe reports: name -> (help, extra label names)) and
`prepare(settings, target, config_dir) -> settings` (called at config load: check settings against
the target, resolve relative paths against the config file's directory; raise FieldError).
Adding a kind = one file + one line below.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Awaitable, Callable, Mapping

from netwatch.model import Outcome, Target

from netwatch.probes import dns, http, icmp, tcp
from netwatch.probes import snmp, ssh
from netwatch.probes import http_flow, imap, mail_roundtrip, smtp, web_integrity

ProbeFunc = Callable[[Target, object, float], Awaitable[Outcome]]

# Measurements exported under one shared name whatever the kind (promtool wants one HELP each).
SHARED_MEASUREMENTS: Mapping[str, str] = {
    "tls_cert_expiry_timestamp_seconds": "Unix time when the leaf TLS certificate expires.",
}


@dataclass(frozen=True)
class ProbeKind:
    kind: str
    settings: type
    measurements: Mapping[str, str]
    probe: ProbeFunc
    concurrency: int
    latency: str | None
    series: Mapping[str, tuple[str, tuple[str, ...]]]
    prepare: Callable[[object, Target, str], object] | None = None
    default_timeout_seconds: float = 5.0

    @staticmethod
    def of(module: ModuleType) -> "ProbeKind":
        return ProbeKind(
            kind=module.KIND,
            settings=module.Settings,
            measurements=module.MEASUREMENTS,
            probe=module.probe,
            concurrency=getattr(module, "CONCURRENCY", 256),
            latency=getattr(module, "LATENCY", None),
            series=getattr(module, "SERIES", {}),
            prepare=getattr(module, "prepare", None),
            default_timeout_seconds=getattr(module, "DEFAULT_TIMEOUT_SECONDS", 5.0),
        )


PROBES: Mapping[str, ProbeKind] = {
    p.kind: p
    for p in (
        ProbeKind.of(icmp),
        ProbeKind.of(http),
        ProbeKind.of(tcp),
        ProbeKind.of(dns),
        ProbeKind.of(snmp),
        ProbeKind.of(ssh),
        ProbeKind.of(web_integrity),
        ProbeKind.of(smtp),
        ProbeKind.of(imap),
        ProbeKind.of(mail_roundtrip),
        ProbeKind.of(http_flow),
    )
}
