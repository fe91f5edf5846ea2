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
