"""Who a notice reaches, in words: the people and groups told, who is on duty, who did not answer."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from netwatch.config.paging import Channel, Paging
from netwatch.notify.message import WORDS

SERVICE_NAMES: Mapping[str, str] = {
    "tgram": "Telegram", "slack": "Slack", "discord": "Discord", "msteams": "Teams", "workflows": "Teams",
    "matrix": "Matrix", "matrixs": "Matrix", "mmost": "Mattermost", "mmosts": "Mattermost",
    "rocket": "Rocket.Chat", "rockets": "Rocket.Chat", "zalo": "Zalo",
}

# Link makers: (incident id, channel id) -> URL of the confirmation page, or "" when links are off.
LinkMaker = Callable[[int, str], str]


def medium(ch: Channel | None, lang: str) -> str:
    """'SMS', 'Telegram', 'thư điện tử': how a channel reaches people, never its config key."""
    W = WORDS["en" if lang == "en" else "vi"]
    if ch is None:
        return W["ch_web"]
    if ch.modem is not None or ch.sms is not None:
        return W["ch_sms"]
    for secret in ch.urls:
        scheme = secret.reveal().split("://", 1)[0].lower()
        if scheme in SERVICE_NAMES:
            return SERVICE_NAMES[scheme]
        if scheme.startswith("mailto"):
            return W["ch_mail"]
    return W["ch_web"]


def channel_words(channel_id: str, paging: Paging, lang: str) -> str:
    """'Lan (SMS)' when a roster contact is reached through the channel, else 'nhóm trực (Telegram)'."""
    W = WORDS["en" if lang == "en" else "vi"]
    ch = paging.channels.get(channel_id)
    names = [c.name or c.id for c in paging.contacts.values() if channel_id in c.notify]
    how = medium(ch, lang)
    who = ", ".join(names) if names else (W["ch_chat"] if how not in (W["ch_sms"], W["ch_mail"], W["ch_web"])
                                          else how.lower() if how == W["ch_mail"] else W["ch_chat"])
    return f"{who} ({how})"


def enrich(facts: Mapping[str, Any], ch: Channel, paging: Paging, now: float,
           link: LinkMaker | None = None) -> dict[str, Any]:
    """The row's facts plus what only the sender knows: the audience in words and this recipient's link."""
    out = dict(facts)
    told = [str(c) for c in facts.get("told") or ()]
    out["told_words"] = list(dict.fromkeys(channel_words(c, paging, ch.lang) for c in told))
    out["on_duty"] = [c.name or c.id for c in paging.on_duty(now)]
    if facts.get("kind") == "escalation":
        # who was told before this level and did not acknowledge
        out["not_answered"] = out["told_words"]
        out.setdefault("at", now)
    if facts.get("kind") == "reminder":
        out.setdefault("at", now)
    out["sms_reply"] = bool(ch.modem is not None and getattr(ch.modem, "replies", False))
    incident = facts.get("incident")
    if link is not None and incident and ch.modem is None and ch.sms is None:
        out["ack_url"] = link(int(incident), ch.id)
    return out
