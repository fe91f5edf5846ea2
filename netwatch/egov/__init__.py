"""E-government assurance: page fingerprints and baselines, mail sessions, certificate expiry rules."""

from __future__ import annotations

# Error classes that mean someone tampered with a public system; the paging code maps them to
# the `security` alert category.
SECURITY_ERRORS: frozenset[str] = frozenset({
    "content_changed",
    "new_external_script",
    "form_changed",
    "forbidden_content",
    "required_missing",
})

SECURITY_CATEGORY = "security"


def category_of(error: str | None) -> str | None:
    """`security` for a defacement error class, else None (the caller's default applies)."""
    return SECURITY_CATEGORY if error in SECURITY_ERRORS else None


# Names for people (duty staff read Vietnamese) of the error and degraded classes these checks emit.
ERROR_NAMES: dict[str, dict[str, str]] = {
    "vi": {
        "content_changed": "Nội dung trang bị thay đổi so với bản gốc",
        "new_external_script": "Trang nhúng mã hoặc khung từ tên miền lạ",
        "form_changed": "Biểu mẫu gửi dữ liệu tới địa chỉ khác",
        "forbidden_content": "Trang chứa nội dung cấm",
        "required_missing": "Trang thiếu thành phần bắt buộc",
        "no_baseline": "Chưa có trang gốc để so sánh",
        "auth": "Sai thông tin đăng nhập",
        "mailbox": "Không mở được hộp thư",
        "mail_rejected": "Máy chủ thư từ chối thư",
        "mail_timeout": "Thư không đến trong thời hạn",
        "mail_slow": "Thư đến chậm",
        "mail_cleanup": "Không xoá được thư kiểm tra",
        "step_slow": "Một bước của quy trình chậm",
        "tls_expiring": "Chứng thư số sắp hết hạn (nguy cấp)",
        "tls_cert_expiry": "Chứng thư số sắp hết hạn",
    },
    "en": {
        "content_changed": "Page content differs from the approved baseline",
        "new_external_script": "Page loads scripts or frames from a new domain",
        "form_changed": "A form now sends its data elsewhere",
        "forbidden_content": "Page contains forbidden content",
        "required_missing": "A required element is missing",
        "no_baseline": "No approved baseline to compare with yet",
        "auth": "Login refused",
        "mailbox": "Mailbox cannot be opened",
        "mail_rejected": "Mail server rejected the message",
        "mail_timeout": "Test message not delivered in time",
        "mail_slow": "Mail delivery is slow",
        "mail_cleanup": "Test message could not be deleted",
        "step_slow": "A step of the flow is slow",
        "tls_expiring": "Certificate expires very soon (critical)",
        "tls_cert_expiry": "Certificate expires soon",
    },
}
