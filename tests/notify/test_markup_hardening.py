"""Hostile device text in chat notices: escaped per markup, titles included, and no mass mentions."""

from __future__ import annotations

from typing import Iterator

import pytest

from netwatch.notify import senders, templates
from tests.peers.sinks import HttpSink

HOSTILE_TITLE = "sw-<b>hall</b> *down* [click](http://127.0.0.1/x) @all"


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    s = HttpSink().start()
    yield s
    s.stop()


def test_mattermost_urls_get_markdown_escaping() -> None:
    assert templates.markup_for("mmost://127.0.0.1/token") == "markdown"
    assert templates.markup_for("mmosts://chat.example.org/token") == "markdown"


@pytest.mark.parametrize("markup", ["markdown", "slack"])
def test_device_text_cannot_mention_everyone(markup: templates.Markup) -> None:
    for mention in ("@all", "@channel", "@here", "@everyone"):
        assert mention not in templates.escape(f"ifAlias {mention} please", markup)


async def test_a_title_blended_into_the_body_is_escaped(sink: HttpSink) -> None:
    """Mattermost has no title field: apprise pastes the title into the Markdown body."""
    url = f"mmost://127.0.0.1:{sink.port}/tokenabcdefghijklmnop"
    markup = templates.markup_for(url)
    body = templates.escape("Detail: `rm -rf /` **x**", markup)
    result = await senders.send(url, HOSTILE_TITLE, body, markup, "problem", "nw-1-problem", 10.0)
    assert result.ok, result
    text = sink.wait_count(1)[0].body["text"]
    assert "[click](" not in text and "*down*" not in text and "@all" not in text, text
    assert "\\*down\\*" in text and "\\[click\\]" in text


def test_html_blend_escapes_the_title() -> None:
    out = senders.blend("sw <hall> & co", "<i>body</i>", "html")
    assert out == "<b>sw &lt;hall&gt; &amp; co</b>\n<i>body</i>"


@pytest.fixture
def services(sink: HttpSink, monkeypatch: pytest.MonkeyPatch) -> HttpSink:
    """apprise's real Discord, Slack and Telegram plugins, posting to the loopback sink instead of the internet."""
    from apprise.plugins import discord, slack, telegram
    monkeypatch.setattr(discord.NotifyDiscord, "notify_url", f"http://127.0.0.1:{sink.port}/discord")
    monkeypatch.setattr(slack.NotifySlack, "webhook_url", f"http://127.0.0.1:{sink.port}/slack")
    monkeypatch.setattr(telegram.NotifyTelegram, "notify_url", f"http://127.0.0.1:{sink.port}/tg/bot")
    return sink


DEVICE = {"kind": "problem", "incident": 7, "check": "sw/if/x", "target": "sw", "state": "down", "error": "if_down",
          "target_name": "@everyone [x](http://127.0.0.1/p) *b* <i>&amp;", "zone_name": "Hall\nSU CO GIA #9",
          "since": 1765674000.0}


async def _send_rendered(url: str, facts: dict[str, object]) -> tuple[str, str]:
    from zoneinfo import ZoneInfo
    markup = templates.markup_for(url)
    title, body = templates.chat([facts], "en", markup, ZoneInfo("Asia/Ho_Chi_Minh"))
    result = await senders.send(url, title, body, markup, "problem", "nw-7-problem", 10.0)
    assert result.ok, result
    return title, body


async def test_discord_title_and_body_cannot_ping_or_link(services: HttpSink) -> None:
    await _send_rendered("discord://1234567/abcdefghijk", DEVICE)
    content = services.wait_count(1)[0].body["content"]
    title = content.splitlines()[0]
    assert "@everyone" not in content and "@\u200beveryone" in title      # the first line is the title
    assert "[x](http" not in content and "\\[x\\]\\(http" in title and "*b*" not in content
    assert "\nSU CO GIA" not in content


async def test_slack_escapes_once(services: HttpSink) -> None:
    await _send_rendered("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ", DEVICE)
    att = services.wait_count(1)[0].body["attachments"][0]
    for text in (att["title"], att["text"]):
        assert "&lt;i&gt;&amp;amp;" in text or "&lt;i&gt;" not in text   # the device's "&amp;" shown literally
        assert "&amp;lt;" not in text and "@everyone" not in text
    assert "&lt;i&gt;" in att["title"]


async def test_telegram_html_keeps_device_text_literal(services: HttpSink) -> None:
    await _send_rendered("tgram://123456789:abcdefg_hijklmnop/-1001", DEVICE)
    text = services.wait_count(1)[0].body["text"]
    assert "<i>" not in text and "&lt;i&gt;&amp;amp;" in text and "\nSU CO GIA" not in text
