"""The v2c GETBULK walk driven from the datagram callback: retries, timeouts, cancellation and bad answers
in the middle of a walk behave as they did when each request was awaited by the polling task."""

from __future__ import annotations

import asyncio

import pytest

from netwatch.net.snmp import ber, client
from tests.peers.snmpresponder import Responder, device_table

IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
IF_OPER = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
ROWS = {i: {"name": b"p%d" % i} for i in range(1, 21)}


def agent(r: Responder, **kw: object) -> client.Agent:
    # 4 bindings per request: a 20-row, 2-column walk takes ~11 requests
    return client.Agent("127.0.0.1", r.port, b"scripted", bulk_varbinds=4, **kw)  # type: ignore[arg-type]


async def test_a_lost_request_in_the_middle_of_a_walk_is_retried() -> None:
    r = await Responder().start()
    try:
        r.table = device_table(ROWS)
        full = await client.engine().walk(agent(r), [IF_DESCR, IF_OPER])
        asked = r.requests
        seen: list[ber.Message] = []

        def lose_the_third(req: ber.Message) -> None:
            seen.append(req)
            r.mode = "silent" if len(seen) == 3 else "ok"

        r.on_request = lose_the_third
        got = await client.engine().walk(agent(r, timeout_seconds=1.0, retries=1), [IF_DESCR, IF_OPER])
        assert got == full and len(full[IF_DESCR]) == 20
        assert len(seen) == asked + 1 and seen[2].request_id == seen[3].request_id   # the same request again
        assert not client.engine()._pending
    finally:
        r.close()


async def test_an_agent_that_stops_answering_mid_walk_is_a_timeout_after_its_retries() -> None:
    r = await Responder().start()
    try:
        r.table = device_table(ROWS)
        seen: list[ber.Message] = []

        def silent_after_two(req: ber.Message) -> None:
            seen.append(req)
            r.mode = "silent" if len(seen) > 2 else "ok"

        r.on_request = silent_after_two
        eng = client.engine()
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(client.SnmpError) as info:
            await eng.walk(agent(r, timeout_seconds=0.6, retries=2), [IF_DESCR, IF_OPER])
        assert info.value.error == "timeout" and len(seen) == 2 + 3
        assert 0.5 < loop.time() - start < 1.0 and not eng._pending
    finally:
        r.close()


async def test_a_cancelled_walk_leaves_no_request_pending() -> None:
    r = await Responder(mode="silent").start()
    try:
        eng = client.engine()
        task = asyncio.create_task(eng.walk(agent(r, timeout_seconds=5.0), [IF_DESCR]))
        await asyncio.sleep(0.05)
        assert len(eng._pending) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not eng._pending
    finally:
        r.close()


async def test_closing_the_engine_cancels_a_walk_in_flight() -> None:
    r = await Responder(mode="silent").start()
    eng = client.Engine()
    try:
        task = asyncio.create_task(eng.walk(agent(r, timeout_seconds=5.0), [IF_DESCR]))
        await asyncio.sleep(0.05)
        eng.close()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not eng._pending
    finally:
        eng.close()
        r.close()


@pytest.mark.parametrize("mode,words", [("truncated", "truncated response"), ("error_status", "answered genErr"),
                                        ("garbage", "malformed response"), ("loop", "out of order")])
async def test_a_bad_answer_in_the_middle_of_a_walk_fails_it(mode: str, words: str) -> None:
    r = await Responder().start()
    try:
        r.table = device_table(ROWS)
        count = 0

        def bad_third(req: ber.Message) -> None:
            nonlocal count
            count += 1
            r.mode = mode if count == 3 else "ok"

        r.on_request = bad_third
        eng = client.engine()
        with pytest.raises(client.SnmpError) as info:
            await eng.walk(agent(r, timeout_seconds=1.0, retries=0), [IF_DESCR, IF_OPER])
        assert info.value.error == "protocol" and words in info.value.detail, info.value.detail
        assert not eng._pending
    finally:
        r.close()
