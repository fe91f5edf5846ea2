"""A generated venue of N switches in Z zones on loopback, some of them broken, for the wall's tests and screenshots."""

from __future__ import annotations

from typing import Any

ZONE_NAMES = ("Hội trường A", "Hội trường B", "Phòng họp Tổ 1–5", "Phòng họp Tổ 6–10", "Trung tâm báo chí",
              "Khu ăn nghỉ đại biểu", "Khu lễ tân", "Trung tâm dữ liệu tỉnh", "Khu kỹ thuật", "Bãi xe & an ninh",
              "Khu VIP", "Nhà khách", "Tầng hầm", "Sân khấu", "Khu truyền hình", "Khu phóng viên quốc tế",
              "Y tế", "Nhà ăn", "Kho", "Trạm phát sóng")


def config(listen: str, store: str, up_port: int, down_port: int, targets: int = 200, zones: int = 10,
           faults: int = 5, interval_seconds: float = 1.0) -> dict[str, Any]:
    """`targets` tcp checks to 127.0.0.1: `up_port` answers, `down_port` refuses. The faulty targets are spread
    over different zones, at the end of their zone in config order (so "faults first" has work to do)."""
    zone_ids = [f"z{i + 1:02d}" for i in range(zones)]
    per_zone = targets // zones
    faulty = _faulty(targets, zones, faults)
    out: list[dict[str, Any]] = []
    for i in range(targets):
        zone = zone_ids[min(i // per_zone, zones - 1)]
        name = f"SW-{zone.upper()}-{i % per_zone + 1:02d}"
        out.append({"id": f"sw{i:03d}", "name": name, "zone": zone, "host": "127.0.0.1",
                    "checks": [{"kind": "tcp", "port": down_port if i in faulty else up_port}]})
    return {
        "site": {"name": f"Đại hội đại biểu Đảng bộ tỉnh — địa điểm {targets} thiết bị", "timezone": "Asia/Ho_Chi_Minh"},
        "listen": listen, "store": store,
        "defaults": {"interval": f"{interval_seconds:g}s", "timeout": "1s", "alert": {"fail_after": 2, "recover_after": 2}},
        "zones": [{"id": z, "name": ZONE_NAMES[i % len(ZONE_NAMES)]} for i, z in enumerate(zone_ids)],
        "targets": out,
    }


def faulty_ids(targets: int = 200, zones: int = 10, faults: int = 5) -> list[str]:
    return [f"sw{i:03d}" for i in sorted(_faulty(targets, zones, faults))]


def _faulty(targets: int, zones: int, faults: int) -> set[int]:
    """The last targets of every third zone, wrapping round: faults in several zones, none of them first."""
    per_zone = targets // zones
    return {(k * 3) % zones * per_zone + per_zone - 1 - (k // zones) for k in range(faults)}
