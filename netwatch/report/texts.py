"""The report's words (Vietnamese default, English) and how numbers and instants are written."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from netwatch.i18n import Lang, state_name

TEXTS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Báo cáo bảo đảm hoạt động hệ thống",
        "subtitle": "Khả dụng của hạ tầng mạng và các hệ thống thông tin",
        "site": "Địa điểm", "event": "Sự kiện", "period": "Thời gian báo cáo", "timezone": "Múi giờ",
        "generated": "Lập lúc", "page": "Trang",
        "summary": "Tổng hợp theo giai đoạn", "by_zone": "Khả dụng theo khu vực và giai đoạn",
        "by_check": "Chi tiết theo hệ thống", "outages": "Các sự cố", "events": "Sự kiện ghi nhận",
        "audit": "Nhật ký thao tác của cán bộ trực", "gaps": "Khoảng thời gian không giám sát",
        "timeline": "Dòng thời gian sự cố", "latency": "Độ trễ theo thời gian",
        "phase": "Giai đoạn", "zone": "Khu vực", "check": "Hệ thống / phép kiểm tra", "target": "Thiết bị",
        "kind": "Loại", "availability": "Khả dụng", "sla": "Chỉ tiêu", "sla_met": "Đạt chỉ tiêu",
        "yes": "Đạt", "no": "Không đạt", "na": "—",
        "checks": "Số hệ thống", "meeting": "Đạt chỉ tiêu", "outage_count": "Số sự cố",
        "outage_time": "Tổng thời gian sự cố", "longest": "Sự cố dài nhất", "mttr": "MTTR (khắc phục TB)",
        "mtta": "MTTA (xác nhận TB)", "p50": "Độ trễ p50", "p95": "Độ trễ p95",
        "unknown_note": "Thời gian không rõ (netwatch không giám sát hoặc chưa có kết quả) không được tính là "
                        "hoạt động; khả dụng = (hoạt động + suy giảm) / (thời gian − bảo trì − không rõ).",
        "start": "Bắt đầu", "end": "Kết thúc", "duration": "Thời lượng", "error": "Lỗi",
        "cause": "Nguyên nhân gốc", "paged": "Đã báo cho", "acked": "Xác nhận", "ongoing": "đang tiếp diễn",
        "by": "bởi", "when": "Thời điểm", "who": "Người thực hiện", "action": "Thao tác", "what": "Nội dung",
        "source": "Nguồn", "summary_text": "Tóm tắt", "from": "Từ", "to": "Đến",
        "none": "Không có.", "no_paging": "Kho lịch sử chưa có dữ liệu cảnh báo/xác nhận (chưa bật paging).",
        "all": "Toàn bộ thời gian", "window": "Toàn kỳ",
        "unknown_time": "Không rõ", "states": "Thời gian theo trạng thái",
        "kind_reboot": "Khởi động lại thiết bị", "kind_config_drift": "Thay đổi cấu hình",
        "kind_defacement": "Thay đổi nội dung trang (deface)", "kind_trap": "Bản tin SNMP trap",
        "kind_baseline": "Duyệt trang gốc để so sánh", "kind_config_changed": "Cấu hình thiết bị được lưu",
        "kind_config_frozen": "Khoá cấu hình chuẩn",
        "action_ack": "Xác nhận sự cố", "action_maintenance": "Đặt lịch bảo trì",
        "action_maintenance_add": "Đặt lịch bảo trì", "action_maintenance_end": "Kết thúc bảo trì",
        "action_baseline_approve": "Duyệt trang gốc", "action_config_freeze": "Khoá cấu hình chuẩn",
        "action_config_unfreeze": "Mở khoá cấu hình",
        "legend_avail": "Khả dụng (%) theo khu vực và giai đoạn", "mean_latency": "Độ trễ trung bình",
        "derived": "cổng", "more": "và {n} sự cố khác (xem bản HTML/CSV/JSON)",
        "prepared_by": "NGƯỜI LẬP BÁO CÁO", "approved_by": "THỦ TRƯỞNG ĐƠN VỊ",
        "sign_name": "(Ký, ghi rõ họ tên)", "sign_seal": "(Ký tên, đóng dấu)",
        "nation": "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "motto": "Độc lập - Tự do - Hạnh phúc",
        "doc_kind": "BÁO CÁO", "doc_subject": "Kết quả bảo đảm hoạt động hạ tầng mạng và hệ thống thông tin",
        "doc_for": "phục vụ {event}", "to": "Kính gửi", "copies": "Nơi nhận", "as_above": "Như trên",
        "archive": "Lưu: VT", "sec_1": "I. TÌNH HÌNH CHUNG", "sec_2": "II. KẾT QUẢ BẢO ĐẢM",
        "sec_3": "III. SỰ CỐ VÀ XỬ LÝ", "sec_4": "IV. ĐÁNH GIÁ, KIẾN NGHỊ", "by_zone_short": "1. Theo khu vực",
        "by_system": "2. Theo hệ thống", "incidents_list": "1. Các sự cố", "security_list": "2. Sự cố an ninh",
        "conclusion": "1. Kết luận", "recommend": "2. Kiến nghị", "annex": "PHỤ LỤC: SỐ LIỆU CHI TIẾT (KỸ THUẬT)",
        "no_data": "Không có dữ liệu", "device": "Thiết bị, hệ thống", "fix": "Cách khắc phục",
        "acked_by": "Người xác nhận", "assessment": "Đánh giá", "incident_count": "Số sự cố",
        "systems_met": "Hệ thống đạt", "no_security": "Không ghi nhận sự cố an ninh.",
        "no_incident": "Không ghi nhận sự cố.", "signer_sign": "(Ký, ghi rõ họ tên, đóng dấu)",
        "seq": "TT", "window_default": "Cửa sổ báo cáo: toàn bộ lịch sử đã ghi ({a} – {b}).",
        "security_mark": "AN NINH",
        "legend_systems": "Khả dụng của các hệ thống thấp nhất so với chỉ tiêu (vạch đen)",
    },
    "en": {
        "title": "Service assurance report", "subtitle": "Availability of the network and information systems",
        "site": "Venue", "event": "Event", "period": "Reporting period", "timezone": "Time zone",
        "generated": "Generated", "page": "Page",
        "summary": "Summary by phase", "by_zone": "Availability by zone and phase",
        "by_check": "Details by system", "outages": "Outages", "events": "Recorded events",
        "audit": "Operators' audit log", "gaps": "Monitoring gaps (netwatch not running)",
        "timeline": "Outage timeline", "latency": "Latency over time",
        "phase": "Phase", "zone": "Zone", "check": "System / check", "target": "Target",
        "kind": "Kind", "availability": "Availability", "sla": "Target", "sla_met": "Target met",
        "yes": "Met", "no": "Missed", "na": "—",
        "checks": "Systems", "meeting": "Meeting target", "outage_count": "Outages",
        "outage_time": "Total outage time", "longest": "Longest outage", "mttr": "MTTR",
        "mtta": "MTTA (to ack)", "p50": "Latency p50", "p95": "Latency p95",
        "unknown_note": "Unknown time (netwatch not running, or no result yet) is never counted as up; "
                        "availability = (up + degraded) / (window - maintenance - unknown).",
        "start": "Start", "end": "End", "duration": "Duration", "error": "Error",
        "cause": "Root cause", "paged": "Paged", "acked": "Acknowledged", "ongoing": "ongoing",
        "by": "by", "when": "When", "who": "Who", "action": "Action", "what": "What",
        "source": "Source", "summary_text": "Summary", "from": "From", "to": "To",
        "none": "None.", "no_paging": "The history store has no paging data (paging not enabled).",
        "all": "Whole period", "window": "Whole period",
        "unknown_time": "Unknown", "states": "Time per state",
        "kind_reboot": "Device reboots", "kind_config_drift": "Configuration changes",
        "kind_defacement": "Web page defacement", "kind_trap": "SNMP traps",
        "kind_baseline": "Page baselines approved", "kind_config_changed": "Device configurations saved",
        "kind_config_frozen": "Configurations frozen",
        "action_ack": "Acknowledged an incident", "action_maintenance": "Scheduled maintenance",
        "action_maintenance_add": "Scheduled maintenance", "action_maintenance_end": "Ended maintenance",
        "action_baseline_approve": "Approved a page baseline", "action_config_freeze": "Froze a configuration",
        "action_config_unfreeze": "Unfroze a configuration",
        "legend_avail": "Availability (%) by zone and phase", "mean_latency": "Mean latency",
        "derived": "port", "more": "and {n} more outages (see the HTML/CSV/JSON report)",
        "prepared_by": "PREPARED BY", "approved_by": "APPROVED BY",
        "sign_name": "(signature, full name)", "sign_seal": "(signature, seal)",
        "nation": "SOCIALIST REPUBLIC OF VIET NAM", "motto": "Independence - Freedom - Happiness",
        "doc_kind": "REPORT", "doc_subject": "Assurance of the network infrastructure and information systems",
        "doc_for": "for {event}", "to": "To", "copies": "Copies to", "as_above": "As above",
        "archive": "Archive: office", "sec_1": "I. GENERAL SITUATION", "sec_2": "II. ASSURANCE RESULTS",
        "sec_3": "III. INCIDENTS AND RESPONSE", "sec_4": "IV. ASSESSMENT AND RECOMMENDATIONS",
        "by_zone_short": "1. By zone", "by_system": "2. By system", "incidents_list": "1. Incidents",
        "security_list": "2. Security incidents", "conclusion": "1. Conclusion", "recommend": "2. Recommendations",
        "annex": "ANNEX: DETAILED FIGURES (ENGINEERING)", "no_data": "No data", "device": "Device / system",
        "fix": "How it was fixed", "acked_by": "Acknowledged by", "assessment": "Assessment",
        "incident_count": "Incidents", "systems_met": "Systems met",
        "no_security": "No security incident was recorded.", "no_incident": "No incident was recorded.",
        "signer_sign": "(signature, full name, seal)", "seq": "No.",
        "window_default": "Reporting window: the whole recorded history ({a} – {b}).",
        "security_mark": "SECURITY",
        "legend_systems": "Availability of the lowest systems against their target (black tick)",
    },
}


def tr(key: str, lang: Lang, **kwargs: object) -> str:
    text = TEXTS[lang].get(key) or TEXTS["en"].get(key) or key
    return text.format(**kwargs) if kwargs else text


def kind_name(kind: str, lang: Lang) -> str:
    return TEXTS[lang].get(f"kind_{kind}") or kind


def action_name(action: str, lang: Lang) -> str:
    """An operator's action in words ("baseline_approve" -> "Duyệt trang gốc"); unknown ones as recorded."""
    return TEXTS[lang].get(f"action_{action}") or action


