"""One notice structure built from outbox facts, and its words in vi/en; pure (no I/O, no clock)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence
from zoneinfo import ZoneInfo

from netwatch import causes
from netwatch.i18n import Lang

Kind = Literal["problem", "recovery", "degraded", "flapping", "security", "ack", "escalation", "reminder",
               "settled", "unreachable", "monitoring", "channel_broken", "test", "reboot"]
Facts = Mapping[str, Any]

# Kinds whose incident is still open after the notice: the ack hint names these, and only these.
OPEN_KINDS = frozenset({"problem", "degraded", "security", "escalation", "reminder", "flapping", "unreachable"})
NEW_KINDS = frozenset({"problem", "degraded", "security", "unreachable"})

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]")

WORDS: Mapping[str, Mapping[str, str]] = {
    "vi": {
        "problem": "SỰ CỐ", "recovery": "ĐÃ KHÔI PHỤC", "degraded": "SUY GIẢM", "security": "CẢNH BÁO AN NINH",
        "flapping": "CHẬP CHỜN", "settled": "ĐÃ ỔN ĐỊNH", "ack": "ĐÃ CÓ NGƯỜI XỬ LÝ", "escalation": "CHUYỂN CẤP",
        "reminder": "NHẮC LẠI", "unreachable": "BỊ ẢNH HƯỞNG", "monitoring": "HỆ THỐNG GIÁM SÁT TRỤC TRẶC",
        "channel_broken": "KÊNH THÔNG BÁO HỎNG", "test": "THỬ NGHIỆM", "digest": "TỔNG HỢP",
        "level": "{n}", "zone": "khu vực", "since": "Từ", "cause": "Nguyên nhân", "severity": "Mức độ",
        "critical": "khẩn cấp", "warning": "cảnh báo", "lasted": "gián đoạn", "recovered_at": "Khôi phục lúc",
        "still": "vẫn {state} từ {since}, đã {dur}", "dependants": "Ảnh hưởng: {n} thiết bị phụ thuộc",
        "upstream": "do thiết bị cấp trên {name} mất kết nối",
        "told": "Đã báo", "on_duty": "Trực ban", "by": "Người xử lý", "note": "Ghi chú",
        "not_answered": "Chưa ai xác nhận sau {dur}; chưa trả lời: {who}",
        "ack_link": "Nhận xử lý: {url}", "ack_sms": "Trả lời \"OK {id}\" để nhận xử lý",
        "ack_board": "Nhận xử lý trên bảng trạng thái: sự cố #{id}",
        "flap_body": "trạng thái đổi liên tục, tạm ngừng báo từng lần",
        "settled_body": "đã ổn định ở trạng thái {state}",
        "test_body": "Tin thử từ hệ thống giám sát qua kênh {channel}.",
        "channel_body": "Kênh {channel} không gửi được tin", "monitoring_body": "Sự cố của chính hệ thống giám sát",
        "new": "{n} sự cố mới", "recovered": "{n} đã khôi phục", "acked": "{n} đã có người xử lý",
        "escalated": "{n} chuyển cấp", "reminded": "{n} nhắc lại", "flapping_n": "{n} chập chờn",
        "other_n": "{n} thông báo khác", "more": "và {n} mục khác không hiện", "more_sms": "+{n} mục khác",
        "open_ids": "Đang mở", "security_mark": "AN NINH",
        "state_down": "mất kết nối", "state_degraded": "suy giảm", "state_up": "hoạt động",
        "state_unreachable": "không tới được", "state_unknown": "chưa rõ",
        "ch_sms": "SMS", "ch_chat": "nhóm trực", "ch_mail": "thư điện tử", "ch_web": "hệ thống khác",
        "unknown_time": "không rõ", "also": "Cùng lúc",
        "reboot": "KHỞI ĐỘNG LẠI", "reboot_at": "lúc {at}", "ran_before": "đã chạy {dur} trước đó",
        "rebooted_n": "{n} khởi động lại",
    },
    "en": {
        "problem": "PROBLEM", "recovery": "RECOVERED", "degraded": "DEGRADED", "security": "SECURITY ALERT",
        "flapping": "FLAPPING", "settled": "SETTLED", "ack": "BEING HANDLED", "escalation": "ESCALATED",
        "reminder": "REMINDER", "unreachable": "AFFECTED", "monitoring": "MONITORING DEGRADED",
        "channel_broken": "NOTIFICATION CHANNEL BROKEN", "test": "TEST", "digest": "SUMMARY",
        "level": "to level {n}", "zone": "zone", "since": "Since", "cause": "Cause", "severity": "Severity",
        "critical": "critical", "warning": "warning", "lasted": "outage lasted", "recovered_at": "Recovered at",
        "still": "still {state} since {since}, for {dur}", "dependants": "Affected: {n} dependent devices",
        "upstream": "because upstream device {name} is down",
        "told": "Told", "on_duty": "On duty", "by": "Handled by", "note": "Note",
        "not_answered": "Nobody acknowledged within {dur}; no answer from: {who}",
        "ack_link": "Take it: {url}", "ack_sms": "Reply \"OK {id}\" to take it",
        "ack_board": "Take it on the status board: incident #{id}",
        "flap_body": "state keeps changing; single notices are paused",
        "settled_body": "settled in state {state}",
        "test_body": "Test message from the monitor through channel {channel}.",
        "channel_body": "Channel {channel} cannot deliver", "monitoring_body": "A problem of the monitor itself",
        "new": "{n} new", "recovered": "{n} recovered", "acked": "{n} being handled",
        "escalated": "{n} escalated", "reminded": "{n} reminders", "flapping_n": "{n} flapping",
        "other_n": "{n} other notices", "more": "and {n} more not shown", "more_sms": "+{n} more",
        "open_ids": "Open", "security_mark": "SECURITY",
        "state_down": "down", "state_degraded": "degraded", "state_up": "up",
        "state_unreachable": "unreachable", "state_unknown": "unknown",
        "ch_sms": "SMS", "ch_chat": "duty chat", "ch_mail": "e-mail", "ch_web": "other system",
        "unknown_time": "unknown", "also": "Also failing",
        "reboot": "REBOOTED", "reboot_at": "at {at}", "ran_before": "had been up {dur}",
        "rebooted_n": "{n} rebooted",
    },
}

# What the monitor's own degraded reasons say, in words (engine._watch_self writes them in English).
_MONITORING_TEMPLATES: tuple[tuple[re.Pattern[str], Mapping[str, str]], ...] = (
    (re.compile(r"history store write failed"), {"vi": "không ghi được lịch sử", "en": "history store write failed"}),
    (re.compile(r"scheduler lag (\d+(?:\.\d+)?)s"), {"vi": "lịch kiểm tra bị trễ {0} s",
                                                    "en": "scheduler running {0} s late"}),
    # selfwatch writes these as "<cause.en> (<seconds> s)"
    *((re.compile(re.escape(c.en) + r" \((\d+(?:\.\d+)?) s\)"), {"vi": c.vi + " ({0} s)", "en": c.en + " ({0} s)"})
      for name, c in causes.SELF.items() if name not in ("store_failed", "probes_saturated")),
    (re.compile(re.escape(causes.SELF["probes_saturated"].en)),
     {"vi": causes.SELF["probes_saturated"].vi, "en": causes.SELF["probes_saturated"].en}),
)


def clean(text: object, limit: int) -> str:
    """Device text is hostile: no control, line-break or bidi characters, capped."""
    out = " ".join(_CONTROL_RE.sub(" ", str(text)).split())
    return out if len(out) <= limit else out[: limit - 1] + "…"


@dataclass(frozen=True)
class Notice:
    """Everything a message says, before it is put into one language and one channel's markup."""

    kind: Kind
    incident: int | None = None
    subject: str = ""               # the target's human name
    zone: str = ""                  # the zone's human name
    part: str = ""                  # which part of the target (an interface), when not the whole device
    state: str = ""
    since: float | None = None
    at: float | None = None         # when the notice's event happened (recovery, ack)
    error: str | None = None
    degraded: str | None = None
    detail: str = ""
    severity: str = ""
    category: str = ""              # causes category
    security: bool = False
    upstream: str = ""              # the parent that made this target unreachable
    dependants: int = 0
    told: tuple[str, ...] = ()      # "Lan (SMS)", "nhóm trực (Telegram)": already in words
    on_duty: tuple[str, ...] = ()
    not_answered: tuple[str, ...] = ()
    acked_by: str = ""
    note: str = ""
    level: int = 0
    ack_url: str = ""
    sms_reply: bool = False         # this channel's phones can answer "OK <id>"
    channel: str = ""
    external: str = ""              # an alert relayed from another system: its own summary, as written there
    also: tuple[tuple[str | None, str | None], ...] = ()   # (error, degraded) of the fault's other checks
    facts: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_open(self) -> bool:
        return self.kind in OPEN_KINDS

    @property
    def rank(self) -> tuple[int, int, float]:
        """Root causes first: more dependants first, then by category, then oldest first."""
        return (-self.dependants if self.kind != "unreachable" else 1,
                causes.CATEGORY_ORDER.index(self.category) if self.category in causes.CATEGORY_ORDER else 99,
                self.since or 0.0)


