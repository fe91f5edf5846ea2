"""A lean BER codec for SNMP v1/v2c messages (requests, responses, traps); v3 goes through pysnmp."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable, Sequence, Union

from netwatch.net.snmp.oids import Oid

try:   # the column walk's loop in C (netwatch/net/snmp/_ber.c, built by `pip install`); same results, less CPU
    from netwatch.net.snmp import _ber as _C_BER
except ImportError:   # no compiler at install time: _columns below does the same work
    _C_BER = None

# "python" forces the Python column walk (tests run both; also a way around a suspected C bug).
ENGINE_ENV = "NETWATCH_SNMP_BER"

V1 = 0
V2C = 1
V3 = 3

# PDU tags (context-specific, constructed)
GET = 0xA0
GET_NEXT = 0xA1
RESPONSE = 0xA2
SET = 0xA3
TRAP_V1 = 0xA4
GET_BULK = 0xA5
INFORM = 0xA6
TRAP_V2 = 0xA7
REPORT = 0xA8

# Value tags
INTEGER = 0x02
OCTET_STRING = 0x04
NULL = 0x05
OBJECT_ID = 0x06
IP_ADDRESS = 0x40
COUNTER32 = 0x41
GAUGE32 = 0x42
TIMETICKS = 0x43
OPAQUE = 0x44
COUNTER64 = 0x46
NO_SUCH_OBJECT = 0x80
NO_SUCH_INSTANCE = 0x81
END_OF_MIB_VIEW = 0x82

EXCEPTIONS = frozenset((NO_SUCH_OBJECT, NO_SUCH_INSTANCE, END_OF_MIB_VIEW))
_UNSIGNED_BYTES = {COUNTER32: 5, GAUGE32: 5, TIMETICKS: 5, COUNTER64: 9}
_UNSIGNED_MAX = {COUNTER32: 2**32 - 1, GAUGE32: 2**32 - 1, TIMETICKS: 2**32 - 1, COUNTER64: 2**64 - 1}

Value = Union[int, bytes, Oid, None]
VarBind = tuple[Oid, int, Value]   # (oid, tag, value); exceptions and NULL carry value None

MAX_MESSAGE_BYTES = 65507


class BerError(ValueError):
    """The bytes are not a well-formed SNMP message (a `protocol` failure for the agent that sent them)."""


class TruncatedError(BerError):
    """The message ends before what it declares: cut in transit or by the agent, or a length beyond the
    datagram. Told apart from other malformations so that the failure says "truncated response"."""


@dataclass
class Message:
    version: int
    community: bytes
    pdu_tag: int
    request_id: int = 0
    error_status: int = 0          # non-repeaters in a GETBULK request
    error_index: int = 0           # max-repetitions in a GETBULK request
    varbinds: list[VarBind] = field(default_factory=list)
    # v1 Trap-PDU fields (RFC 1157); None for every other PDU
    enterprise: Oid | None = None
    agent_address: bytes = b""
    generic_trap: int = 0
    specific_trap: int = 0
    timestamp: int = 0
    # Set by decode_head: the variable bindings are still undecoded at raw[body:].
    raw: bytes = field(default=b"", compare=False, repr=False)
    body: int = field(default=0, compare=False, repr=False)


# ---------------------------------------------------------------- decoding

_oid_cache: dict[bytes, Oid] = {}
_OID_CACHE_MAX = 50_000


def _arcs(raw: bytes) -> list[int]:
    """Base-128 sub-identifiers, strictly (no leading 0x80 byte, no unfinished last one)."""
    if raw.isascii():  # every sub-identifier below 128: one byte each
        return list(raw)
    arcs = []
    acc = 0
    for b in raw:
        acc = (acc << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(acc)
            acc = 0
        elif acc == 0:
            raise BerError("OID sub-identifier has a leading 0x80 byte")
    if raw[-1] & 0x80:
        raise BerError("OID ends inside a sub-identifier")
    return arcs


def decode_oid(raw: bytes) -> Oid:
    cached = _oid_cache.get(raw)
    if cached is not None:
        return cached
    if not raw:
        raise BerError("empty OID")
    arcs = _arcs(raw)
    first = arcs[0]
    if first < 80:
        head = (first // 40, first % 40)
    else:
        head = (2, first - 80)
    oid = head + tuple(arcs[1:])
    if len(oid) > 128 or any(a >= 2**32 for a in oid):
        raise BerError("OID too long or sub-identifier too large")
    if len(_oid_cache) >= _OID_CACHE_MAX:
        _oid_cache.clear()
    _oid_cache[raw] = oid
    return oid


_index_cache: dict[bytes, Oid] = {}
_ENDED = 1 << 30


def _index(raw: bytes, room: int) -> Oid:
    """The sub-identifiers of an OID after a column prefix (which ends on a sub-identifier)."""
    idx = _index_cache.get(raw)
    if idx is None:
        idx = tuple(_arcs(raw))
        if any(a >= 2**32 for a in idx):
            raise BerError("OID sub-identifier too large")
        if len(_index_cache) >= _OID_CACHE_MAX:
            _index_cache.clear()
        _index_cache[raw] = idx
    if len(idx) > room:
        raise BerError("OID too long")
    return idx


def _length(data: bytes, i: int) -> tuple[int, int]:
    n = data[i]
    if n < 0x80:
        return n, i + 1
    count = n & 0x7F
    if count == 0 or count > 3:
        raise BerError("unsupported BER length form")
    if i + 1 + count > len(data):
        raise TruncatedError(f"the message ends at {len(data)} bytes, inside a length")
    return int.from_bytes(data[i + 1:i + 1 + count], "big"), i + 1 + count


def _expect(data: bytes, i: int, tag: int, end: int) -> tuple[int, int]:
    """Check the tag at i; return (content start, content end)."""
    if i >= end or data[i] != tag:
        if i >= len(data):
            raise TruncatedError(f"the message ends at {len(data)} bytes, before its tag 0x{tag:02x}")
        raise BerError(f"expected tag 0x{tag:02x} at offset {i}")
    length, start = _length(data, i + 1)
    stop = start + length
    if stop > len(data):
        raise TruncatedError(f"a length at offset {i} declares {stop} bytes, the datagram holds {len(data)}")
    if stop > end:
        raise BerError(f"length at offset {i} runs past its container")
    return start, stop


def _integer(data: bytes, i: int, end: int) -> tuple[int, int]:
    start, stop = _expect(data, i, INTEGER, end)
    if stop == start or stop - start > 9:
        raise BerError("bad INTEGER length")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def decode_value(tag: int, raw: bytes) -> Value:
    if tag == OCTET_STRING or tag == OPAQUE:
        return raw
    if tag in _UNSIGNED_BYTES:
        if not raw or len(raw) > _UNSIGNED_BYTES[tag] or (len(raw) == _UNSIGNED_BYTES[tag] and raw[0] != 0):
            raise BerError(f"bad length for tag 0x{tag:02x}")
        value = int.from_bytes(raw, "big")
        if raw[0] & 0x80:
            # a negative encoding of an unsigned type: agents do this (bug), pysnmp rejects it
            raise BerError(f"negative value for unsigned tag 0x{tag:02x}")
        return value
    if tag == INTEGER:
        if not raw or len(raw) > 9:
            raise BerError("bad INTEGER length")
        return int.from_bytes(raw, "big", signed=True)
    if tag == OBJECT_ID:
        return decode_oid(raw)
    if tag == NULL or tag in EXCEPTIONS:
        if raw:
            raise BerError("NULL with content")
        return None
    if tag == IP_ADDRESS:
        if len(raw) != 4:
            raise BerError("IpAddress is not 4 bytes")
        return raw
    raise BerError(f"unknown value tag 0x{tag:02x}")


def _varbinds(data: bytes, i: int, end: int) -> list[VarBind]:
    start, stop = _expect(data, i, 0x30, end)
    if stop != end:
        raise BerError("trailing bytes after the variable bindings")
    return _varbinds_in(data, start, stop)[0]


def _varbinds_in(data: bytes, i: int, stop: int, limit: int = -1) -> tuple[list[VarBind], int]:
    """The bindings from offset i to stop (at most `limit` of them), and the offset after the last one."""
    out: list[VarBind] = []
    append = out.append
    cache = _oid_cache
    while i < stop and limit:
        limit -= 1
        if data[i] != 0x30:
            raise BerError(f"expected a variable binding at offset {i}")
        n = data[i + 1]
        if n < 0x80:
            vb_end = i + 2 + n
            i += 2
        else:
            n, i = _length(data, i + 1)
            vb_end = i + n
        if vb_end > stop or data[i] != OBJECT_ID:
            if vb_end > len(data):
                raise TruncatedError(f"a variable binding at offset {i} runs past the datagram's "
                                     f"{len(data)} bytes")
            raise BerError(f"bad variable binding at offset {i}")
        n = data[i + 1]
        if n >= 0x80:
            n, j = _length(data, i + 1)
        else:
            j = i + 2
        k = j + n
        raw = data[j:k]
        oid = cache.get(raw) or decode_oid(raw)
        tag = data[k]
        n = data[k + 1]
        if n >= 0x80:
            n, j = _length(data, k + 1)
        else:
            j = k + 2
        k = j + n
        if k != vb_end:
            raise BerError(f"variable binding at offset {i} has stray bytes")
        if tag in _UNSIGNED_MAX and 0 < n < 5 and not data[j] & 0x80:
            value: Value = int.from_bytes(data[j:k], "big")   # the common counter/gauge case
        else:
            value = decode_value(tag, data[j:k])
        append((oid, tag, value))
        i = k
    return out, i


def decode_columns(msg: Message, skip: int, prefixes: Sequence[bytes], last: list[Oid],
                   cells: Sequence[dict[Oid, tuple[int, Value]]]) -> tuple[list[VarBind], list[bool], int]:
    """Read a GETBULK answer to a column walk without building an OID tuple per binding.

    The first `skip` bindings (the non-repeaters) come back decoded as usual. After them, binding n
    belongs to column n % len(prefixes); `prefixes` are the columns' encoded sub-identifiers
    (`oid_content`). A binding inside its column is stored as cells[col][index] = (tag, value) and
    must come after last[col] (updated in place). Returns (non-repeaters, which columns ended in this
    answer, how many bindings followed the non-repeaters). As strict as decode_message; a binding
    out of order is a BerError too."""
    try:
        return _walk(msg, skip, prefixes, last, cells)
    except BerError:
        raise
    except IndexError:
        raise TruncatedError("the message ends inside a field") from None
    except ValueError as exc:
        raise BerError(f"malformed message ({exc.__class__.__name__})") from None


def _non_repeaters(msg: Message, skip: int) -> tuple[list[VarBind], int, int]:
    """The answer's first `skip` bindings (GETBULK's non-repeaters), where the columns start, and where the
    bindings end: the first steps of both column decoders, so both raise the same errors."""
    data = msg.raw
    end = len(data)
    i, stop = _expect(data, msg.body, 0x30, end)
    if stop != end:
        raise BerError("trailing bytes after the variable bindings")
    heads: list[VarBind] = []
    if skip:
        heads, i = _varbinds_in(data, i, stop, skip)
        if len(heads) < skip:
            raise BerError("GETBULK answer lacks its non-repeaters")
    return heads, i, stop


def _columns(msg: Message, skip: int, prefixes: Sequence[bytes], last: list[Oid],
             cells: Sequence[dict[Oid, tuple[int, Value]]]) -> tuple[list[VarBind], list[bool], int]:
    if not msg.raw:
        raise BerError("decode_columns needs a message from decode_head")
    data = msg.raw
    heads, i, stop = _non_repeaters(msg, skip)
    width = len(prefixes)
    if width == 0:
        # bindings beyond the non-repeaters when no column was asked are ignored (but must be well-formed)
        return heads, [], len(_varbinds_in(data, i, stop)[0])
    # a column that ended gets an impossible prefix length, so the hot test below fails for it at once
    lengths = [len(p) for p in prefixes]
    # an OID has at most 128 sub-identifiers; the prefix holds one per final byte, plus one (the first
    # byte carries two)
    rooms = [127 - (len(p) if p.isascii() else sum(b < 0x80 for b in p)) for p in prefixes]
    ended = [False] * width
    icache = _index_cache
    unsigned = _UNSIGNED_MAX
    startswith = data.startswith
    col = 0
    count = 0
    while i < stop:
        if data[i] != 0x30:
            raise BerError(f"expected a variable binding at offset {i}")
        n = data[i + 1]
        if n < 0x80:
            vb_end = i + 2 + n
            i += 2
        else:
            n, i = _length(data, i + 1)
            vb_end = i + n
        if vb_end > stop or data[i] != OBJECT_ID:
            if vb_end > len(data):
                raise TruncatedError(f"a variable binding at offset {i} runs past the datagram's "
                                     f"{len(data)} bytes")
            raise BerError(f"bad variable binding at offset {i}")
        n = data[i + 1]
        if n < 0x80:
            j = i + 2
        else:
            n, j = _length(data, i + 1)
        k = j + n
        tag = data[k]
        n = data[k + 1]
        if n < 0x80:
            v = k + 2
        else:
            n, v = _length(data, k + 1)
        e = v + n
        if e != vb_end:
            raise BerError(f"variable binding at offset {i} has stray bytes")
        if tag in unsigned:
            # valid without a leading 0 byte when the top bit is clear and it fits (8 bytes for Counter64)
            if n == 1 and data[v] < 0x80:
                value: Value = data[v]
            elif 0 < n < 9 and not data[v] & 0x80 and (n < 5 or tag == COUNTER64):
                value = int.from_bytes(data[v:e], "big")
            else:
                value = decode_value(tag, data[v:e])
        elif tag == INTEGER and n == 1:
            value = data[v] if data[v] < 0x80 else data[v] - 256
        elif tag == INTEGER and 0 < n < 5:
            value = int.from_bytes(data[v:e], "big", signed=True)
        elif tag == OCTET_STRING:
            value = data[v:e]
        else:
            value = decode_value(tag, data[v:e])
            if tag == END_OF_MIB_VIEW:
                lengths[col] = _ENDED
        i = e
        if k - j > lengths[col] and startswith(prefixes[col], j):
            raw = data[j + lengths[col]:k]
            idx = icache.get(raw)
            if idx is None or k - j > 127:     # at most 128 sub-identifiers: only a long OID can have more
                idx = _index(raw, rooms[col])
            if idx <= last[col]:
                raise BerError("OIDs out of order in a column")
            last[col] = idx
            cells[col][idx] = (tag, value)
        else:
            if not ended[col] and k - j == lengths[col] and startswith(prefixes[col], j):
                raise BerError("OIDs out of order (a column answered with itself)")
            decode_oid(data[j:k])     # as strict as decode_message about bindings past the column
            ended[col] = True
            lengths[col] = _ENDED
        count += 1
        col += 1
        if col == width:
            col = 0
    return heads, ended, count


def _c_columns(msg: Message, skip: int, prefixes: Sequence[bytes], last: list[Oid],
               cells: Sequence[dict[Oid, tuple[int, Value]]]) -> tuple[list[VarBind], list[bool], int]:
    """_columns with its per-binding loop in C. The C loop only decodes what Python accepts, the same way;
    at anything else it leaves `last` as it was and returns None, and _columns decodes the answer again
    and raises what it raises: the errors and their messages stay the Python decoder's."""
    data = msg.raw
    if not data or not prefixes or _C_BER is None:
        return _columns(msg, skip, prefixes, last, cells)
    # the same first steps as _columns (so the same errors), then the bindings in C
    heads, i, stop = _non_repeaters(msg, skip)
    got = _C_BER.columns(data, i, prefixes, last, cells, decode_oid)
    if got is None:
        return _columns(msg, skip, prefixes, last, cells)
    return heads, got[0], got[1]


