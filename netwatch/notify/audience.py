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


def _who_how(channel_id: str, paging: Paging, lang: str) -> tuple[str, str]:
    W = WORDS["en" if lang == "en" else "vi"]
    ch = paging.channels.get(channel_id)
    names = [c.name or c.id for c in paging.contacts.values() if channel_id in c.notify]
    how = medium(ch, lang)
    return (", ".join(names) if names else W["ch_chat"]), how


def channel_words(channel_id: str, paging: Paging, lang: str) -> str:
    """'Lan (SMS)' when a roster contact is reached through the channel, else 'nhóm trực (Telegram)'."""
    who, how = _who_how(channel_id, paging, lang)
    return f"{who} ({how})"


def told_words(channels: list[str], paging: Paging, lang: str) -> list[str]:
    """Each person or group once, with every way they were told: 'Lan (SMS, Telegram)'."""
    ways: dict[str, list[str]] = {}
    for channel_id in channels:
        who, how = _who_how(channel_id, paging, lang)
        if how not in ways.setdefault(who, []):
            ways[who].append(how)
    return [f"{who} ({', '.join(hows)})" for who, hows in ways.items()]


def enrich(facts: Mapping[str, Any], ch: Channel, paging: Paging, now: float,
           link: LinkMaker | None = None) -> dict[str, Any]:
    """The row's facts plus what only the sender knows: the audience in words and this recipient's link."""
    out = dict(facts)
    told = [str(c) for c in facts.get("told") or ()]
    out["told_words"] = told_words(told, paging, ch.lang)
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