def _interface(check: str) -> str:
    return check.split("/if/", 1)[1] if "/if/" in check else ""


def from_facts(f: Facts) -> Notice:
    """The notice an outbox row describes; facts are the row's JSON (see alerting.engine.Engine.plan)."""
    raw_kind = str(f.get("kind") or "problem")
    state = str(f.get("state") or "")
    error = f.get("error") or None
    degraded = f.get("degraded") or (f.get("detail") if state == "degraded" and not error else None)
    degraded = degraded if isinstance(degraded, str) and re.fullmatch(r"[a-z0-9_,]+", degraded) else None
    cause = causes.cause(error, degraded) if (error or degraded) else None
    security = f.get("category") == "security" or (cause is not None and cause.category == "security")
    kind: str = {"resolved": "recovery", "degraded": "monitoring"}.get(raw_kind, raw_kind)
    if raw_kind == "degraded" and f.get("check"):
        kind = "degraded"
    if kind == "problem":
        kind = ("security" if security else "unreachable" if state == "unreachable" else
                "degraded" if state == "degraded" else "problem")
    category = (cause.category if cause else
                "unreachable" if state in ("down", "unreachable") else "slow" if state == "degraded" else "other")
    if security:
        category = "security"
    detail = str(f.get("measured") or f.get("detail") or "")
    # A relayed alert (Alertmanager) has no check: its name and summary are the other system's words.
    relayed = not f.get("check") and bool(f.get("title")) and raw_kind not in ("degraded", "channel_broken", "test")
    if relayed and error and error not in causes.ERRORS:
        category = ""     # the alert's name says what it is; a guessed category would mislabel it
    return Notice(
        kind=kind,  # type: ignore[arg-type]
        incident=int(f["incident"]) if f.get("incident") else None,
        subject=clean((f.get("title") if relayed else None) or f.get("target_name") or f.get("target")
                      or f.get("title") or f.get("check") or "", 80),
        zone=clean(f.get("zone_name") or f.get("zone") or "", 60),
        part=clean(_interface(str(f.get("check") or "")), 60),
        state=state, since=_num(f.get("since")), at=_num(f.get("resolved_at") or f.get("acked_at") or f.get("at")),
        error=error, degraded=degraded, detail=detail, severity=str(f.get("severity") or ""), category=category,
        security=security, upstream=clean(f.get("cause_name") or f.get("cause") or "", 60),
        dependants=int(f.get("dependants") or 0),
        told=tuple(clean(x, 60) for x in f.get("told_words") or ()),
        on_duty=tuple(clean(x, 60) for x in f.get("on_duty") or ()),
        not_answered=tuple(clean(x, 60) for x in f.get("not_answered") or ()),
        acked_by=clean(f.get("acked_by") or "", 60), note=clean(f.get("note") or "", 200),
        level=int(f.get("level") or 0), ack_url=str(f.get("ack_url") or ""), sms_reply=bool(f.get("sms_reply")),
        channel=clean(f.get("channel") or "", 60),
        external=clean(f.get("detail") or "", 300) if relayed and error not in causes.ERRORS else "",
        also=_also(f.get("also")), facts=f)