def engine() -> str:
    """The column walk decode_columns uses: "c" or "python"."""
    return "c" if _walk is _c_columns else "python"


def use_engine(name: str) -> None:
    """Switch decode_columns to the "c" or "python" column walk (tests run both); "c" needs the module built."""
    global _walk
    if name == "c" and _C_BER is None:
        raise RuntimeError("netwatch/net/snmp/_ber.c was not built")
    if name not in ("c", "python"):
        raise ValueError(f"unknown engine {name!r}")
    _walk = _c_columns if name == "c" else _columns


_walk = _c_columns if _C_BER is not None and os.environ.get(ENGINE_ENV, "").lower() != "python" else _columns


def decode_message(data: bytes) -> Message:
    """Decode a v1/v2c message; raises BerError on anything malformed (never IndexError)."""
    try:
        return _decode_message(bytes(data))
    except BerError:
        raise
    except IndexError:
        raise TruncatedError("the message ends inside a field") from None
    except ValueError as exc:
        raise BerError(f"malformed message ({exc.__class__.__name__})") from None


def decode_head(data: bytes) -> Message:
    """Decode a message up to its variable bindings, which stay raw (`decode_varbinds`, `decode_columns`
    read them): a client matches the answer to its request before paying for the bindings."""
    try:
        return _decode_message(bytes(data), lazy=True)
    except BerError:
        raise
    except IndexError:
        raise TruncatedError("the message ends inside a field") from None
    except ValueError as exc:
        raise BerError(f"malformed message ({exc.__class__.__name__})") from None


