"""Tests of the shared ICMP engine: statistics maths and real echoes to loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess

import pytest

from netwatch.net import icmp as pinger_module
from netwatch.net.icmp import ENGINE_ENV
from netwatch.net.icmp import Pinger, PingStats, ping_many

from tests.support import icmp_engines, ipv6_loopback

@pytest.fixture(autouse=True, params=icmp_engines())
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here runs on each ICMP engine (a new Pinger per test: pytest-asyncio's loop is per test)."""
    monkeypatch.setenv(ENGINE_ENV, request.param)
    return str(request.param)


SO_DETACH_FILTER = getattr(socket, "SO_DETACH_FILTER", 27)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP sockets need root (CI runs as root)")


@pytest.mark.parametrize(
    ("sent", "rtts", "loss", "low", "avg", "high", "jitter"),
    [
        (3, (0.001, 0.003, 0.002), 0.0, 0.001, 0.002, 0.003, 0.0015),
        (4, (0.010,), 0.75, 0.010, 0.010, 0.010, 0.0),
        (2, (), 1.0, 0.0, 0.0, 0.0, 0.0),
        (0, (), 1.0, 0.0, 0.0, 0.0, 0.0),
    ],
)
def test_stats_maths(sent: int, rtts: tuple[float, ...], loss: float, low: float, avg: float,
                     high: float, jitter: float) -> None:
    s = PingStats(address="127.0.0.1", sent=sent, rtts_seconds=rtts)
    assert s.received == len(rtts)
    assert s.loss_ratio == pytest.approx(loss)
    assert (s.rtt_min_seconds, s.rtt_max_seconds) == pytest.approx((low, high))
    assert s.rtt_avg_seconds == pytest.approx(avg)
    assert s.rtt_jitter_seconds == pytest.approx(jitter)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", socket.AF_INET)),
        ("0:0:0:0:0:0:0:1", ("::1", socket.AF_INET6)),
        ("FE80::1%lo", ("fe80::1%lo", socket.AF_INET6)),
    ],
)
def test_normalize_matches_kernel_form(given: str, expected: tuple[str, int]) -> None:
    assert pinger_module._normalize(given) == (*expected, (expected[0], 0))


def test_normalize_rejects_names() -> None:
    with pytest.raises(ValueError):
        pinger_module._normalize("localhost")


def test_checksum_of_known_header() -> None:
    # Echo request id 0x1234 seq 1 with no payload: the sum must fold to the RFC 1071 complement.
    header = bytes([8, 0, 0, 0, 0x12, 0x34, 0x00, 0x01])
    assert (~pinger_module._ones_complement_sum(header)) & 0xFFFF == 0xE5CA


async def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        await ping_many(["127.0.0.1"], count=0)
    with pytest.raises(ValueError):
        await ping_many(["127.0.0.1"], payload_size_bytes=-1)
    with pytest.raises(ValueError):
        await ping_many(["not-an-address"])


@needs_root
async def test_loopback_echoes_have_plausible_rtts() -> None:
    result = await ping_many(["127.0.0.1"], count=3, interval_seconds=0.01, timeout_seconds=2.0)
    stats = result["127.0.0.1"]
    assert (stats.sent, stats.received, stats.errors) == (3, 3, ())
    assert all(0 < r < 0.05 for r in stats.rtts_seconds)
    assert pinger_module.pinger().privileged(socket.AF_INET) is True


@needs_root
async def test_ipv6_loopback() -> None:
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) on this host")
    stats = (await ping_many(["::1"], count=2, interval_seconds=0.01, timeout_seconds=2.0))["::1"]
    assert (stats.sent, stats.received) == (2, 2)
    assert all(0 < r < 0.05 for r in stats.rtts_seconds)


@needs_root
async def test_large_payload_is_echoed() -> None:
    stats = (await ping_many(["127.0.0.2"], count=1, timeout_seconds=2.0, payload_size_bytes=9000))["127.0.0.2"]
    assert stats.received == 1