def state(state_value: str, lang: Lang) -> str:
    return state_name(state_value, lang)


def iso(ms: int, tz: zoneinfo.ZoneInfo) -> str:
    """ISO 8601 with the site's offset; milliseconds only when there are some."""
    d = dt.datetime.fromtimestamp(ms / 1000, tz)
    return d.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")


def local(ms: int, tz: zoneinfo.ZoneInfo, lang: Lang, seconds: bool = True) -> str:
    d = dt.datetime.fromtimestamp(ms / 1000, tz)
    clock = "%H:%M:%S" if seconds else "%H:%M"
    return d.strftime(("%d/%m/%Y " if lang == "vi" else "%Y-%m-%d ") + clock)


def percent(ratio: float | None, lang: Lang, digits: int = 3) -> str:
    if ratio is None:
        return "—"
    text = f"{ratio * 100:.{digits}f}"
    return (text.replace(".", ",") if lang == "vi" else text) + " %"


def number(value: float, lang: Lang, digits: int = 1) -> str:
    text = f"{value:.{digits}f}"
    return text.replace(".", ",") if lang == "vi" else text


def duration(ms: int | None, lang: Lang) -> str:
    """Human duration: `2 h 05 min`, `3 min 20 s`, `45 s` (Vietnamese: giờ, phút, giây, ngày)."""
    if ms is None:
        return "—"
    total = int(round(ms / 1000))
    d, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    u = ("ngày", "giờ", "phút", "giây") if lang == "vi" else ("d", "h", "min", "s")
    if d:
        return f"{d} {u[0]} {h:02d} {u[1]}"
    if h:
        return f"{h} {u[1]} {m:02d} {u[2]}"
    if m:
        return f"{m} {u[2]} {s:02d} {u[3]}"
    if total == 0 and ms > 0:
        return f"{ms} ms"
    return f"{s} {u[3]}"


def latency(seconds: float | None, lang: Lang) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return number(seconds * 1000, lang, 1 if seconds < 0.1 else 0) + " ms"
    return number(seconds, lang, 2) + " s"


def clock(ms: int | None, lang: Lang) -> str:
    """Compact duration for narrow table cells: `2:09:00`, `3 ngày 04:05:00`."""
    if ms is None:
        return "—"
    total = int(round(ms / 1000))
    d, rest = divmod(total, 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    text = f"{h}:{m:02d}:{s:02d}"
    return f"{d} {'ngày' if lang == 'vi' else 'd'} {text}" if d else text


def met_share(met: int, total: int, without_data: int, lang: Lang) -> str:
    """"22/30" of the checks with data that met their target; "Không có dữ liệu" when none had data (a phase
    with no data at all is not 0/43 failed)."""
    if total and without_data >= total:
        return tr("no_data", lang)
    return f"{met}/{total - without_data}"
