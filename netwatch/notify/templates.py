"""Notice texts in Vietnamese and English: chat (escaped per service markup) and compact SMS."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any, Literal, Mapping, Sequence
from zoneinfo import ZoneInfo

from netwatch.i18n import Lang, state_name
from netwatch.notify import sms
from netwatch.text import clean as text_clean

Markup = Literal["text", "html", "markdown", "slack"]
Facts = Mapping[str, Any]

DETAIL_CHAT_CHARS = 600
MAX_LIST_ITEMS = 30

LABELS: dict[str, dict[str, str]] = {
    "vi": {"problem": "SỰ CỐ", "resolved": "ĐÃ KHÔI PHỤC", "reminder": "NHẮC LẠI", "escalation": "CHUYỂN CẤP",
           "flapping": "CHẬP CHỜN", "settled": "ĐÃ ỔN ĐỊNH", "channel_broken": "KÊNH THÔNG BÁO HỎNG",
           "degraded": "GIÁM SÁT SUY GIẢM", "test": "THỬ NGHIỆM", "ack": "ĐÃ XÁC NHẬN",
           "what": "Sự việc", "where": "Vị trí", "since": "Từ lúc", "error": "Lỗi", "detail": "Chi tiết",
           "dependants": "Ảnh hưởng: {n} đối tượng phụ thuộc", "ack_hint": "Xác nhận: netwatch ack {id}",
           "lasted": "kéo dài", "items": "{n} mục", "zone": "khu vực", "more": "và {n} mục khác",
           "critical": "nghiêm trọng", "warning": "cảnh báo", "availability": "khả dụng",
           "performance": "hiệu năng", "security": "an ninh", "by": "bởi", "level": "cấp {n}",
           "test_body": "Tin thử từ netwatch qua kênh {channel}.", "cause": "do"},
    "en": {"problem": "PROBLEM", "resolved": "RESOLVED", "reminder": "REMINDER", "escalation": "ESCALATED",
           "flapping": "FLAPPING", "settled": "SETTLED", "channel_broken": "NOTIFICATION CHANNEL BROKEN",
           "degraded": "MONITORING DEGRADED", "test": "TEST", "ack": "ACKNOWLEDGED",
           "what": "What", "where": "Where", "since": "Since", "error": "Error", "detail": "Detail",
           "dependants": "Affected: {n} dependent targets", "ack_hint": "Acknowledge: netwatch ack {id}",
           "lasted": "lasted", "items": "{n} items", "zone": "zone", "more": "and {n} more",
           "critical": "critical", "warning": "warning", "availability": "availability",
           "performance": "performance", "security": "security", "by": "by", "level": "level {n}",
           "test_body": "Test message from netwatch through channel {channel}.", "cause": "because of"},
}

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<])")


def markup_for(url: str) -> Markup:
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("tgram", "mailtos+html"):
        return "html"
    if scheme in ("slack",):
        return "slack"
    if scheme in ("discord", "msteams", "workflows", "matrix", "matrixs", "mattermost", "mmost", "mmosts",
                  "rocket", "rockets"):
        return "markdown"
    return "text"


def clean(text: str, limit: int) -> str:
    """Device text is hostile: no control or bidi characters, capped."""
    return text_clean(str(text), limit)


def escape(text: str, markup: Markup) -> str:
    if markup == "html":
        return html.escape(text, quote=False)
    if markup == "slack":
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("@", "@\u200b")
    if markup == "markdown":
        # A zero-width space after @ keeps device text from mentioning everyone (@all, @channel, @everyone).
        return _MD_SPECIAL.sub(r"\\\1", text).replace("@", "@\u200b")
    return text


def when(ts: float, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ts, tz).strftime("%H:%M:%S %d/%m")


def duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def title(facts: Facts, lang: Lang) -> str:
    L = LABELS[lang]
    kind = facts.get("kind", "problem")
    label = L.get(kind, kind.upper())
    if kind == "escalation":
        label += " (" + L["level"].format(n=facts.get("level", 1)) + ")"
    if kind in ("settled", "flapping", "problem", "reminder", "escalation") and facts.get("state"):
        label += " " + state_name(str(facts["state"]), lang).upper()
    number = f" #{facts['incident']}" if facts.get("incident") else ""
    return f"{label}{number}: {subject(facts)}"


def subject(facts: Facts) -> str:
    return clean(facts.get("title") or facts.get("check") or facts.get("target") or facts.get("channel") or "netwatch",
                 120)


def chat(items: Sequence[Facts], lang: Lang, markup: Markup, tz: ZoneInfo) -> tuple[str, str]:
    """(title, body) for a chat or e-mail channel; one item is a full notice, several a list."""
    L = LABELS[lang]
    if len(items) == 1:
        f = items[0]
        return clean(title(f, lang), 200), "\n".join(_chat_lines(f, lang, markup, tz))
    kinds = {f.get("kind") for f in items}
    zones = sorted({str(f.get("zone_name") or f.get("zone") or "") for f in items} - {""})
    head = (L.get(kinds.pop(), "") if len(kinds) == 1 else L["problem"]) + ": " + L["items"].format(n=len(items))
    if zones:
        head += f" ({L['zone']} {', '.join(zones)})"
    lines = [escape(head, markup)]
    for f in items[:MAX_LIST_ITEMS]:
        line = f"- {title(f, lang)}"
        if f.get("error"):
            line += f" [{clean(f['error'], 40)}]"
        if f.get("since"):
            line += f" {when(float(f['since']), tz)}"
        lines.append(escape(line, markup))
    if len(items) > MAX_LIST_ITEMS:
        lines.append(escape(L["more"].format(n=len(items) - MAX_LIST_ITEMS), markup))
    ids = [f["incident"] for f in items if f.get("incident") and f.get("kind") in ("problem", "escalation", "reminder")]
    if ids:
        lines.append(escape(L["ack_hint"].format(id=ids[0]), markup))
    return clean(head, 200), "\n".join(lines)


def _chat_lines(f: Facts, lang: Lang, markup: Markup, tz: ZoneInfo) -> list[str]:
    L = LABELS[lang]
    kind = f.get("kind", "problem")
    # The title travels as the message's title (or as the body's heading where a service has none, see
    # senders.blend), so the body does not repeat it: its first line is the severity and category.
    out: list[str] = []
    if kind == "test":
        return [escape(title(f, lang), markup), escape(L["test_body"].format(channel=f.get("channel", "")), markup)]
    if f.get("severity"):
        out.append(f"[{L.get(f['severity'], f['severity'])}/{L.get(f.get('category', ''), f.get('category', ''))}]")
    if f.get("state"):
        what = f"{L['what']}: {clean(f.get('check') or f.get('title') or '', 120)} — {state_name(str(f['state']), lang)}"
        if f.get("cause"):
            what += f" ({L['cause']} {clean(f['cause'], 80)})"
        out.append(what)
    where = [str(f.get(k)) for k in ("zone_name", "target_name") if f.get(k)]
    if where:
        out.append(f"{L['where']}: " + clean(" / ".join(where), 160))
    if f.get("since"):
        line = f"{L['since']}: {when(float(f['since']), tz)}"
        if kind == "resolved" and f.get("resolved_at"):
            line += f" ({L['lasted']} {duration(float(f['resolved_at']) - float(f['since']))})"
        out.append(line)
    if f.get("error"):
        out.append(f"{L['error']}: {clean(f['error'], 60)}")
    if f.get("dependants"):
        out.append(L["dependants"].format(n=f["dependants"]))
    if f.get("detail"):
        out.append(f"{L['detail']}: {clean(f['detail'], DETAIL_CHAT_CHARS)}")
    if f.get("acked_by"):
        out.append(f"{L['by']} {clean(f['acked_by'], 60)}")
    if f.get("incident") and kind in ("problem", "reminder", "escalation", "settled", "flapping"):
        out.append(L["ack_hint"].format(id=f["incident"]))
    return [escape(line, markup) for line in out]


def sms_text(items: Sequence[Facts], lang: Lang, max_segments: int, strip: bool, tz: ZoneInfo) -> sms.SmsText:
    """Compact SMS: the key facts first (what, state, incident id, since, zone), details after."""
    L = LABELS[lang]
    if len(items) == 1:
        f = items[0]
        key = title(f, lang)
        if f.get("since"):
            key += " " + dt.datetime.fromtimestamp(float(f["since"]), tz).strftime("%H:%M %d/%m")
        if f.get("zone"):
            key += f" {L['zone']} {f.get('zone_name') or f['zone']}"  # a reader knows "Hội trường", not "hall"
        extra = []
        if f.get("dependants"):
            extra.append(L["dependants"].format(n=f["dependants"]))
        if f.get("error"):
            extra.append(clean(f["error"], 40))
        if f.get("detail"):
            extra.append(clean(f["detail"], 400))
        if f.get("kind") == "test":
            extra.append(L["test_body"].format(channel=f.get("channel", "")))
        return sms.fit(key, "; ".join(extra), max_segments, strip)
    ids = " ".join(f"#{f['incident']}" for f in items if f.get("incident"))
    key = f"{len(items)} {LABELS[lang]['problem']} {ids}".strip()
    extra = ", ".join(subject(f) for f in items)
    return sms.fit(key, extra, max_segments, strip)