@needs_root
async def test_many_addresses_in_one_batch_all_answer() -> None:
    addresses = [f"127.42.{i // 250}.{i % 250 + 1}" for i in range(500)]
    result = await ping_many(addresses, count=2, interval_seconds=0.005, timeout_seconds=3.0)
    assert list(result) == addresses
    assert all(s.sent == 2 and s.received == 2 and not s.errors for s in result.values())
    assert max(r for s in result.values() for r in s.rtts_seconds) < 0.05


@needs_root
async def test_concurrent_batches_share_sockets_without_cross_talk() -> None:
    shared = pinger_module.pinger()
    addresses = [f"127.43.{i // 250}.{i % 250 + 1}" for i in range(500)]
    results = await asyncio.gather(*(ping_many([a], 2, 0.005, 3.0) for a in addresses))
    for address, result in zip(addresses, results):
        assert list(result) == [address]
        assert result[address].received == 2
    assert len(shared._channels) == 1, "all batches must share the one IPv4 socket"
    assert shared.in_flight == 0 and not shared.pending_sequences(), "settled echoes must leave no pending entries"
    assert shared.stray_replies == 0


@needs_root
@pytest.mark.skipif(not shutil.which("fping"), reason="needs fping to make another program's echoes")
async def test_kernel_filter_keeps_other_programs_replies_out() -> None:
    # Another program pings loopback all along (as other engineers' tests may): replies that reach
    # the socket between its creation and the filter attach are foreign, so only the counter's
    # change around the burst says whether the filter works.
    background = subprocess.Popen(["fping", "-l", "-q", "-p", "2", "127.0.0.1"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
    try:
        shared = pinger_module.pinger()
        await ping_many(["127.0.0.1"], 1, 0, 1.0)
        before = shared.foreign_replies
        subprocess.run(["fping", "-c3", "-q", "127.0.0.1"], capture_output=True, timeout=30, check=True)
        # Our next echo's reply queues behind fping's, so reading it drains everything before it.
        await ping_many(["127.0.0.1"], 1, 0, 1.0)
        assert shared.foreign_replies == before
        # Control: with the socket filter detached the same traffic reaches user space.
        sock = shared._channels[socket.AF_INET].sock
        sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
        subprocess.run(["fping", "-c3", "-q", "127.0.0.1"], capture_output=True, timeout=30, check=True)
        await ping_many(["127.0.0.1"], 1, 0, 1.0)
        assert shared.foreign_replies >= before + 3
    finally:
        background.terminate()
        background.wait(timeout=10)


# --- ping_soon: calls due together go out as one batch ------------------------------------------

def _count_batches(monkeypatch: pytest.MonkeyPatch, shared: Pinger) -> list[tuple[float, int]]:
    """Record (loop time, size) of each batch the pinger starts."""
    started: list[tuple[float, int]] = []
    real = shared._run_group

    def spy(addresses, *rest):  # type: ignore[no-untyped-def]
        started.append((asyncio.get_running_loop().time(), len(addresses)))
        return real(addresses, *rest)

    monkeypatch.setattr(shared, "_run_group", spy)
    return started


@needs_root
async def test_calls_due_together_share_one_batch_and_get_their_own_results(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = pinger_module.pinger()
    batches = _count_batches(monkeypatch, shared)
    addresses = [f"127.45.{i // 250}.{i % 250 + 1}" for i in range(1000)]
    # The same address twice: two checks of one host each get their own echoes.
    addresses.append(addresses[0])
    futures = [shared.ping_soon(a, 3, 0.005, 2.0, 56, 0.005) for a in addresses]
    results = await asyncio.gather(*futures)
    assert [size for _, size in batches] == [len(addresses)], "one batch for all calls due together"
    for address, stats in zip(addresses, results):
        assert (stats.address, stats.sent, stats.received, stats.errors) == (address, 3, 3, ())
    rtts = sorted(r for s in results for r in s.rtts_seconds)
    assert rtts[len(rtts) // 2] < 0.0001, "loopback RTT p50 must stay under 0.1 ms with 3,000 echoes in flight"
    assert shared.in_flight == 0 and not shared.pending_sequences()
    assert shared.stray_replies == 0


@needs_root
async def test_batch_window_bounds_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = pinger_module.pinger()
    batches = _count_batches(monkeypatch, shared)
    loop = asyncio.get_running_loop()
    window = 0.05
    first_at = loop.time()
    first = shared.ping_soon("127.0.0.1", 1, 0.0, 2.0, 56, window)
    await asyncio.sleep(window * 0.5)
    second = shared.ping_soon("127.0.0.2", 1, 0.0, 2.0, 56, window)   # joins the open batch
    await asyncio.gather(first, second)
    third_at = loop.time()
    third = shared.ping_soon("127.0.0.3", 1, 0.0, 2.0, 56, window)    # the window has closed: a new batch
    await third
    assert [size for _, size in batches] == [2, 1]
    assert window <= batches[0][0] - first_at < window + 0.02, "the first call waits the window, no longer"
    assert batches[1][0] - third_at < window + 0.02
    # Other settings never join the batch: different echo counts go out separately.
    batches.clear()
    await asyncio.gather(shared.ping_soon("127.0.0.1", 1, 0.0, 2.0, 56, 0.005),
                         shared.ping_soon("127.0.0.1", 2, 0.0, 2.0, 56, 0.005))
    assert sorted(size for _, size in batches) == [1, 1]


@needs_root
async def test_cancelled_call_leaves_the_batch_intact() -> None:
    shared = pinger_module.pinger()
    futures = [shared.ping_soon(f"127.46.0.{i}", 3, 0.01, 2.0, 56, 0.005) for i in range(1, 21)]
    futures[3].cancel()
    done = await asyncio.gather(*futures, return_exceptions=True)
    assert isinstance(done[3], asyncio.CancelledError)
    assert all(isinstance(s, PingStats) and s.received == 3 for i, s in enumerate(done) if i != 3)
    await asyncio.sleep(0.05)
    assert shared.in_flight == 0 and not shared.pending_sequences()


async def test_ping_soon_bad_arguments_raise_for_the_caller_only() -> None:
    shared = pinger_module.pinger()
    with pytest.raises(ValueError):
        shared.ping_soon("not-an-address", 1, 0.0, 1.0, 56, 0.005)
    with pytest.raises(ValueError):
        shared.ping_soon("127.0.0.1", 0, 0.0, 1.0, 56, 0.005)
    assert not shared._pending


def test_the_engine_is_chosen_by_argument_then_environment(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Pinger().engine == engine   # the fixture set $NETWATCH_ICMP_ENGINE
    assert Pinger("python").engine == "python"
    with pytest.raises(ValueError, match="unknown ICMP engine 'fast'"):
        Pinger("fast")
    monkeypatch.setattr(pinger_module, "_C_ENGINE", None)
    with pytest.raises(RuntimeError, match="not built"):
        Pinger("c")


def test_the_c_engine_is_built_where_the_suite_runs_in_ci() -> None:
    # optional=True in setup.py lets an install without a compiler fall back to the Python loops; CI installs
    # gcc and must test the C loops, so a silent fallback there fails here.
    if not os.environ.get("CI"):
        pytest.skip("only CI must have the C engine built")
    assert pinger_module.engine_available(), "netwatch/net/_echo.c was not built: is gcc installed?"


@needs_root
async def test_a_failing_callback_leaves_no_echo_in_flight() -> None:
    shared = pinger_module.pinger()
    addresses = [f"127.47.0.{i}" for i in range(1, 201)]
    delivered: list[int] = []
    failed: list[int] = []

    def deliver(index: int, stats: PingStats) -> None:
        delivered.append(index)
        if len(delivered) == 50:
            raise RuntimeError("a bug in the caller")

    shared.start_batch(addresses, [1.0] * len(addresses), 3, 0.0, 56, deliver, lambda i, e: failed.append(i))
    for _ in range(200):
        await asyncio.sleep(0.01)
        if len(delivered) + len(failed) >= len(addresses):
            break
    assert sorted(delivered + failed) == list(range(len(addresses))), "every address settled exactly once"
    assert shared.in_flight == 0 and not shared.pending_sequences()


@needs_root
async def test_a_failed_send_is_that_address_s_error_only() -> None:
    # The limited broadcast address without SO_BROADCAST: the kernel refuses the send (EACCES), nothing leaves.
    shared = pinger_module.pinger()
    got = await shared.ping_many(["127.0.0.1", "255.255.255.255", "127.0.0.2"], count=2, timeout_seconds=0.5)
    assert got["127.0.0.1"].received == 2 and got["127.0.0.2"].received == 2
    bad = got["255.255.255.255"]
    assert (bad.received, bad.errors) == (0, ("send failed: Permission denied",) * 2)
    assert shared.in_flight == 0 and not shared.pending_sequences()


@needs_root
async def test_a_plan_s_address_list_is_prepared_once_and_a_new_list_afresh(engine: str) -> None:
    shared = pinger_module.pinger()
    plan = ["127.48.0.1", "127.48.0.2", "::1" if ipv6_loopback() else "127.48.0.3"]

    async def run(addresses: list[str]) -> dict[int, PingStats]:
        got: dict[int, PingStats] = {}
        done = asyncio.get_running_loop().create_future()

        def deliver(index: int, stats: PingStats) -> None:
            got[index] = stats
            if len(got) == len(addresses) and not done.done():
                done.set_result(None)

        shared.start_batch(addresses, [1.0] * len(addresses), 2, 0.0, 56, deliver, lambda i, e: None)
        await asyncio.wait_for(done, 5)
        return got

    for addresses in (plan, plan, list(plan), ["127.48.0.9"]):
        got = await run(addresses)
        assert [(got[i].address, got[i].received) for i in range(len(addresses))] == [(a, 2) for a in addresses]
    if engine == "c":
        assert shared._prepared[id(plan)][0] is plan, "the plan's list is kept with what was prepared from it"
    assert shared.in_flight == 0 and not shared.pending_sequences()


@needs_root
async def test_a_fully_answered_address_is_handed_over_as_finish_would(engine: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The C drain hands an address whose every echo was answered its PingStats itself (batch_finish_full); the same
    object as _Batch.finish makes: the NamedTuple, the address, the echo count, the RTTs in order, no errors. Any
    other address (here one whose sends fail) still goes through finish()."""
    shared = pinger_module.pinger()
    finished: list[int] = []
    real_finish = pinger_module._Batch.finish

    def finish(batch: object, index: int) -> None:
        finished.append(index)
        real_finish(batch, index)   # type: ignore[arg-type]
    monkeypatch.setattr(pinger_module._Batch, "finish", finish)
    addresses = ["127.49.0.1", "255.255.255.255", "127.49.0.2"]
    got: dict[int, PingStats] = {}
    done = asyncio.get_running_loop().create_future()

    def deliver(index: int, stats: PingStats) -> None:
        assert index not in got, "one hand-over per address"
        got[index] = stats
        if len(got) == len(addresses) and not done.done():
            done.set_result(None)

    shared.start_batch(addresses, [1.0] * 3, 3, 0.0, 56, deliver, lambda i, e: None)
    await asyncio.wait_for(done, 5)
    for index in (0, 2):
        stats = got[index]
        assert type(stats) is PingStats and type(stats.rtts_seconds) is tuple
        assert (stats.address, stats.sent, stats.errors, len(stats.rtts_seconds)) == (addresses[index], 3, (), 3)
        assert all(type(r) is float and 0 <= r < 1 for r in stats.rtts_seconds)
    assert got[1].errors == ("send failed: Permission denied",) * 3 and got[1].rtts_seconds == ()
    # the C engine hands over the answered ones without finish(); the Python engine calls it for each
    assert sorted(finished) == ([1] if engine == "c" else [0, 1, 2])
    assert shared.in_flight == 0 and not shared.pending_sequences()
