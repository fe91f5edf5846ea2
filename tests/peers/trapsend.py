"""A minimal SNMPv2c trap sender (BER by hand): the test's own bytes, to loopback only."""

from __future__ import annotations

import socket


def _tlv(tag: int, payload: bytes) -> bytes:
    n = len(payload)
    length = bytes([n]) if n < 128 else (bytes([0x81, n]) if n < 256 else bytes([0x82, n >> 8, n & 0xFF]))
    return bytes([tag]) + length + payload


def _oid(text: str) -> bytes:
    parts = [int(p) for p in text.split(".")]
    out = bytes([parts[0] * 40 + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.insert(0, 0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(chunk)
    return _tlv(0x06, out)


def link_down(community: str, request_id: int = 1) -> bytes:
    varbinds = _tlv(0x30, _tlv(0x30, _oid("1.3.6.1.2.1.1.3.0") + _tlv(0x43, b"\x01"))
                    + _tlv(0x30, _oid("1.3.6.1.6.3.1.1.4.1.0") + _oid("1.3.6.1.6.3.1.1.5.3")))
    rid = request_id.to_bytes(request_id.bit_length() // 8 + 1, "big")  # minimal two's complement
    pdu = _tlv(0xA7, _tlv(0x02, rid) + _tlv(0x02, b"\x00") + _tlv(0x02, b"\x00") + varbinds)
    return _tlv(0x30, _tlv(0x02, b"\x01") + _tlv(0x04, community.encode()) + pdu)


def send_link_down(port: int, community: str, count: int = 1) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(count):
            s.sendto(link_down(community, i + 1), ("127.0.0.1", port))
