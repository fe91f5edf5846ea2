"""Signed acknowledgement tokens: bound to incident and recipient, expiring, refusing any change."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from netwatch.notify import acklink

KEY = b"k" * 32


def test_round_trip_binds_incident_and_recipient() -> None:
    token = acklink.sign(KEY, 12, "duty-chat", 1000.0, "n1")
    claim = acklink.verify(KEY, token, 999.0)
    assert claim == acklink.Claim(12, "duty-chat", 1000.0, "n1")
    assert acklink.verify(KEY, token, 1000.0) == "expired"
    assert acklink.verify(b"x" * 32, token, 0.0) == "bad"


@pytest.mark.parametrize("change", [
    lambda p: [13, *p[1:]],                    # another incident
    lambda p: [p[0], "duty-sms", *p[2:]],      # another recipient
    lambda p: [*p[:2], p[2] + 86400, p[3]],    # a longer life
])
def test_any_change_of_the_payload_is_refused(change: object) -> None:
    token = acklink.sign(KEY, 12, "duty-chat", 1000.0, "n1")
    body, tag = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps(change(payload), separators=(",", ":")).encode()).rstrip(b"=")  # type: ignore[operator]
    assert acklink.verify(KEY, f"{forged.decode()}.{tag}", 0.0) == "bad"


@pytest.mark.parametrize("junk", ["", ".", "a.b.c", "%%%.###", "x" * 1000, "e30.AAAA"])
def test_junk_is_bad_not_an_error(junk: str) -> None:
    assert acklink.verify(KEY, junk, 0.0) == "bad"


def test_key_file_is_private_and_stable(tmp_path: Path) -> None:
    path = str(tmp_path / ".netwatch-ack.key")
    first = acklink.load_key(path)
    assert acklink.load_key(path) == first and len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    Path(path).write_bytes(b"short")
    with pytest.raises(OSError, match="not a 32-byte"):
        acklink.load_key(path)


def test_link_base_defaults_to_listen_and_warns_for_any_address(tmp_path: Path) -> None:
    from netwatch.cli import warnings
    from netwatch.config import loads

    def config(extra: str, listen: str = "127.0.0.1:9800") -> object:
        return loads(f"listen: \"{listen}\"\nstore: {tmp_path / 'nw.db'}\n"
                     f"channels: {{c: {{urls: ['json://127.0.0.1:9/x']}}}}\n{extra}\ntargets: []\n",
                     str(tmp_path / "v.yaml"))

    c = config("")
    assert c.board.link_base(c.listen) == "http://127.0.0.1:9800"  # type: ignore[attr-defined]
    assert c.board.link_base(c.listen, tls=True) == "https://127.0.0.1:9800"  # type: ignore[attr-defined]
    assert "opens on this machine only" in warnings(c, "en")[0]  # type: ignore[arg-type]
    c = config("board: {viewer_token: k3Vq9ZtR2mXw7LpB4nHc}", "0.0.0.0:9800")
    assert "0.0.0.0" in warnings(c, "en")[0] and "board.public_url" in warnings(c, "en")[0]  # type: ignore[arg-type]
    c = config("board: {public_url: 'https://noc.example.vn/', viewer_token: k3Vq9ZtR2mXw7LpB4nHc}", "0.0.0.0:9800")
    assert c.board.link_base(c.listen) == "https://noc.example.vn"  # type: ignore[attr-defined]
    assert warnings(c, "en") == []  # type: ignore[arg-type]
    with pytest.raises(Exception, match="public_url"):
        config("board: {public_url: 'ftp://x'}")