def decode_varbinds(msg: Message) -> list[VarBind]:
    """The variable bindings of a message from decode_head (or decode_message)."""
    if not msg.raw:
        return msg.varbinds
    try:
        return _varbinds(msg.raw, msg.body, len(msg.raw))
    except BerError:
        raise
    except IndexError:
        raise TruncatedError("the message ends inside a field") from None
    except ValueError as exc:
        raise BerError(f"malformed message ({exc.__class__.__name__})") from None


def peek_request_id(data: bytes) -> tuple[int, bytes] | None:
    """(request-id, community) of a v1/v2c message even when it is cut after its request id, to fail the
    request it answers at once; None when even that much is missing or wrong."""
    try:
        if data[0] != 0x30:
            return None
        _, i = _length(data, 1)         # the outer length may run past the datagram: not checked here
        version, i = _integer(data, i, len(data))
        cstart, cstop = _expect(data, i, OCTET_STRING, len(data))
        if version not in (V1, V2C) or data[cstop] != RESPONSE:
            return None
        _, i = _length(data, cstop + 1)
        rid, _ = _integer(data, i, len(data))
        return rid, data[cstart:cstop]
    except (BerError, IndexError, ValueError):
        return None


def message_version(data: bytes) -> int:
    """The msgVersion of any SNMP message (0, 1 or 3), to route v3 elsewhere."""
    try:
        start, stop = _expect(data, 0, 0x30, len(data))
        version, _ = _integer(data, start, stop)
        return version
    except (IndexError, ValueError) as exc:
        raise BerError(f"not an SNMP message ({exc})") from None


