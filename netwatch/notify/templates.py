"""Notices rendered per channel: chat (escaped line by line for each service's markup), e-mail and SMS."""

from __future__ import annotations

import html
import re
from typing import Any, Literal, Mapping, Sequence
from zoneinfo import ZoneInfo

from netwatch.i18n import Lang
from netwatch.notify import message, sms
from netwatch.notify.message import WORDS, Notice

Markup = Literal["text", "html", "markdown", "slack"]
Facts = Mapping[str, Any]

MAX_LIST_ITEMS = 30
SMS_DIGEST_MIN_ITEMS = 1

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<])")
_MENTION = re.compile(r"@(?=\S)")


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
    """Device text is hostile: no control, line-break or bidi characters, capped."""
    return message.clean(text, limit)


def escape(text: str, markup: Markup) -> str:
    """Escape one line for a service, exactly once.

    Slack: apprise already turns & < > into entities for a plain-text message (a second pass here showed
    `&amp;lt;` in the channel), so only mentions are defused. Markdown services get every special
    character escaped. A zero-width space after @ keeps device text from mentioning everyone.
    """
    if markup == "html":
        return html.escape(text, quote=False)
    if markup == "slack":
        return _MENTION.sub("@\u200b", text)
    if markup == "markdown":
        return _MENTION.sub("@\u200b", _MD_SPECIAL.sub(r"\\\1", text))
    return text


def notices(items: Sequence[Facts]) -> list[Notice]:
    return [message.from_facts(f) for f in items]


def chat(items: Sequence[Facts], lang: Lang, markup: Markup, tz: ZoneInfo) -> tuple[str, str]:
    """(title, body) for a chat or e-mail channel: one item is a full notice, several a digest.

    The title is plain text (senders.send escapes it for the service, once); every body line is
    escaped here, so no line of device text reaches a service's markup raw.
    """
    ns = notices(items)
    if len(ns) == 1:
        n = ns[0]
        return message.headline(n, lang), "\n".join(escape(line, markup) for line in message.body_lines(n, lang, tz))
    title, lines = digest(ns, lang, tz)
    return title, "\n".join(escape(line, markup) for line in lines)


def digest(ns: Sequence[Notice], lang: Lang, tz: ZoneInfo) -> tuple[str, list[str]]:
    """A digest that adds up: counts per kind as a title, root causes first, each incident once."""
    W = WORDS[lang]
    items = message.ordered(ns)
    title = f"{W['digest']}: {message.counts(items, lang)}"
    if any(n.security and n.is_open for n in items):
        title = f"{W['security_mark']} · {title}"
    lines = [f"- {message.digest_line(n, lang, tz)}" for n in items[:MAX_LIST_ITEMS]]
    if len(items) > MAX_LIST_ITEMS:
        lines.append(W["more"].format(n=len(items) - MAX_LIST_ITEMS))
    open_ids = [n for n in items if n.is_open and n.incident]
    duty = next((n.on_duty for n in items if n.on_duty), ())
    if duty:
        lines.append(f"{W['on_duty']}: {', '.join(duty)}")
    if open_ids:
        lines.append(f"{W['open_ids']}: " + " ".join(f"#{n.incident}" for n in open_ids))
        if any(n.ack_url for n in open_ids):
            lines.extend(f"#{n.incident}: {message.ack_hint(n, lang)}" for n in open_ids[:MAX_LIST_ITEMS] if n.ack_url)
        else:   # one reply or board hint names an open incident; never a resolved one
            lines.append(message.ack_hint(open_ids[0], lang))
    return title, lines


def sms_text(items: Sequence[Facts], lang: Lang, max_segments: int, strip: bool, tz: ZoneInfo) -> sms.SmsText:
    """SMS: the key facts first (kind, id, category, subject, zone, time), then cause, reach and who.

    The key part is cut last; the rest in order of use to someone reading it on a phone.
    """
    ns = notices(items)
    if len(ns) > 1:
        return sms_digest(ns, lang, max_segments, strip, tz)
    n = ns[0]
    W = WORDS[lang]
    key = message.headline(n, lang)
    lines = message.body_lines(n, lang, tz)
    if n.is_open and n.since is not None:
        key += f" {W['since'].lower()} {message.when(n.since, tz, lang)}"
        lines = [ln for ln in lines if not ln.startswith(W["since"] + " ") and not ln.startswith(W["severity"])]
    elif n.kind in ("recovery", "ack") and lines:
        key += f". {lines[0]}"
        lines = lines[1:]
    elif n.kind == "reboot" and lines:      # 'KHỞI ĐỘNG LẠI: ‹thiết bị› (‹khu vực›) lúc 14:02, …'
        key += f" {message.reboot_words(n, lang, tz)}"
        lines = lines[1:]
    hint = message.ack_hint(n, lang) if n.is_open and n.incident else ""
    lines = [ln for ln in lines if ln != hint]
    if hint and n.sms_reply:     # a link is for chat and e-mail: an SMS carries no token
        lines.insert(min(1, len(lines)), hint)
    # Who is on duty and who else was told ride along only while they cost no extra SMS: on a one-person
    # team they repeat the reader's own name, and a second segment is paid for.
    # The other checks of the fault ride along the same way (the headline and cause already say what it is).
    optional = [ln for ln in lines if ln.startswith((W["also"] + ":", W["on_duty"] + ":", W["told"] + ":"))]
    needed = [ln for ln in lines if ln not in optional]
    out = sms.fit(key + ".", ". ".join(needed), max_segments, strip)
    for extra in optional:
        candidate = sms.fit(key + ".", ". ".join([*needed, extra]), max_segments, strip)
        if candidate.segments > out.segments or candidate.text.endswith(("...", "…")):
            break
        needed.append(extra)
        out = candidate
    return out


def sms_digest(ns: Sequence[Notice], lang: Lang, max_segments: int, strip: bool, tz: ZoneInfo) -> sms.SmsText:
    """As many incidents as fit the segment budget, root causes first, and how many were left out."""
    W = WORDS[lang]
    items = message.ordered(ns)
    key = f"{W['digest']}: {message.counts(items, lang)}."
    entries = [f"{message.sms_line(n, lang, tz)};" for n in items]
    for shown in range(len(entries), -1, -1):
        rest = len(entries) - shown
        tail = [W["more_sms"].format(n=rest)] if rest else []
        text = " ".join([key, *entries[:shown], *tail]).rstrip(";")
        candidate = sms.fit(text, "", max_segments, strip)
        if not candidate.text.endswith(("...", "…")):
            return candidate
    return sms.fit(key, W["more_sms"].format(n=len(entries)), max_segments, strip)
