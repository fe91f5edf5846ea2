"""The one vi/en catalogue of why a check failed or degraded, in words a duty officer understands."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Mapping

Lang = Literal["vi", "en"]
Category = Literal["unreachable", "service", "link", "slow", "load", "certificate", "security", "not_run", "other"]

# Ordered as a duty officer ranks them: security first, then outages, then the milder ones.
CATEGORY_ORDER: tuple[Category, ...] = ("security", "unreachable", "service", "certificate", "link", "slow", "load",
                                        "not_run", "other")

CATEGORY_WORDS: Mapping[str, Mapping[str, str]] = {
    "vi": {"unreachable": "mất kết nối", "service": "lỗi dịch vụ", "link": "đường truyền kém", "slow": "chậm",
           "load": "quá tải", "certificate": "chứng chỉ số", "security": "an ninh", "not_run": "không chạy được",
           "other": "sự cố khác"},
    "en": {"unreachable": "connection lost", "service": "service error", "link": "poor link", "slow": "slow",
           "load": "overloaded", "certificate": "certificate", "security": "security", "not_run": "check could not run",
           "other": "other problem"},
}

@dataclass(frozen=True)
class Cause:
    """What an error or degraded class means: its category and one short phrase per language."""

    category: Category
    vi: str
    en: str

    def text(self, lang: Lang) -> str:
        return self.vi if lang == "vi" else self.en

def _c(category: Category, vi: str, en: str) -> Cause:
    return Cause(category, vi, en)

# Error classes: a failing check (Outcome.error). Every class a probe or protocol client can return is here;
# tests/core/test_causes.py reads the sources and fails on one that is missing.
ERRORS: Mapping[str, Cause] = {
    # -- mất kết nối
    "timeout": _c("unreachable", "không phản hồi trong thời hạn", "no answer in time"),
    "refused": _c("unreachable", "cổng dịch vụ từ chối kết nối", "connection refused"),
    "unreachable": _c("unreachable", "không có đường tới thiết bị", "no route to the device"),
    "packet_loss": _c("unreachable", "mất gói tin vượt ngưỡng", "packet loss above the limit"),
    "if_down": _c("unreachable", "cổng mạng bị ngắt", "network port is down"),
    "dns": _c("unreachable", "lỗi phân giải tên miền", "name resolution failed"),
    "nxdomain": _c("service", "tên miền không tồn tại", "domain name does not exist"),
    "servfail": _c("service", "máy chủ tên miền không phân giải được", "name server failed to resolve"),
    "nodata": _c("service", "tên miền thiếu bản ghi cần có", "domain has no such record"),
    # -- lỗi dịch vụ
    "protocol": _c("service", "dịch vụ trả lời sai giao thức hoặc ngắt giữa chừng",
                   "service answered wrongly or dropped the connection"),
    "status": _c("service", "trang web báo lỗi", "website returned an error"),
    "content": _c("service", "nội dung trả về không như mong đợi", "unexpected content"),
    "redirects": _c("service", "chuyển hướng vòng lặp hoặc quá nhiều", "redirect loop or too many redirects"),
    "redirect_blocked": _c("security", "chuyển hướng tới địa chỉ bị cấm", "redirect to a forbidden address"),
    "body_too_large": _c("service", "trang trả về quá lớn", "response too large"),
    "decompression_bomb": _c("security", "trang nén giãn ra quá lớn, có thể là tấn công",
                             "compressed page expands far too much (suspected attack)"),
    "auth": _c("service", "máy chủ thư từ chối đăng nhập", "mail login refused"),
    "mailbox": _c("service", "không mở được hộp thư", "mailbox cannot be opened"),
    "mail_rejected": _c("service", "máy chủ thư từ chối nhận thư", "mail server rejected the message"),
    "mail_timeout": _c("service", "thư kiểm tra không đến trong thời hạn", "test message not delivered in time"),
    "ssh_auth": _c("service", "thiết bị từ chối đăng nhập quản trị", "device refused the management login"),
    "command_failed": _c("service", "lệnh kiểm tra trên thiết bị báo lỗi", "command on the device failed"),
    "output_too_large": _c("service", "thiết bị trả về quá nhiều dữ liệu", "device sent too much output"),
    # -- chứng chỉ số
    "tls": _c("certificate", "lỗi bắt tay mã hoá", "encryption handshake failed"),
    "tls_expired": _c("certificate", "chứng chỉ số đã hết hạn", "certificate has expired"),
    "tls_not_yet_valid": _c("certificate", "chứng chỉ số chưa tới ngày hiệu lực", "certificate not valid yet"),
    "tls_untrusted": _c("certificate", "chứng chỉ số không được tin cậy", "certificate not trusted"),
    "tls_hostname": _c("certificate", "chứng chỉ số không đúng tên máy chủ", "certificate is for another name"),
    "tls_weak_key": _c("certificate", "chứng chỉ số dùng khoá yếu", "certificate key too weak"),
    "tls_expiring": _c("certificate", "chứng chỉ số sắp hết hạn, cần gia hạn ngay",
                       "certificate expires very soon, renew now"),
    # -- an ninh
    "content_changed": _c("security", "trang bị thay đổi giao diện so với bản gốc",
                          "page differs from the approved baseline"),
    "new_external_script": _c("security", "trang nhúng mã hoặc khung từ tên miền lạ",
                              "page loads scripts or frames from a new domain"),
    "form_changed": _c("security", "biểu mẫu gửi dữ liệu tới địa chỉ khác", "a form now sends its data elsewhere"),
    "forbidden_content": _c("security", "trang chứa nội dung cấm", "page contains forbidden content"),
    "required_missing": _c("security", "trang thiếu thành phần bắt buộc", "a required element is missing"),
    "config_drift": _c("security", "cấu hình thiết bị bị thay đổi so với bản chuẩn",
                       "device configuration differs from the approved baseline"),
    "host_key_changed": _c("security", "khoá nhận dạng thiết bị bị thay đổi", "device identity key changed"),
    "host_key_unknown": _c("security", "khoá nhận dạng thiết bị chưa được duyệt", "device identity key not approved"),
    "snmp_auth": _c("security", "sai thông tin xác thực giám sát thiết bị", "device monitoring login refused"),
    # -- không chạy được
    "internal": _c("not_run", "lỗi nội bộ của phần mềm giám sát", "internal error in the monitor"),
    "not_permitted": _c("not_run", "phần mềm giám sát thiếu quyền để kiểm tra", "the monitor lacks a permission"),
    "not_run": _c("not_run", "phép kiểm tra không chạy được", "the check could not run"),
    "skipped": _c("not_run", "lượt kiểm tra bị bỏ qua do máy giám sát quá tải",
                  "check runs skipped: the monitor's probe pool is full"),
    "site_isolated": _c("unreachable", "mất liên lạc với điểm giám sát này (đường truyền của điểm bị cắt)",
                        "lost contact with this monitoring site (its uplink is cut)"),
    "stale": _c("not_run", "phép kiểm tra lâu không có kết quả mới", "no fresh result for a long time"),
}

# Degraded classes: the target still answers but crossed a warning threshold (Outcome.degraded).
DEGRADED: Mapping[str, Cause] = {
    "warn_response_seconds": _c("slow", "phản hồi chậm", "slow response"),
    "rtt": _c("slow", "độ trễ đường truyền cao", "high round-trip time"),
    # A lossy link still answers: not "slow" (a duty officer would look for a slow server), a poor link.
    "packet_loss": _c("link", "mất gói tin", "packet loss"),
    "step_slow": _c("slow", "một bước của quy trình chậm", "a step of the flow is slow"),
    "mail_slow": _c("slow", "thư đến chậm", "mail delivery is slow"),
    "mail_cleanup": _c("service", "không xoá được thư kiểm tra", "test message could not be deleted"),
    "tls_cert_expiry": _c("certificate", "chứng chỉ số sắp hết hạn", "certificate expires soon"),
    "no_baseline": _c("not_run", "chưa có trang gốc để so sánh", "no approved baseline to compare with"),
    "history_unavailable": _c("not_run", "không đọc được lịch sử cấu hình", "configuration history unavailable"),
    "cpu": _c("load", "tải bộ xử lý cao", "high CPU load"),
    "memory": _c("load", "bộ nhớ gần đầy", "memory almost full"),
    "utilisation": _c("load", "cổng mạng gần quá tải", "network port near full capacity"),
    "errors": _c("load", "cổng mạng có nhiều gói lỗi", "many errored packets on the port"),
    "discards": _c("load", "cổng mạng loại bỏ nhiều gói", "many discarded packets on the port"),
}

UNKNOWN = Cause("other", "lỗi chưa phân loại", "unclassified error")
UNKNOWN_DEGRADED = Cause("load", "chỉ số vượt ngưỡng cảnh báo", "a metric crossed its warning threshold")

# netwatch's own resources (self-watch, alerting/selfwatch.py): what stalled, in words the duty officer
# can act on. The English text is also the reason's prefix in the notice detail, which message.py
# translates back by it; "{0}" is a number of seconds when the reason carries one.
SELF: Mapping[str, Cause] = {
    "store_locked": _c("other", "cơ sở dữ liệu bị khóa", "database is locked"),
    "store_failed": _c("other", "không ghi được lịch sử", "history store write failed"),
    "disk_full": _c("other", "đĩa đầy, không ghi được lịch sử", "disk full, history not written"),
    "resolver_stalled": _c("other", "máy chủ DNS không trả lời", "the DNS server does not answer"),
    "loop_lag": _c("other", "lịch kiểm tra bị trễ", "scheduler running late"),
    "loop_blocked": _c("other", "phần mềm giám sát bị nghẽn", "the monitor's event loop is blocked"),
    "probes_saturated": _c("other", "nhiều lượt kiểm tra bị bỏ qua (quá tải)",
                           "check runs skipped (probe pool saturated)"),
    "delivery_backlog": _c("other", "thông báo tồn đọng chưa gửi được", "notices waiting undelivered"),
}

# States that are not an error class of the check itself.
STATES: Mapping[str, Cause] = {
    "unreachable": _c("unreachable", "bị ảnh hưởng do thiết bị cấp trên mất kết nối",
                      "affected because an upstream device is down"),
    "maintenance": _c("other", "đang bảo trì theo lịch", "in scheduled maintenance"),
    "not_run": ERRORS["not_run"],
}

def cause(error: str | None, degraded: str | None = None) -> Cause:
    """The cause of a failing check (`error`) or, when it still answers, of its `degraded` class.

    A degraded value may name several classes joined by commas (SNMP: "cpu,memory"); the first known
    one decides the category. Unknown classes (an Alertmanager alert name, an SNMP extra OID name) get a
    generic cause rather than leaking a config key into a message.
    """
    if error:
        return ERRORS.get(error, UNKNOWN)
    for name in (degraded or "").split(","):
        if name in DEGRADED:
            return DEGRADED[name]
    return UNKNOWN_DEGRADED if degraded else UNKNOWN

def category_words(category: str, lang: Lang) -> str:
    return CATEGORY_WORDS[lang].get(category, CATEGORY_WORDS[lang]["other"])

def cause_words(error: str | None, degraded: str | None, lang: Lang) -> str:
    """All named classes in words: "tải bộ xử lý cao, bộ nhớ gần đầy"."""
    if error:
        return cause(error).text(lang)
    names = [n for n in (degraded or "").split(",") if n]
    words = [DEGRADED[n].text(lang) for n in names if n in DEGRADED]
    if len(words) < len(names):
        words.append(UNKNOWN_DEGRADED.text(lang))
    return ", ".join(dict.fromkeys(words)) or cause(error, degraded).text(lang)

# ---------------------------------------------------------------- detail templates
# Probe details are English sentences built from numbers; these turn the ones a duty officer needs
# (measured against threshold, status code, days left) into words with the numbers kept. A detail no
# template matches is left out of Vietnamese messages rather than shown in English.

_NUM = r"(\d+(?:\.\d+)?)"

def number(text: str, lang: Lang) -> str:
    """A decimal as the reader writes it: 0,606 in Vietnamese, 0.606 in English."""
    return text.replace(".", ",") if lang == "vi" else text

Template = tuple["re.Pattern[str]", Mapping[str, str]]

# SNMP answers that break the protocol (issue 13): the `protocol` detail says which way; these give it
# words. Indexes stay out of the groups (number() would turn "1.2" into "1,2").
_SNMP_PROTOCOL: tuple[Template, ...] = (
    (re.compile(r"^truncated response"),
     {"vi": "bản tin trả lời SNMP bị cắt cụt", "en": "the SNMP answer was cut short"}),
    (re.compile(r"^malformed response"),
     {"vi": "bản tin trả lời SNMP sai định dạng", "en": "the SNMP answer is malformed"}),
    (re.compile(r"\b(if[A-Za-z]+Status)\.(\d+) is an? ([A-Za-z0-9 ]+?), not an INTEGER"),
     {"vi": "thiết bị gửi {0} của cổng {1} sai kiểu ({2})", "en": "device sent {0} of port {1} as {2}"}),
    (re.compile(r"\b(if[A-Za-z]+Status)\.(\d+) is (-?\d+), not a status"),
     {"vi": "thiết bị gửi {0} của cổng {1} với giá trị không hợp lệ {2}",
      "en": "device sent {0} of port {1} with the invalid value {2}"}),
    (re.compile(r"\b(if[A-Za-z0-9]+) has a row with index [\d.]+, which is not an ifIndex"),
     {"vi": "bảng cổng mạng có chỉ số dòng không hợp lệ ở cột {0}",
      "en": "interface table has a row index that is not an ifIndex in {0}"}),
    (re.compile(r"\b(if[A-Za-z]+Status) lacks ifIndex ([\d, ]+?)(?: and \d+ more)? that (if[A-Za-z]+Status) has"),
     {"vi": "cột {0} thiếu cổng {1} mà cột {2} có", "en": "{0} lacks port {1} that {2} has"}),
)

_TEMPLATES: Mapping[str, tuple[Template, ...]] = {
    "protocol": _SNMP_PROTOCOL,
    "warn_response_seconds": ((re.compile(rf"in {_NUM}s, slower than {_NUM}s"),
                               {"vi": "phản hồi {0} s, ngưỡng {1} s", "en": "response {0} s, threshold {1} s"}),),
    "rtt": ((re.compile(rf"round trip .* {_NUM} ms, above warn_rtt {_NUM} ms"),
             {"vi": "độ trễ trung bình {0} ms, ngưỡng {1} ms", "en": "average round trip {0} ms, threshold {1} ms"}),),
    "packet_loss": ((re.compile(rf"(\d+) of (\d+) echoes .* lost \((\d+)%\), above \w+ {_NUM}"),
                     {"vi": "mất {0}/{1} gói ({2} %), ngưỡng {3}",
                      "en": "{0} of {1} packets lost ({2} %), limit {3}"}),),
    "mail_slow": ((re.compile(rf"delivered in {_NUM}s, slower than {_NUM}s"),
                   {"vi": "thư đến sau {0} s, ngưỡng {1} s", "en": "delivered in {0} s, threshold {1} s"}),),
    "mail_timeout": ((re.compile(rf"not delivered within {_NUM}s"),
                      {"vi": "chờ {0} s chưa thấy thư", "en": "not delivered after {0} s"}),),
    "tls_cert_expiry": ((re.compile(rf"expires in {_NUM} days .*warning below (\d+) days"),
                         {"vi": "còn {0} ngày, ngưỡng cảnh báo {1} ngày",
                          "en": "{0} days left, warning below {1} days"}),),
    "tls_expiring": ((re.compile(rf"expires in {_NUM} days .*critical below (\d+) days"),
                      {"vi": "còn {0} ngày, ngưỡng nguy cấp {1} ngày",
                       "en": "{0} days left, critical below {1} days"}),),
    "status": ((re.compile(r"got (\d{3})\b.*expected (\d[\dx]*(?:(?:, |-)\d[\dx]*)*)"),
                {"vi": "máy chủ trả mã {0}, cần {1}", "en": "server answered {0}, expected {1}"}),),
    "timeout": ((re.compile(rf"within {_NUM}s"),
                 {"vi": "chờ quá {0} s", "en": "no answer within {0} s"}),),
    "config_drift": ((re.compile(r"\(\+(\d+) -(\d+) lines\)"),
                      {"vi": "thêm {0} dòng, bớt {1} dòng", "en": "{0} lines added, {1} removed"}),),
    "command_failed": ((re.compile(r"exited with status (\d+)"),
                        {"vi": "lệnh trả mã lỗi {0}", "en": "command exited with status {0}"}),),
}

def describe(error: str | None, detail: str, lang: Lang, degraded: str | None = None) -> str:
    """The cause in words, with the numbers of the detail when a template knows them.

    `describe("timeout", "banner not done within 4s", "vi")` -> "không phản hồi trong thời hạn (chờ quá 4 s)".
    """
    words = cause_words(error, degraded, lang)
    extra = detail_words(error or (degraded or "").split(",")[0], detail, lang)
    return f"{words} ({extra})" if extra else words

def detail_words(cls: str | None, detail: str, lang: Lang) -> str:
    """Only the templated part of a probe detail, or "" when no template matches."""
    for pattern, texts in _TEMPLATES.get(cls or "", ()):
        m = pattern.search(detail or "")
        if m:
            return texts[lang].format(*(number(g, lang) for g in m.groups()))
    return ""

def is_security(error: str | None) -> bool:
    return cause(error).category == "security" if error else False

def sort_key(error: str | None, degraded: str | None = None) -> int:
    """Rank for "root causes first": security and outages before slowness."""
    return CATEGORY_ORDER.index(cause(error, degraded).category)