def _decode_message(data: bytes, lazy: bool = False) -> Message:
    end = len(data)
    start, stop = _expect(data, 0, 0x30, end)
    if stop != end:
        raise BerError("trailing bytes after the message")
    version, i = _integer(data, start, stop)
    if version not in (V1, V2C):
        raise BerError(f"unsupported SNMP version {version}")
    cstart, cstop = _expect(data, i, OCTET_STRING, stop)
    community = data[cstart:cstop]
    i = cstop
    pdu_tag = data[i]
    if pdu_tag == TRAP_V1:
        pstart, pstop = _expect(data, i, TRAP_V1, stop)
        if pstop != stop:
            raise BerError("trailing bytes after the PDU")
        s, e = _expect(data, pstart, OBJECT_ID, pstop)
        enterprise = decode_oid(data[s:e])
        s, e = _expect(data, e, IP_ADDRESS, pstop)
        if e - s != 4:
            raise BerError("agent-addr is not 4 bytes")
        address = data[s:e]
        generic, j = _integer(data, e, pstop)
        specific, j = _integer(data, j, pstop)
        s, e = _expect(data, j, TIMETICKS, pstop)
        stamp = decode_value(TIMETICKS, data[s:e])
        return Message(version, community, pdu_tag, varbinds=_varbinds(data, e, pstop), enterprise=enterprise,
                       agent_address=address, generic_trap=generic, specific_trap=specific,
                       timestamp=int(stamp))  # type: ignore[arg-type]
    if pdu_tag < GET or pdu_tag > REPORT:
        raise BerError(f"unknown PDU tag 0x{pdu_tag:02x}")
    pstart, pstop = _expect(data, i, pdu_tag, stop)
    if pstop != stop:
        raise BerError("trailing bytes after the PDU")
    request_id, j = _integer(data, pstart, pstop)
    error_status, j = _integer(data, j, pstop)
    error_index, j = _integer(data, j, pstop)
    if lazy:
        return Message(version, community, pdu_tag, request_id, error_status, error_index, raw=data, body=j)
    return Message(version, community, pdu_tag, request_id, error_status, error_index, _varbinds(data, j, pstop))