def _also(value: Any) -> tuple[tuple[str | None, str | None], ...]:
    """The other checks of one target fault, as their error or degraded classes (nothing else is shown)."""
    out = []
    for item in value if isinstance(value, list) else ():
        if not isinstance(item, Mapping):
            continue
        error, degraded = item.get("error") or None, item.get("degraded") or None
        ok = [x for x in (error, degraded) if isinstance(x, str) and re.fullmatch(r"[a-z0-9_,]+", x)]
        if ok:
            out.append((error if error in ok else None, degraded if degraded in ok else None))
    return tuple(out)


def _num(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- words


def when(ts: float | None, tz: ZoneInfo, lang: Lang, seconds: bool = False) -> str:
    if ts is None:
        return WORDS[lang]["unknown_time"]
    return dt.datetime.fromtimestamp(ts, tz).strftime("%H:%M:%S %d/%m" if seconds else "%H:%M %d/%m")


def duration(seconds: float, lang: Lang) -> str:
    """'3 ngày 4 giờ', '1 giờ 05 phút', '4 phút 10 giây', '12 giây'.

    English: '3 d 4 h', '1 h 05 min', '4 min 10 s', '12 s'.
    """
    s = int(max(0, seconds))
    d, rest = divmod(s, 86400)
    h, rest = divmod(rest, 3600)
    m, sec = divmod(rest, 60)
    hu, mu, su = ("giờ", "phút", "giây") if lang == "vi" else ("h", "min", "s")
    if d:      # a device's uptime: '3 ngày 4 giờ' ('3 d 4 h')
        return f"{d} {'ngày' if lang == 'vi' else 'd'} {h} {hu}"
    if h:
        return f"{h} {hu} {m:02d} {mu}"
    if m:
        return f"{m} {mu} {sec} {su}" if sec else f"{m} {mu}"
    return f"{sec} {su}"


def where(n: Notice, lang: Lang) -> str:
    name = n.subject
    if n.part:
        name += f", {'cổng' if lang == 'vi' else 'port'} {n.part}"
    return f"{name} ({n.zone})" if n.zone else name


def cause_text(n: Notice, lang: Lang) -> str:
    if n.kind == "unreachable":
        return WORDS[lang]["upstream"].format(name=n.upstream or "?")
    if n.kind == "monitoring":
        words = [texts[lang].format(*(causes.number(g, lang) for g in m.groups()))
                 for pattern, texts in _MONITORING_TEMPLATES for m in [pattern.search(n.detail)] if m]
        text = "; ".join(words) or WORDS[lang]["monitoring_body"]
        # the store's own error text is English (SQLite, the OS); engineers reading English get it as is
        return clean(n.detail, 300) if lang == "en" and n.detail else text
    if n.external:
        return n.external
    if not (n.error or n.degraded):
        return causes.category_words(n.category, lang) if n.state in ("down", "degraded") else ""
    return causes.describe(n.error, n.detail, lang, n.degraded)


def label(n: Notice, lang: Lang, number: str = "") -> str:
    """'SỰ CỐ #12 – mất kết nối', 'CHUYỂN CẤP 2 #12 – an ninh'."""
    W = WORDS[lang]
    text = W[n.kind]
    if n.kind == "escalation":
        text += " " + W["level"].format(n=n.level or 1)
    text += number
    if n.kind in ("problem", "degraded", "escalation", "reminder") and n.category:
        text += " – " + causes.category_words(n.category, lang)
    return text


def headline(n: Notice, lang: Lang) -> str:
    """The first line and chat title: kind, incident id, category, subject and zone."""
    number = f" #{n.incident}" if n.incident else ""
    if n.kind in ("monitoring", "channel_broken", "test"):
        return f"{label(n, lang)}{number}" + (f": {n.channel}" if n.channel else "")
    return f"{label(n, lang, number)}: {where(n, lang)}"


def body_lines(n: Notice, lang: Lang, tz: ZoneInfo) -> list[str]:
    """The facts after the headline, one per line, in the reader's order: what, when, who."""
    W = WORDS[lang]
    out: list[str] = []
    if n.kind == "test":
        return [W["test_body"].format(channel=n.channel)]
    if n.kind == "channel_broken":
        # the gateway's answer ("http 401", "timeout after 10s") is what an engineer fixes it by
        reason = clean(n.facts.get("error") or "", 120)
        code = re.search(r"http \d{3}|timeout", reason) if lang == "vi" else None
        shown = code.group(0) if code else reason if lang == "en" else ""
        return [W["channel_body"].format(channel=n.channel) + (f" ({shown})" if shown else "")]
    if n.kind == "monitoring":
        return [cause_text(n, lang)]
    if n.kind == "reboot":
        words = reboot_words(n, lang, tz)
        out.append(words[:1].upper() + words[1:])
    elif n.kind == "recovery":
        out.append(f"{W['recovered_at']} {when(n.at, tz, lang)}"
                   + (f", {W['lasted']} {duration(n.at - n.since, lang)}" if n.at and n.since else ""))
    elif n.kind == "ack":
        out.append(f"{W['by']}: {n.acked_by}" + (f" — {W['note']}: {n.note}" if n.note else ""))
    elif n.kind == "flapping":
        out.append(W["flap_body"])
    elif n.kind == "settled":
        out.append(W["settled_body"].format(state=W.get(f"state_{n.state}", n.state)))
    else:
        cause = cause_text(n, lang)
        if cause:
            out.append(f"{W['cause']}: {cause}")
        # the other checks' causes, each once, and not the headline's own again (a 500 fails both web checks)
        own = causes.cause_words(n.error, n.degraded, lang) if (n.error or n.degraded) else cause
        others = [w for w in dict.fromkeys(causes.cause_words(e, d, lang) for e, d in n.also) if w and w != own]
        if others and n.kind not in ("ack",):
            out.append(f"{W['also']}: {'; '.join(others)}")
        if n.kind == "reminder" and n.since is not None and n.at is not None:
            out.append(W["still"].format(state=W.get(f"state_{n.state}", W["state_down"]),
                                         since=when(n.since, tz, lang), dur=duration(n.at - n.since, lang)))
        else:
            out.append(f"{W['since']} {when(n.since, tz, lang, seconds=True)}")
        if n.severity in ("critical", "warning"):
            out.append(f"{W['severity']}: {W[n.severity]}")
        if n.dependants:
            out.append(W["dependants"].format(n=n.dependants))
    if n.kind == "escalation" and n.not_answered:
        waited = duration((n.at or 0) - (n.since or 0), lang) if n.at and n.since else "?"
        out.append(W["not_answered"].format(dur=waited, who=", ".join(n.not_answered)))
    if n.on_duty:
        out.append(f"{W['on_duty']}: {', '.join(n.on_duty)}")
    if n.told:
        out.append(f"{W['told']}: {', '.join(n.told)}")
    if n.is_open and n.incident and n.kind not in ("flapping",):
        out.append(ack_hint(n, lang))
    return out


def reboot_words(n: Notice, lang: Lang, tz: ZoneInfo) -> str:
    """'lúc 14:02, đã chạy 3 ngày 4 giờ trước đó' ('at 14:02, had been up 3 d 4 h')."""
    W = WORDS[lang]
    text = W["reboot_at"].format(at=when(n.at, tz, lang))
    before = _num(n.facts.get("uptime_before"))
    return text + (", " + W["ran_before"].format(dur=duration(before, lang)) if before else "")


def ack_hint(n: Notice, lang: Lang) -> str:
    W = WORDS[lang]
    if n.ack_url:
        return W["ack_link"].format(url=n.ack_url)
    if n.sms_reply:
        return W["ack_sms"].format(id=n.incident)
    return W["ack_board"].format(id=n.incident)


# ---------------------------------------------------------------- digests


def latest_per_incident(notices: Sequence[Notice]) -> list[Notice]:
    """Each incident once, as its newest notice says it is; notices without an incident stay as they are."""
    seen: dict[int, int] = {}
    out: list[Notice] = []
    for n in notices:
        if n.incident is None:
            out.append(n)
        elif n.incident in seen:
            first = out[seen[n.incident]]
            # a recovery keeps the problem's start so it can say how long it lasted
            out[seen[n.incident]] = n if n.since is not None else _with_since(n, first.since)
        else:
            seen[n.incident] = len(out)
            out.append(n)
    return out


def _with_since(n: Notice, since: float | None) -> Notice:
    from dataclasses import replace
    return replace(n, since=since)


def counts(notices: Sequence[Notice], lang: Lang) -> str:
    """'3 sự cố mới, 2 đã khôi phục' over the incidents as they are now."""
    W = WORDS[lang]
    groups = (("new", NEW_KINDS), ("recovered", {"recovery", "settled"}), ("acked", {"ack"}),
              ("escalated", {"escalation"}), ("reminded", {"reminder"}), ("flapping_n", {"flapping"}),
              ("rebooted_n", {"reboot"}))
    parts, counted = [], 0
    for key, kinds in groups:
        k = sum(1 for n in notices if n.kind in kinds)
        counted += k
        if k:
            parts.append(W[key].format(n=k))
    if len(notices) > counted:
        parts.append(W["other_n"].format(n=len(notices) - counted))
    return ", ".join(parts)


def ordered(notices: Sequence[Notice]) -> list[Notice]:
    """Open problems first (root causes, then by category), then the rest in arrival order."""
    items = latest_per_incident(notices)
    open_ = sorted((n for n in items if n.is_open), key=lambda n: n.rank)
    return open_ + [n for n in items if not n.is_open]


def digest_line(n: Notice, lang: Lang, tz: ZoneInfo) -> str:
    W = WORDS[lang]
    number = f"#{n.incident} " if n.incident else ""
    text = f"{W[n.kind]} {number}{where(n, lang)}"
    if n.kind == "recovery":
        text += f" — {W['recovered_at'].lower()} {when(n.at, tz, lang)}"
        if n.at and n.since:
            text += f", {W['lasted']} {duration(n.at - n.since, lang)}"
    elif n.kind == "ack":
        text += f" — {n.acked_by}" + (f": {n.note}" if n.note else "")
    elif n.kind == "reboot":
        text += f" — {reboot_words(n, lang, tz)}"
    elif n.is_open:
        cause = cause_text(n, lang)
        text += f" — {cause}" if cause else ""
        text += f", {W['since'].lower()} {when(n.since, tz, lang)}"
    return text


def sms_line(n: Notice, lang: Lang, tz: ZoneInfo) -> str:
    """One incident in an SMS digest: id, subject, zone, what happened, the time."""
    W = WORDS[lang]
    number = f"#{n.incident} " if n.incident else ""
    if n.kind == "recovery":
        what = W["recovery"].lower() + " " + when(n.at, tz, lang)
    elif n.kind == "ack":
        what = W["ack"].lower() + (f" {n.acked_by}" if n.acked_by else "")
    elif n.kind == "reboot":
        what = W["reboot"].lower() + " " + when(n.at, tz, lang)
    elif n.is_open:
        what = causes.category_words(n.category, lang) + " " + when(n.since, tz, lang)
    else:
        what = W[n.kind].lower()
    return f"{number}{where(n, lang)} {what}"
