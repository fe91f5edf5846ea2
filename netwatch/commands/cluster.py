"""`netwatch cluster status`: nodes, sites, slots per node and the coordinator, read from PostgreSQL only."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from netwatch.config import load

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "not_cluster": "{path}: cấu hình không có mục cluster: (chạy một máy)",
        "not_started": "chưa có nút nào của cụm khởi động trên {db}",
        "head": "Cụm netwatch trên {db}",
        "slots": "Khe: {owned}/{slots} có chủ",
        "coordinator": "Điều phối: {node} (epoch {epoch}, hợp đồng còn {left:.1f} s)",
        "no_coordinator": "Điều phối: KHÔNG CÓ (không nút nào giữ hợp đồng điều phối)",
        "columns": "{node:<16} {site:<10} {state:<22} {slots:>5} {renew:>12} {left:>10}  {hash}",
        "col_names": ("nút", "điểm", "trạng thái", "khe", "gia hạn cách", "còn lại", "cấu hình"),
        "live": "đang chạy",
        "fenced": "hết hạn (đã tự dừng)",
        "refused": "từ chối nhận việc",
        "differs": "khác cụm",
        "unowned": "CẢNH BÁO: {n} khe không có chủ: có kiểm tra không được đo",
        "isolated": "CẢNH BÁO: mất liên lạc với điểm {site}",
        "suspect": "Nghi vấn: điểm {site} bỏ phiếu ngược với mọi điểm khác trên nhiều kiểm tra",
    },
    "en": {
        "not_cluster": "{path}: the config has no cluster: section (single node)",
        "not_started": "no cluster node has started on {db} yet",
        "head": "netwatch cluster on {db}",
        "slots": "Slots: {owned}/{slots} owned",
        "coordinator": "Coordinator: {node} (epoch {epoch}, lease left {left:.1f} s)",
        "no_coordinator": "Coordinator: NONE (no node holds the coordinator lease)",
        "columns": "{node:<16} {site:<10} {state:<22} {slots:>5} {renew:>12} {left:>10}  {hash}",
        "col_names": ("node", "site", "state", "slots", "last renew", "lease left", "config"),
        "live": "live",
        "fenced": "expired (fenced)",
        "refused": "refuses work",
        "differs": "differs",
        "unowned": "WARNING: {n} slots have no owner: some checks are not probed",
        "isolated": "WARNING: site {site} is isolated (lost contact)",
        "suspect": "Suspect: site {site} votes against every other site on many checks",
    },
}


def _t(lang: str, key: str, **kwargs: Any) -> Any:
    text = TEXTS.get(lang, TEXTS["en"])[key]
    return text.format(**kwargs) if isinstance(text, str) else text


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("cluster", help="show the cluster's nodes, slots and coordinator (PostgreSQL)")
    sub = p.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    s = sub.add_parser("status", help="nodes, sites, slots per node, coordinator, last renew, fenced nodes",
                       description="Reads the cluster database only (read-only transactions): it binds no port "
                                   "and takes no lease, so it runs beside live nodes that use the same file.")
    s.add_argument("-c", "--config", required=True)
    s.add_argument("--json", action="store_true", help="machine-readable output")
    s.set_defaults(func=cmd_status)


def cmd_status(args: argparse.Namespace) -> int:
    from netwatch.clustering import with_site_flags
    from netwatch.store.cluster import ClusterStore

    lang = getattr(args, "lang", "en")
    config = load(args.config)
    if config.cluster is None:
        print(_t(lang, "not_cluster", path=args.config), file=sys.stderr)
        return EXIT_CONFIG
    dsn = config.cluster.dsn
    assert dsn.url is not None
    store = ClusterStore(dsn.url, dsn.password_text(), str(dsn), readonly=True)
    try:
        if not store.started():
            print(_t(lang, "not_started", db=dsn), file=sys.stderr)
            return EXIT_FAILED
        status = store.status()
    finally:
        store.close()
    status = with_site_flags(config.cluster, status)
    isolated, suspect = status.isolated_sites or frozenset(), status.suspect_sites or frozenset()
    if args.json:
        print(json.dumps({
            "slots": status.slots, "owned": status.owned, "coordinator": status.coordinator,
            "coordinator_epoch": status.coordinator_epoch,
            "coordinator_lease_left_seconds": status.coordinator_expires_in_seconds,
            "config_hash": status.cluster_hash,
            "nodes": [{"node": n.node, "site": n.site, "live": n.live, "slots": n.slots,
                       "fenced": n.expires_in_seconds <= 0, "refused": n.refused,
                       "last_renew_age_seconds": round(n.last_renew_age_seconds, 3),
                       "lease_left_seconds": round(n.expires_in_seconds, 3), "config_hash": n.config_hash}
                      for n in status.nodes],
            "isolated_sites": sorted(isolated), "suspect_sites": sorted(suspect)}, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(_t(lang, "head", db=dsn))
    print(_t(lang, "slots", owned=status.owned, slots=status.slots))
    if status.coordinator:
        print(_t(lang, "coordinator", node=status.coordinator, epoch=status.coordinator_epoch,
                 left=status.coordinator_expires_in_seconds or 0.0))
    else:
        print(_t(lang, "no_coordinator"))
    names = _t(lang, "col_names")
    print(_t(lang, "columns", node=names[0], site=names[1], state=names[2], slots=names[3], renew=names[4],
             left=names[5], hash=names[6]))
    for n in status.nodes:
        if n.refused:
            state = f"{_t(lang, 'refused')}: {n.refused}"
        elif n.expires_in_seconds <= 0:
            state = _t(lang, "fenced")
        else:
            state = _t(lang, "live")
        digest = n.config_hash[:12] + ("" if n.config_hash == status.cluster_hash else f" ({_t(lang, 'differs')})")
        print(_t(lang, "columns", node=n.node, site=n.site, state=state, slots=n.slots,
                 renew=f"{n.last_renew_age_seconds:.1f} s", left=f"{max(n.expires_in_seconds, 0):.1f} s",
                 hash=digest))
    if status.owned < status.slots:
        print(_t(lang, "unowned", n=status.slots - status.owned))
    for site in sorted(isolated):
        print(_t(lang, "isolated", site=site))
    for site in sorted(suspect):
        print(_t(lang, "suspect", site=site))
    return EXIT_OK
