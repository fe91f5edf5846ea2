"""Vietnamese and English texts for people; Vietnamese is the default (duty staff)."""

from __future__ import annotations

import os
from typing import Literal

Lang = Literal["vi", "en"]

STATE_NAMES: dict[str, dict[str, str]] = {
    "vi": {"up": "Hoạt động", "degraded": "Suy giảm", "down": "Mất kết nối", "unreachable": "Không tới được",
           "maintenance": "Bảo trì", "unknown": "Không rõ"},
    "en": {"up": "Up", "degraded": "Degraded", "down": "Down", "unreachable": "Unreachable",
           "maintenance": "Maintenance", "unknown": "Unknown"},
}

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "config_ok": "Cấu hình hợp lệ: {path}",
        "site": "Địa điểm",
        "listen": "Lắng nghe",
        "store": "Lưu lịch sử",
        "targets": "Đối tượng giám sát",
        "checks": "Phép kiểm tra",
        "zones": "Khu vực",
        "phases": "Giai đoạn",
        "channels": "Kênh thông báo",
        "check": "Kiểm tra",
        "kind": "Loại",
        "result": "Kết quả",
        "time": "Thời gian",
        "error": "Lỗi",
        "ok": "ĐẠT",
        "fail": "LỖI",
        "degraded": "SUY GIẢM",
        "summary_probe": "{ok}/{total} đạt, {failed} lỗi",
        "unknown_check": "không có phép kiểm tra hay đối tượng nào tên {name!r}",
        "none": "không có",
        "note": "lưu ý",
        "listen_failed": "netwatch run: không mở được cổng {listen} (khóa `listen:` trong {path}): {reason}; "
                         "dừng chương trình đang dùng cổng này hoặc đổi `listen:`",
        "warn_link_any": "Cảnh báo: liên kết nhận xử lý trong tin nhắn sẽ trỏ tới {base}, điện thoại không mở được. "
                         "Đặt board.public_url (địa chỉ qua reverse proxy hoặc VPN).",
        "warn_link_loopback": "Lưu ý: liên kết nhận xử lý trỏ tới {base}, chỉ mở được trên máy này. "
                              "Đặt board.public_url để điện thoại mở được.",
        "warn_verify_tls": "Cảnh báo: {check} đặt verify_tls: false — không kiểm tra chứng chỉ, kẻ giả mạo "
                           "máy chủ sẽ không bị phát hiện.",
        "warn_parent_no_checks": "Lưu ý: {target} là thiết bị cấp trên của {children} nhưng không có phép kiểm "
                                 "tra nào, nên không bao giờ được coi là mất kết nối.",
    },
    "en": {
        "config_ok": "Config is valid: {path}",
        "site": "Site",
        "listen": "Listen",
        "store": "History store",
        "targets": "Targets",
        "checks": "Checks",
        "zones": "Zones",
        "phases": "Phases",
        "channels": "Channels",
        "check": "Check",
        "kind": "Kind",
        "result": "Result",
        "time": "Time",
        "error": "Error",
        "ok": "OK",
        "fail": "FAIL",
        "degraded": "DEGRADED",
        "summary_probe": "{ok}/{total} ok, {failed} failed",
        "unknown_check": "no check or target named {name!r}",
        "none": "none",
        "note": "note",
        "listen_failed": "netwatch run: cannot listen on {listen} (`listen:` in {path}): {reason}; "
                         "stop the program using it or change `listen:`",
        "warn_link_any": "Warning: acknowledgement links in notices would point to {base}, which no phone can "
                         "open. Set board.public_url (the address through a reverse proxy or VPN).",
        "warn_link_loopback": "Note: acknowledgement links point to {base}, which opens on this machine only. "
                              "Set board.public_url so phones can open them.",
        "warn_verify_tls": "Warning: {check} sets verify_tls: false: the certificate is not checked, so an "
                           "impostor server goes unnoticed.",
        "warn_parent_no_checks": "Note: {target} is the parent of {children} but has no checks, so it is never "
                                 "seen down and its dependants page on their own.",
    },
}


def default_lang() -> Lang:
    return "en" if os.environ.get("NETWATCH_LANG", "vi").lower().startswith("en") else "vi"


def t(key: str, lang: Lang, **kwargs: object) -> str:
    text = TEXTS[lang].get(key) or TEXTS["en"][key]
    return text.format(**kwargs) if kwargs else text


def state_name(state: str, lang: Lang) -> str:
    return STATE_NAMES[lang].get(state, state)
