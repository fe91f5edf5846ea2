"""Acknowledge by SMS reply: "OK 12" from a roster phone, read from the GSM modem, answered by SMS."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import TYPE_CHECKING, Callable

from netwatch.alerting import incidents
from netwatch.alerting.operators import audit
from netwatch.config.paging import Channel, Contact, Paging
from netwatch.notify import message, modem, sms
from netwatch.store.db import DB_ERRORS, Tx

if TYPE_CHECKING:
    from netwatch.store import Store

log = logging.getLogger(__name__)

# "OK 12", "ok #12", "XN 12", "Xác nhận 12", "xac nhan 12 dang xu ly": a word, the incident number, a note.
_REPLY = re.compile(r"^\s*(?:ok|xn|xac\s*nhan|ack)\s*[#:.-]?\s*(\d{1,9})\b[\s,.:;-]*(.*)$", re.S)

ANSWERS = {
    "vi": {"done": "Đã ghi nhận: {who} nhận xử lý sự cố #{id}.",
           "taken": "Sự cố #{id} đã có người xử lý: {who}.", "closed": "Sự cố #{id} đã khôi phục, không cần nhận."},
    "en": {"done": "Noted: {who} is handling incident #{id}.",
           "taken": "Incident #{id} is already being handled by {who}.",
           "closed": "Incident #{id} has recovered; nothing to take."},
}


def parse_reply(text: str) -> tuple[int, str] | None:
    """(incident id, note) of an acknowledgement, any case, with or without diacritics; else None."""
    plain = sms.strip_diacritics(text).lower()
    m = _REPLY.match(plain)
    if m is None:
        return None
    # the note keeps the sender's own spelling: cut the same number of characters from the original text
    note = text[len(text) - len(m.group(2)):] if m.group(2) else ""
    return int(m.group(1)), message.clean(note, 200)


def _digits(number: str) -> str:
    d = re.sub(r"\D", "", number)
    return "0" + d[2:] if d.startswith("84") and len(d) > 9 else d


def contact_of(paging: Paging, number: str) -> Contact | None:
    """The roster contact whose phone sent this; +84 and 0 prefixes are the same number."""
    wanted = _digits(number)
    if len(wanted) < 6:
        return None
    return next((c for c in paging.contacts.values() if c.phone and _digits(c.phone) == wanted), None)


def masked(number: str) -> str:
    d = re.sub(r"[^\d+]", "", number)[:20]
    return d[:-3] + "***" if len(d) > 5 else "***"


def handle(conn: Tx, paging: Paging, lang: str, number: str, text: str, now: float) -> str | None:
    """Act on one incoming SMS inside a transaction; the answer to send back, or None to stay silent.

    A number off the roster, a text that is not an acknowledgement and an incident that does not exist
    change nothing, get no answer (a forger learns nothing) and leave an audit line.
    """
    source = f"sms:{masked(number)}"
    contact = contact_of(paging, number)
    shown = message.clean(text, 120)
    if contact is None:
        audit(conn, "?", "sms_ignored", f"not a roster number: {shown}", source, now)
        return None
    parsed = parse_reply(text)
    if parsed is None:
        audit(conn, contact.name or contact.id, "sms_ignored", f"not an acknowledgement: {shown}", source, now)
        return None
    incident_id, note = parsed
    who = contact.name or contact.id
    error = incidents.ack(conn, incident_id, who, note, source, now)
    words = ANSWERS["en" if lang == "en" else "vi"]
    if error is None:
        return words["done"].format(who=who, id=incident_id)
    if error.startswith("no incident"):
        audit(conn, who, "sms_ignored", f"no incident #{incident_id}: {shown}", source, now)
        return None
    row = incidents.get(conn, incident_id)
    if row is not None and row["state"] == "acked":
        return words["taken"].format(id=incident_id, who=message.clean(row.get("acked_by") or "?", 60))
    return words["closed"].format(id=incident_id)


def reply_channels(paging: Paging) -> list[Channel]:
    return [ch for ch in paging.channels.values() if ch.modem is not None and ch.modem.replies]


async def run(store: "Store", paging: Callable[[], Paging], wake: Callable[[], None],
              clock: Callable[[], float] = time.time) -> None:
    """Poll each replying modem's inbox; a +CMTI notice is only a hint, the stored messages are the truth."""
    while True:
        channels = reply_channels(paging())
        await asyncio.sleep(min((ch.modem.replies_every for ch in channels if ch.modem), default=5.0))
        for ch in channels:
            assert ch.modem is not None
            try:
                await poll(store, paging(), ch, wake, clock)
            except (OSError, modem.ModemError, *DB_ERRORS) as exc:
                log.warning("channel %s: reading SMS replies failed: %s", ch.id, exc)


async def poll(store: "Store", paging: Paging, ch: Channel, wake: Callable[[], None],
               clock: Callable[[], float] = time.time) -> int:
    """Read one modem's inbox, act on each message, answer; returns how many messages were read."""
    assert ch.modem is not None
    spec = ch.modem
    pin = spec.pin.reveal() if spec.pin else None
    got = await asyncio.to_thread(modem.read_inbox_blocking, spec.device, spec.baud, float(ch.timeout), pin)
    for msg in got:
        def act() -> str | None:
            with store.transaction() as c:
                return handle(c, paging, ch.lang, msg.number, msg.text, clock())

        answer = await asyncio.to_thread(act)
        if answer is None:
            log.warning("SMS from %s ignored (see the audit log)", masked(msg.number))
            continue
        wake()   # the ack notice to everyone told goes out now
        strip = ch.sms.strip_diacritics if ch.sms else True
        text = sms.fit(answer, "", ch.sms.max_segments if ch.sms else 1, strip).text
        result = await modem.send(spec.device, spec.baud, (msg.number,), text, float(ch.timeout), pin)
        if not result.ok:
            log.warning("channel %s: answer to %s failed: %s", ch.id, masked(msg.number), result.error)
    return len(got)
