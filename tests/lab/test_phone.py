"""The demo phone receives what apprise's json:// sends and counts SMS segments."""

from __future__ import annotations

import asyncio

import apprise

from netwatch.lab.phone import Message, Phone


def _send(url: str, title: str, body: str) -> bool:
    a = apprise.Apprise()
    assert a.add(url)
    return bool(a.notify(body=body, title=title))


async def test_apprise_json_posts_arrive_exactly_as_sent() -> None:
    got: list[Message] = []
    phone = await Phone(on_message=got.append).start()
    try:
        body = "SỰ CỐ #1: portal/http — Mất kết nối"
        assert await asyncio.to_thread(_send, phone.url("chat"), "SỰ CỐ", body)
        assert [(m.channel, m.title, m.body) for m in got] == [("chat", "SỰ CỐ", body)]
        assert got[0].sms_segments() == ("ucs2", 1)
    finally:
        await phone.close()


def test_segments_follow_gsm7_and_ucs2_sizes() -> None:
    assert Message(0, "sms", "", "a" * 160, "").sms_segments() == ("gsm7", 1)
    assert Message(0, "sms", "", "a" * 161, "").sms_segments() == ("gsm7", 2)
    assert Message(0, "sms", "", "ấ" * 71, "").sms_segments() == ("ucs2", 2)
