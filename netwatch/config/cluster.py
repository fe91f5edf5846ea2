"""The `cluster:` key: the shared PostgreSQL, this node's name and site, the sites' anchors, lease timing."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from netwatch.cluster.isolation import IsolationRule
from netwatch.cluster.leases import LeaseTiming
from netwatch.cluster.slots import DEFAULT_SLOTS
from netwatch.config import store as store_config
from netwatch.config.store import StoreSpec
from netwatch.fields import MISSING, Converter, Duration, FieldError
from netwatch.yamlsource import Path

__all__ = ["ClusterSettings", "SiteSpec", "convert", "config_hash", "NODE_LOCAL_KEYS"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_ENV_RE = re.compile(r"\$(\$|\{([A-Za-z_][A-Za-z0-9_]*)\})")

# Keys that differ between the nodes of one cluster by design: they do not enter the config hash.
NODE_LOCAL_KEYS: tuple[tuple[str, ...], ...] = (("cluster", "node"), ("cluster", "site"), ("cluster", "spool"),
                                                 ("listen",), ("listen_tls",))


@dataclass(frozen=True)
class SiteSpec:
    """A place netwatch probes from; `anchors` are hosts whose failure from here alone means a cut uplink."""

    anchors: tuple[str, ...] = ()


@dataclass(frozen=True)
class _ClusterSpec:
    node: Any   # names, not secrets: ${ENV} in them is expanded without being redacted (see _plain)
    site: Any
    dsn: Any = None
    sites: Mapping[str, SiteSpec] = field(default_factory=lambda: MappingProxyType({}))
    lease_ttl: Duration = Duration(15)
    # 15 - 2 - 2 = 11 s of lease always left after a renew period: more than a channel's default 10 s
    # timeout, so the coordinator may start a send at any moment (see validate_channels).
    lease_renew: Duration = Duration(2)
    fence_margin: Duration = Duration(2)
    slots: int = DEFAULT_SLOTS
    vote_fresh: Duration | None = None
    max_moves: int = 16
    anchor_failing_ratio: float = 0.5
    spool: str | None = None
    spool_max_rows: int = 100_000
    summary_sms_after: Duration | None = None
    # A coordinator that has not delivered a waiting message for this long (every attempt failing: its
    # own path to the gateway is cut) lets another node coordinate; 0s: never.
    handover_after: Duration = Duration(60)


@dataclass(frozen=True)
class ClusterSettings:
    """Resolved `cluster:`; `dsn` is the same StoreSpec the history store uses (one PostgreSQL)."""

    dsn: StoreSpec
    node: str
    site: str
    sites: Mapping[str, SiteSpec]
    timing: LeaseTiming
    slots: int = DEFAULT_SLOTS
    vote_fresh_seconds: float = 60.0
    max_moves: int = 16
    isolation: IsolationRule = IsolationRule()
    config_hash: str = ""
    # The local SQLite spool for results probed while cut off from PostgreSQL (0 rows: no spool).
    spool_path: str = ""
    spool_max_rows: int = 100_000
    # A node with a modem channel that has lost the cluster this long sends ONE local summary SMS (None: off).
    summary_sms_after_seconds: float | None = None
    handover_after_seconds: float = 60.0


def _plain(src: Any, text: str, path: Path) -> str:
    """${VAR} substitution for a name that is NOT a secret (a node name must stay readable in logs)."""
    def sub(m: re.Match[str]) -> str:
        if m.group(1) == "$":
            return "$"
        name = m.group(2)
        if name not in src.env:
            src.error(path, f"environment variable {name} is not set")
            return ""
        return str(src.env[name])
    return _ENV_RE.sub(sub, text)


def convert(conv: Converter, raw: Any, store: StoreSpec, store_given: bool) -> tuple[ClusterSettings | None, StoreSpec]:
    """`cluster:` -> settings, and the history store to use (the cluster's PostgreSQL)."""
    src = conv.src
    path: Path = ("cluster",)
    spec = conv.dataclass(raw, _ClusterSpec, path)
    if spec is MISSING:
        return None, store
    ok = True
    names = {}
    for key, example in (("node", "dc-1 or ${NETWATCH_NODE}"), ("site", "dc or ${NETWATCH_SITE}")):
        value = getattr(spec, key)
        if not isinstance(value, str) or not value.strip():
            src.error(path + (key,), f"give this node's {key}, e.g. {example}")
            return None, store
        names[key] = _plain(src, value, path + (key,)).strip()
    node, site = names["node"], names["site"]
    for key, value in (("node", node), ("site", site)):
        if value and not _NAME_RE.match(value):
            src.error(path + (key,), f"bad {key} name {value!r}: use letters, digits, '.', '_' or '-'")
            ok = False
    if spec.sites and site not in spec.sites:
        src.error(path + ("site",), f"unknown site {site!r} (sites: {', '.join(sorted(spec.sites))})")
        ok = False
    if spec.dsn is None:
        if store.url is None:
            src.error(path + ("dsn",), "give the cluster's postgresql:// URL here or as store:")
            return None, store
        dsn = store
    else:
        dsn = store_config.convert(conv, spec.dsn, path + ("dsn",))
        if dsn.url is None:
            src.error(path + ("dsn",), "the cluster needs a postgresql:// URL (or {url: ..., password_file: PATH})")
            return None, store
    if store_given and store.url != dsn.url:
        src.error(("store",), "in cluster mode the history lives in the cluster's PostgreSQL: give the same "
                              "URL as cluster.dsn or leave store: out")
        ok = False
    try:
        timing = LeaseTiming(float(spec.lease_ttl), float(spec.lease_renew), float(spec.fence_margin))
    except ValueError as exc:
        src.error(path + ("lease_renew",), str(exc))
        ok = False
        timing = LeaseTiming()
    if not 1 <= spec.slots <= 65536:
        src.error(path + ("slots",), "must be between 1 and 65536")
        ok = False
    if spec.max_moves < 1:
        src.error(path + ("max_moves",), "must be at least 1")
        ok = False
    if not 0 < spec.anchor_failing_ratio <= 1:
        src.error(path + ("anchor_failing_ratio",), "must be above 0 and at most 1, e.g. 0.5")
        ok = False
    if spec.spool_max_rows < 0:
        src.error(path + ("spool_max_rows",), "must be 0 (no spool) or more, e.g. 100000")
        ok = False
    if spec.summary_sms_after is not None and float(spec.summary_sms_after) <= 0:
        src.error(path + ("summary_sms_after",), "must be greater than zero, e.g. 120s (leave it out: no summary SMS)")
        ok = False
    if float(spec.handover_after) < 0:
        src.error(path + ("handover_after",), "must be 0s (never hand over) or more, e.g. 60s")
        ok = False
    spool_path = spec.spool if spec.spool is not None else f"spool-{node}.db"
    if not spool_path.strip():
        src.error(path + ("spool",), "give a file path for the local spool, or leave it out")
        ok = False
    if not ok:
        return None, store
    fresh = float(spec.vote_fresh) if spec.vote_fresh is not None else max(60.0, 4 * timing.ttl_seconds)
    settings = ClusterSettings(dsn=dsn, node=node, site=site, sites=spec.sites, timing=timing,
                               slots=spec.slots, vote_fresh_seconds=fresh, max_moves=spec.max_moves,
                               isolation=IsolationRule(failing_ratio=spec.anchor_failing_ratio),
                               config_hash=config_hash(src.value), spool_path=spool_path,
                               spool_max_rows=spec.spool_max_rows,
                               summary_sms_after_seconds=(float(spec.summary_sms_after)
                                                          if spec.summary_sms_after is not None else None),
                               handover_after_seconds=float(spec.handover_after))
    return settings, dsn


def config_hash(tree: Any) -> str:
    """SHA-256 of the parsed config without node-local keys; `${VAR}` references stay unexpanded.

    Every `${VAR}` value and every `*_file` content is a secret in netwatch, so hashing the tree before
    expansion is hashing the resolved config without its secret values; file paths stay (they are not
    secret) and comments and formatting do not count.
    """
    data = copy.deepcopy(tree) if isinstance(tree, dict) else {}
    for keys in NODE_LOCAL_KEYS:
        parent: Any = data
        for key in keys[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(keys[-1], None)
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validate_vantages(src: Any, settings: ClusterSettings | None, vantages: Mapping[str, tuple[Path, tuple[str, ...]]]
                      ) -> None:
    """Each check's `vantage:` names configured sites."""
    for check_id, (cpath, sites) in vantages.items():
        if settings is None:
            src.error(cpath + ("vantage",), "vantage needs a cluster: section with sites")
            continue
        for i, site in enumerate(sites):
            if site not in settings.sites:
                src.error(cpath + ("vantage", i), f"unknown site {site!r} (sites: "
                                                  f"{', '.join(sorted(settings.sites)) or 'none'})")


def validate_channels(src: Any, settings: ClusterSettings | None, channels: Mapping[str, Any]) -> None:
    """A send starts only while the coordinator's lease outlives the channel's timeout: make that possible."""
    if settings is None:
        return
    t = settings.timing
    room = t.ttl_seconds - t.margin_seconds - t.renew_seconds
    for name, channel in channels.items():
        if channel.timeout >= room:
            src.error(("channels", name, "timeout"),
                      f"in cluster mode a channel's timeout ({channel.timeout:g}s) must be shorter than "
                      f"lease_ttl - fence_margin - lease_renew ({room:g}s): a send starts only while the "
                      "coordinator's lease outlives it")


__all__ += ["validate_vantages", "validate_channels", "FieldError"]
