"""Cause words for the wall (vi/en), read from the shared cause catalogue when it is present."""

from __future__ import annotations

from typing import Iterable

from netwatch import egov

# Error classes that mean someone tampered with a system, not that it failed: own colour and words.
SECURITY_ERRORS: frozenset[str] = egov.SECURITY_ERRORS | frozenset({"config_drift", "host_key_changed",
                                                                    "host_key_unknown", "snmp_auth"})

# Interim words until the shared catalogue (netwatch.causes) lands; keys are probe error classes.
_WORDS: dict[str, tuple[str, str]] = {
    "timeout": ("Không phản hồi", "No answer"),
    "refused": ("Cổng dịch vụ bị từ chối", "Connection refused"),
    "dns": ("Lỗi phân giải tên miền", "DNS failure"),
    "status": ("Trang web báo lỗi", "Website returns an error"),
    "content": ("Nội dung trang sai", "Wrong page content"),
    "tls": ("Lỗi chứng chỉ/TLS", "TLS failure"),
    "tls_expired": ("Chứng chỉ đã hết hạn", "Certificate expired"),
    "unreachable": ("Không tới được", "Unreachable"),
    "packet_loss": ("Mất gói", "Packet loss"),
    "snmp_auth": ("Sai thông tin SNMP", "SNMP credentials refused"),
    "link_down": ("Cổng uplink mất tín hiệu", "Uplink port down"),
    "content_changed": ("Nội dung trang bị thay đổi", "Page content changed"),
    "forbidden_content": ("Trang bị chèn nội dung lạ (deface)", "Defaced page content"),
    "required_missing": ("Trang mất nội dung bắt buộc", "Required content missing"),
    "new_external_script": ("Trang có script lạ", "Unknown script on the page"),
    "form_changed": ("Biểu mẫu trang bị thay đổi", "Form changed"),
    "config_drift": ("Cấu hình thiết bị bị thay đổi", "Device configuration changed"),
    "host_key_changed": ("Khoá SSH thiết bị thay đổi", "SSH host key changed"),
    "auth": ("Đăng nhập bị từ chối", "Login refused"),
    "protocol": ("Phản hồi sai giao thức", "Protocol error"),
    "mail_timeout": ("Thư không tới kịp", "Mail not delivered in time"),
}


def is_security(error: str | None) -> bool:
    return error in SECURITY_ERRORS


def cause(error: str | None, kinds: Iterable[str] = ()) -> dict[str, str] | None:
    """{"vi": ..., "en": ...} for an error class, or None for no error."""
    if not error:
        return None
    try:
        from netwatch import causes  # type: ignore[attr-defined]
    except ImportError:
        vi, en = _WORDS.get(error, (f"Lỗi: {error}", f"Error: {error}"))
        return {"vi": vi, "en": en}
    return {"vi": causes.text(error, "vi"), "en": causes.text(error, "en")}
