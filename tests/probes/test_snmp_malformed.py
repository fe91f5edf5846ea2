"""Malformed SNMP answers fail the poll as `protocol` with what was wrong, never as a fake interface state
(issue 13, point 5): wrong types in status columns, odd ifTable indexes and gaps, truncated messages.
Every case is served as real BER by the scripted UDP agent on loopback (tests/peers/snmpresponder.py)."""

from __future__ import annotations

import time
from typing import Any, AsyncIterator

import pytest

from netwatch import causes
from netwatch.fields import Secret
from netwatch.model import Outcome, Target
from netwatch.net.snmp import ber, oids
from netwatch.probes import snmp
from tests.peers.snmpresponder import Responder, device_table
from tests.snmp.engines import ber_engine  # noqa: F401  (a fixture)

# every test once per column-walk engine (Python, and C when built)
pytestmark = pytest.mark.usefixtures("ber_engine")


def v2c(port: int, **kw: Any) -> snmp.Settings:
    return snmp.Settings(community=Secret("scripted"), port=port, watch="all", **kw)


@pytest.fixture
async def agent() -> AsyncIterator[Responder]:
    r = await Responder().start()
    r.table = device_table({i: {"name": b"p%d" % i} for i in range(1, 5)})
    yield r
    r.close()


_n = 0


def target() -> Target:
    global _n
    _n += 1
    return Target(f"bad{_n}", "127.0.0.1")


def no_fake_state(out: Outcome) -> None:
    """A failed poll carries no interface children and no interface series: nothing to page as if_down."""
    assert not out.ok and out.error == "protocol", out
    assert not out.children and not out.series, out
    for lang in ("vi", "en"):
        assert causes.detail_words("protocol", out.detail, lang), (lang, out.detail)


# ---------------------------------------------------------------- wrong types in status columns

@pytest.mark.parametrize("column, tag, value, seen", [
    (oids.IF_OPER_STATUS, ber.OCTET_STRING, b"up", "an OCTET STRING"),
    (oids.IF_OPER_STATUS, ber.OCTET_STRING, b"\x02", "an OCTET STRING"),
    (oids.IF_ADMIN_STATUS, ber.NULL, None, "a NULL"),
    (oids.IF_OPER_STATUS, ber.COUNTER32, 1, "a Counter32"),
    (oids.IF_ADMIN_STATUS, ber.OBJECT_ID, (1, 3, 6, 1), "an OBJECT IDENTIFIER"),
    (oids.IF_OPER_STATUS, ber.NO_SUCH_INSTANCE, None, "a noSuchInstance"),
])
async def test_a_wrong_type_in_a_status_column_is_a_protocol_error(agent: Responder, column: tuple[int, ...],
                                                                   tag: int, value: ber.Value, seen: str) -> None:
    t, s = target(), v2c(agent.port)
    first = await snmp.probe(t, s, 2.0)
    assert first.ok and all(c.ok for c in first.children.values()), first
    agent.set(column + (3,), tag, value)      # the second poll reads statuses without names (cached)
    for _ in range(2):
        out = await snmp.probe(t, s, 2.0)
        no_fake_state(out)
        name = "ifOperStatus" if column == oids.IF_OPER_STATUS else "ifAdminStatus"
        assert f"{name}.3 is {seen}, not an INTEGER" in out.detail, out.detail


@pytest.mark.parametrize("column, value", [(oids.IF_OPER_STATUS, 0), (oids.IF_OPER_STATUS, 99),
                                           (oids.IF_ADMIN_STATUS, 4), (oids.IF_ADMIN_STATUS, -1)])
async def test_a_status_outside_its_enumeration_is_a_protocol_error(agent: Responder, column: tuple[int, ...],
                                                                    value: int) -> None:
    agent.set(column + (2,), ber.INTEGER, value)
    out = await snmp.probe(target(), v2c(agent.port), 2.0)
    no_fake_state(out)
    assert f".2 is {value}, not a" in out.detail, out.detail


# ---------------------------------------------------------------- indexes and gaps

