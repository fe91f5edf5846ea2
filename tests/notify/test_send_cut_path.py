"""A send given up at its timeout is over: nothing of it reaches the gateway when a cut path heals.

Two namespaces on one bridge (tests/cluster/lab.py): the gateway (a real aiohttp sink) and the sender.
The sender's first send opens a kept-alive connection; nftables then drops the sender's packets to the
gateway's port, the second send times out, the path heals. With a graceful close the kernel kept the
request and retransmitted it after the heal (the gateway got it ~1-3 s later: a repeated page after a
retry or a coordinator hand-over had already delivered it); gateway sessions reset on close instead.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from netwatch.notify import senders
from tests.cluster.lab import Lab, available
from tests.peers.sinks import HttpSink

pytestmark = [pytest.mark.root, pytest.mark.skipif(not available(), reason="needs root, ip and nft")]


def test_a_timed_out_send_does_not_reach_the_gateway_after_the_path_heals() -> None:
    lab = Lab().open()
    sink: HttpSink | None = None
    try:
        lab.add("gw")
        lab.add("snd")
        gw = lab.members["gw"].address
        sink = lab.in_ns("gw", lambda: HttpSink(port=7100, host=gw).start())
        url = sink.url("/chat")

        async def scenario() -> list[bool]:
            session = senders.gateway_session()
            try:
                first = await senders.send(url, "t", "first", "text", "problem", "k-1", 2.0, session)
                await asyncio.to_thread(lab.cut, "snd", "gw", 7100)
                second = await senders.send(url, "t", "second", "text", "problem", "k-2", 1.0, session)
                await asyncio.to_thread(lab.heal, "snd")
                await asyncio.sleep(6.0)     # retransmissions back off 0.2, 0.4, 0.8, 1.6, 3.2 s
                return [first.ok, second.ok]
            finally:
                await session.close()

        oks = lab.in_ns("snd", lambda: asyncio.run(scenario()))
        bodies = [str(r.body) for r in sink.received]
        assert oks == [True, False]
        assert len(bodies) == 1 and "first" in bodies[0], bodies
    finally:
        if sink is not None:
            sink.stop()
        lab.close()