# ---------------------------------------------------------------- encoding

def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    if n < 0x100:
        return bytes((tag, 0x81, n)) + content
    if n < 0x10000:
        return bytes((tag, 0x82, n >> 8, n & 0xFF)) + content
    return bytes((tag, 0x83, n >> 16, (n >> 8) & 0xFF, n & 0xFF)) + content


def _int_bytes(value: int) -> bytes:
    return value.to_bytes(max(1, (value + (value < 0)).bit_length() // 8 + 1), "big", signed=True)


def _uint_bytes(value: int) -> bytes:
    return value.to_bytes(value.bit_length() // 8 + 1, "big")


@lru_cache(maxsize=4096)
def encode_oid(oid: Oid) -> bytes:
    return _tlv(OBJECT_ID, oid_content(oid))


@lru_cache(maxsize=4096)
def oid_content(oid: Oid) -> bytes:
    """The encoded sub-identifiers of an OID (its BER content without tag and length)."""
    if len(oid) < 2:
        raise ValueError("an OID has at least two sub-identifiers")
    out = bytearray()
    for arc in (oid[0] * 40 + oid[1],) + tuple(oid[2:]):
        if arc < 0x80:
            out.append(arc)
            continue
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def encode_value(tag: int, value: Value) -> bytes:
    if tag == INTEGER:
        return _tlv(tag, _int_bytes(int(value)))  # type: ignore[arg-type]
    if tag in _UNSIGNED_BYTES:
        return _tlv(tag, _uint_bytes(int(value)))  # type: ignore[arg-type]
    if tag in (OCTET_STRING, OPAQUE, IP_ADDRESS):
        return _tlv(tag, bytes(value))  # type: ignore[arg-type]
    if tag == OBJECT_ID:
        return encode_oid(tuple(value))  # type: ignore[arg-type]
    if tag == NULL or tag in EXCEPTIONS:
        return bytes((tag, 0))
    raise ValueError(f"unknown value tag 0x{tag:02x}")


@lru_cache(maxsize=4096)
def _null_binding(oid: Oid) -> bytes:
    return _tlv(0x30, encode_oid(oid) + b"\x05\x00")


def encode_request(version: int, community: bytes, pdu_tag: int, request_id: int, oids: Iterable[Oid],
                   non_repeaters: int = 0, max_repetitions: int = 0) -> bytes:
    """A GET / GETNEXT / GETBULK request with NULL values."""
    bindings = _tlv(0x30, b"".join(map(_null_binding, oids)))
    pdu = _tlv(INTEGER, _int_bytes(request_id)) + _tlv(INTEGER, _int_bytes(non_repeaters)) \
        + _tlv(INTEGER, _int_bytes(max_repetitions)) + bindings
    return _tlv(0x30, _tlv(INTEGER, _int_bytes(version)) + _tlv(OCTET_STRING, community) + _tlv(pdu_tag, pdu))


def encode_message(msg: Message) -> bytes:
    """Any v1/v2c message with values (used by the test responder and for traps)."""
    bindings = _tlv(0x30, b"".join(_tlv(0x30, encode_oid(oid) + encode_value(tag, value))
                                   for oid, tag, value in msg.varbinds))
    if msg.pdu_tag == TRAP_V1:
        pdu = encode_oid(msg.enterprise or (0, 0)) + _tlv(IP_ADDRESS, msg.agent_address or bytes(4)) \
            + _tlv(INTEGER, _int_bytes(msg.generic_trap)) + _tlv(INTEGER, _int_bytes(msg.specific_trap)) \
            + _tlv(TIMETICKS, _uint_bytes(msg.timestamp)) + bindings
    else:
        pdu = _tlv(INTEGER, _int_bytes(msg.request_id)) + _tlv(INTEGER, _int_bytes(msg.error_status)) \
            + _tlv(INTEGER, _int_bytes(msg.error_index)) + bindings
    return _tlv(0x30, _tlv(INTEGER, _int_bytes(msg.version)) + _tlv(OCTET_STRING, msg.community)
                + _tlv(msg.pdu_tag, pdu))