@pytest.mark.parametrize("columns, index", [
    ((oids.IF_ADMIN_STATUS, oids.IF_OPER_STATUS), (7, 1)),     # a two-part index in the status columns
    ((oids.IF_OPER_STATUS,), (5, 101, 116, 104, 48, 47)),      # a string-like index (ifOperStatus only)
    ((oids.IF_NAME, oids.IF_HC_IN_OCTETS), (2, 0)),            # ifXTable with a two-part index
    ((oids.IF_ALIAS,), (4, 1)),
    ((oids.IF_ADMIN_STATUS, oids.IF_OPER_STATUS), (0,)),       # ifIndex 0 (IF-MIB: 1..2147483647)
    ((oids.IF_ADMIN_STATUS, oids.IF_OPER_STATUS), (2**31,)),
])
async def test_an_index_that_is_not_an_ifindex_is_reported(agent: Responder, columns: tuple[tuple[int, ...], ...],
                                                            index: tuple[int, ...]) -> None:
    for column in columns:
        agent.set(column + index, ber.INTEGER if column in (oids.IF_ADMIN_STATUS, oids.IF_OPER_STATUS)
                  else ber.OCTET_STRING if column == oids.IF_NAME else ber.COUNTER64,
                  b"odd" if column == oids.IF_NAME else 1)
    out = await snmp.probe(target(), v2c(agent.port), 2.0)
    no_fake_state(out)
    dotted = ".".join(map(str, index))
    assert f"has a row with index {dotted}, which is not an ifIndex" in out.detail, out.detail


async def test_a_column_walked_under_another_index_type_is_reported(agent: Responder) -> None:
    # every ifAlias cell under a two-part index (as many cells as rows): nothing extra to spot, the
    # index type shows at the column's ends
    for i in range(1, 5):
        del agent.table[oids.IF_ALIAS + (i,)]
        agent.set(oids.IF_ALIAS + (i, 1), ber.OCTET_STRING, b"a%d" % i)
    out = await snmp.probe(target(), v2c(agent.port), 2.0)
    no_fake_state(out)
    assert "ifAlias has a row with index 1.1, which is not an ifIndex" in out.detail, out.detail


async def test_a_status_column_that_ends_early_is_reported(agent: Responder) -> None:
    # ifOperStatus leaves the table after ifIndex 2: the walk's next OIDs are ifInOctets'
    for i in (3, 4):
        del agent.table[oids.IF_OPER_STATUS + (i,)]
    out = await snmp.probe(target(), v2c(agent.port), 2.0)
    no_fake_state(out)
    assert "ifOperStatus lacks ifIndex 3, 4 that ifAdminStatus has" in out.detail, out.detail


async def test_a_gap_in_admin_status_is_reported(agent: Responder) -> None:
    del agent.table[oids.IF_ADMIN_STATUS + (2,)]
    out = await snmp.probe(target(), v2c(agent.port), 2.0)
    no_fake_state(out)
    assert "ifAdminStatus lacks ifIndex 2 that ifOperStatus has" in out.detail, out.detail


async def test_gaps_in_counter_columns_are_handled(agent: Responder) -> None:
    """Counters and names may be sparse (a port without 64-bit counters or an alias): the row stays
    watched with what it has."""
    del agent.table[oids.IF_HC_IN_OCTETS + (2,)]
    del agent.table[oids.IF_ALIAS + (3,)]
    del agent.table[oids.IF_IN_ERRORS + (4,)]
    out = await snmp.probe(target(), v2c(agent.port), 2.0)
    assert out.ok and set(out.children) == {"if/p1", "if/p2", "if/p3", "if/p4"}, out
    assert all(c.ok for c in out.children.values())


# ---------------------------------------------------------------- truncated messages

@pytest.mark.parametrize("mode, fast", [("truncated", True), ("overlong", True), ("cut_head", False)])
async def test_a_truncated_response_says_so(agent: Responder, mode: str, fast: bool) -> None:
    agent.mode = mode
    t0 = time.monotonic()
    out = await snmp.probe(target(), v2c(agent.port, retries=0), 1.0)
    took = time.monotonic() - t0
    no_fake_state(out)
    assert out.detail.startswith(f"truncated response from 127.0.0.1:{agent.port}"), out.detail
    assert "no SNMP answer" not in out.detail
    if fast:     # the request id is readable: the poll fails at once, not at its timeout
        assert took < 0.8, took


def test_truncation_is_told_apart_from_other_malformations() -> None:
    msg = ber.encode_message(ber.Message(ber.V2C, b"c", ber.RESPONSE, 7,
                                         varbinds=[(oids.SYS_UPTIME, ber.TIMETICKS, 5)]))
    for cut in (msg[:len(msg) // 2], msg[:-1], msg[:3]):
        with pytest.raises(ber.TruncatedError):
            ber.decode_message(cut)
    with pytest.raises(ber.BerError) as info:      # a value tag no SNMP type uses: malformed, complete
        ber.decode_message(msg[:-3] + b"\x4f\x01\x01")
    assert not isinstance(info.value, ber.TruncatedError)
    assert ber.peek_request_id(msg[:len(msg) // 2]) == (7, b"c")
    assert ber.peek_request_id(msg[:6]) is None
