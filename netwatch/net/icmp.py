"""The shared ICMP echo engine: one socket per address family per event loop, kernel-timestamped."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import os
import random
import socket
import struct
import time
import weakref
from typing import Callable, Iterable, NamedTuple

try:   # the per-echo loops in C (netwatch/net/_echo.c, built by `pip install`); same behaviour, ~1/4 the CPU
    from netwatch.net import _echo as _C_ENGINE
except ImportError:   # no compiler at install time: the Python loops below do the same work
    _C_ENGINE = None

log = logging.getLogger(__name__)

# "c" or "python" forces an engine (tests run both; "python" also works around a suspected C-engine bug).
ENGINE_ENV = "NETWATCH_ICMP_ENGINE"

# Linux values (x86, arm, most arches); Python's socket module does not export them.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
SOL_RAW = 255
ICMP_FILTER = 1
ICMP6_FILTER = 1

RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024
SEND_BUFFER_BYTES = 1024 * 1024
MAX_PAYLOAD_BYTES = 65_507          # 65535 minus IPv4 and ICMP headers
# Matching needs headers only: IPv4 header (<= 60) + ICMP error header (8) + quoted IPv6 header (40)
# or IPv4 header (<= 60) + quoted ICMP header (8). Longer datagrams are truncated, which is fine.
_RECEIVE_BYTES = 192
_ANCILLARY_BYTES = socket.CMSG_SPACE(16)
_DRAIN_EVERY_SENDS = 64
_DRAIN_MAX_PACKETS = 8192
_SEQUENCE_SPACE = 65536
_PREPARED_KEPT = 4096   # address lists whose send entries are kept (a slot's plan each; cleared when full)
# A kernel timestamp later than the user-space one by more than this means the wall clock moved.
_CLOCK_SLACK_NS = 1_000_000

_ECHO_REQUEST = {socket.AF_INET: 8, socket.AF_INET6: 128}
_ECHO_REPLY = {socket.AF_INET: 0, socket.AF_INET6: 129}
_V4_ERRORS = {3: "destination unreachable", 11: "time exceeded", 12: "parameter problem"}
_V4_UNREACHABLE_CODES = {0: "network unreachable", 1: "host unreachable", 2: "protocol unreachable",
                         3: "port unreachable", 4: "fragmentation needed", 9: "network prohibited",
                         10: "host prohibited", 13: "administratively prohibited"}
_V6_ERRORS = {1: "destination unreachable", 3: "time exceeded", 4: "parameter problem"}
_V6_UNREACHABLE_CODES = {0: "no route", 1: "administratively prohibited", 3: "address unreachable",
                         4: "port unreachable", 5: "source address failed policy", 6: "reject route"}

_new_tuple = tuple.__new__
_TIMESPEC = struct.Struct("=qq")
_ECHO_HEADER = struct.Struct("!BBHHH")
_ID_SEQ = struct.Struct("!HH")


class PingNotPermitted(PermissionError):
    """Neither a raw nor an unprivileged ICMP socket may be opened; the message says how to fix it."""


class PingStats(NamedTuple):
    """What the echoes to one address saw. RTTs come from kernel receive timestamps."""

    address: str
    sent: int
    rtts_seconds: tuple[float, ...]
    errors: tuple[str, ...] = ()   # ICMP errors received and send failures, one line each

    @property
    def received(self) -> int:
        return len(self.rtts_seconds)

    @property
    def loss_ratio(self) -> float:
        return 1.0 - self.received / self.sent if self.sent else 1.0

    @property
    def rtt_min_seconds(self) -> float:
        return min(self.rtts_seconds, default=0.0)

    @property
    def rtt_max_seconds(self) -> float:
        return max(self.rtts_seconds, default=0.0)

    @property
    def rtt_avg_seconds(self) -> float:
        return sum(self.rtts_seconds) / len(self.rtts_seconds) if self.rtts_seconds else 0.0

    @property
    def rtt_jitter_seconds(self) -> float:
        """Mean absolute difference between consecutive RTTs (as icmplib and most pingers define it)."""
        r = self.rtts_seconds
        if len(r) < 2:
            return 0.0
        return sum(abs(b - a) for a, b in zip(r, r[1:])) / (len(r) - 1)


if _C_ENGINE is not None and hasattr(_C_ENGINE, "stats_type"):
    _C_ENGINE.stats_type(PingStats)   # the C drain hands a fully answered address's RTTs in it (batch_finish_full)


class _Channel:
    """One ICMP socket of one address family, raw (root/CAP_NET_RAW) or datagram (ping_group_range)."""

    __slots__ = ("family", "sock", "fd", "raw", "ident", "checksummed", "header_offset", "request_type",
                 "reply_type", "on_error")

    def __init__(self, family: int, sock: socket.socket, raw: bool, ident: int) -> None:
        self.family = family
        self.sock = sock
        self.fd = sock.fileno()
        self.raw = raw
        # A datagram ICMP socket's identifier is rewritten by the kernel, which also routes
        # only our own replies to it; a raw socket sees every echo reply on the host.
        self.ident = ident if raw else None
        self.checksummed = raw and family == socket.AF_INET    # the kernel sums ICMPv6 and ping sockets
        self.header_offset = raw and family == socket.AF_INET  # only raw IPv4 delivers the IP header
        self.request_type = _ECHO_REQUEST[family]
        self.reply_type = _ECHO_REPLY[family]
        self.on_error: Callable[[bytes, int, str], None] = lambda data, offset, source: None


class _Batch:
    """The echoes of one batch of addresses; each address is settled on its own, through `deliver`.

    An address is settled as soon as all its echoes are answered or failed, or at its own deadline,
    so a silent address never holds back the replies of the others; `done` resolves when every
    address is settled. RTTs are kept flat, `count` slots per address, rather than in a container
    per address or per echo: thousands of long-lived small containers per batch make the cyclic
    garbage collector rescan the heap, which doubled the CPU per echo in the benchmark.
    `deliver(index, stats)` is called once per address (ping_many collects them, ping_soon resolves
    that caller's future, the scheduler's batch path judges the check); `gone(index)` says a caller
    no longer wants its echoes.
    """

    __slots__ = ("addresses", "count", "deliver", "done", "errors", "gone", "got", "left", "outstanding",
                 "pinger", "rtt_flat", "sending", "seq_flat", "settled")

    def __init__(self, done: asyncio.Future[None], pinger: Pinger, addresses: list[str], count: int,
                 deliver: Callable[[int, PingStats], None], gone: Callable[[int], bool] | None) -> None:
        self.done = done
        self.pinger = pinger
        self.count = count
        self.addresses = addresses
        self.deliver = deliver
        self.gone = gone
        self.errors: dict[int, list[str]] = {}
        self.outstanding = 0
        self.sending = True
        self.left = [count] * len(addresses)     # echoes per address not yet answered, failed or lost
        self.got = [0] * len(addresses)
        self.settled = [False] * len(addresses)
        self.rtt_flat = [0.0] * (len(addresses) * count)   # seconds
        self.seq_flat = [-1] * (len(addresses) * count)

    def settle(self) -> None:
        if not self.outstanding and not self.sending and not self.done.done():
            self.done.set_result(None)

    def expire(self) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def reply(self, index: int, rtt_ns: int) -> None:
        # netwatch/net/_echo.c batch_reply does the same for the C engine: change both together.
        got = self.got[index]
        self.rtt_flat[index * self.count + got] = rtt_ns / 1e9
        self.got[index] = got + 1
        self.outstanding -= 1
        left = self.left[index] - 1
        self.left[index] = left
        if not left:
            self.finish(index)
        if not self.outstanding:
            self.settle()

    def fail(self, index: int, text: str) -> None:
        """Echo of address `index` failed: an ICMP error quoting it arrived (or its send failed)."""
        self.errors.setdefault(index, []).append(text)
        self.outstanding -= 1
        left = self.left[index] - 1
        self.left[index] = left
        if not left:
            self.finish(index)
        self.settle()

    def finish(self, index: int) -> None:
        """Hand address `index` its PingStats; echoes still in flight for it are given up. (For an address whose
        every echo was answered, netwatch/net/_echo.c batch_finish_full does the same: change both together.)"""
        self.left[index] = 0
        if self.settled[index]:
            return
        self.settled[index] = True
        count = self.count
        base = index * count
        got = self.got[index]
        if got < count:   # every echo answered: none of them holds a slot any more
            p = self.pinger
            for seq in self.seq_flat[base:base + count]:
                if seq >= 0 and p._slot_batch[seq] is self and p._slot_index[seq] == index:
                    p._slot_batch[seq] = None
                    p.in_flight -= 1
                    self.outstanding -= 1
        rtts = tuple(self.rtt_flat[base:base + got])
        errors = self.errors.get(index)
        # tuple.__new__ directly: the namedtuple's own __new__ is a Python function (this runs for every result).
        self.deliver(index, _new_tuple(PingStats, (self.addresses[index], count, rtts,
                                                   tuple(errors) if errors else ())))


def _ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


_NORMALIZED: dict[str, tuple[str, int, tuple[str, int]]] = {}


def _normalize(address: str) -> tuple[str, int, tuple[str, int]]:
    """Return the address as the kernel will report it (inet_ntop form), its family and sockaddr."""
    found = _NORMALIZED.get(address)
    if found is None:
        if len(_NORMALIZED) >= 100_000:
            _NORMALIZED.clear()
        found = _NORMALIZED[address] = _parse_address(address)
    return found


_WIRE: dict[str, tuple[bytes, bytes]] = {}


def _wire(text: str, family: int) -> tuple[bytes, bytes]:
    """The C engine's form of a normalized address: its `struct sockaddr_in`/`sockaddr_in6` and its
    address bytes padded to 16 (what a reply's source is compared with)."""
    found = _WIRE.get(text)
    if found is None:
        host, _, scope = text.partition("%")
        packed = socket.inet_pton(family, host)
        if family == socket.AF_INET:
            sockaddr = struct.pack("=HH4s8x", family, 0, packed)
        else:
            try:
                scope_id = (int(scope) if scope.isdigit() else socket.if_nametoindex(scope)) if scope else 0
            except OSError:
                scope_id = 0   # an unknown interface: the send fails with the kernel's own reason, as in Python
            sockaddr = struct.pack("=HHI16sI", family, 0, 0, packed, scope_id)
        if len(_WIRE) >= 100_000:
            _WIRE.clear()
        found = _WIRE[text] = (sockaddr, packed.ljust(16, b"\0"))
    return found


def engine_available() -> bool:
    """True when the C loops were built (`pip install` with a C compiler and Python's headers)."""
    return _C_ENGINE is not None


def address_family(host: str) -> int | None:
    """AF_INET or AF_INET6 if `host` is an IP address literal (scope allowed), else None."""
    try:
        return _normalize(host)[1]
    except ValueError:
        return None


def _parse_address(address: str) -> tuple[str, int, tuple[str, int]]:
    host, _, scope = address.partition("%")
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            text = socket.inet_ntop(family, socket.inet_pton(family, host))
        except OSError:
            continue
        text = f"{text}%{scope}" if scope else text
        return text, family, (text, 0)
    raise ValueError(f"not an IP address: {address!r}")


def _ping_group_range() -> str:
    try:
        with open("/proc/sys/net/ipv4/ping_group_range", encoding="ascii") as f:
            return " ".join(f.read().split())
    except OSError:
        return "unknown"


class Pinger:
    """Sends echoes for every check of one event loop over one socket per family.

    Replies are matched on (identifier, sequence) and on the replying address; sequences come
    from one counter shared by all batches so concurrent checks never collide.
    """

    def __init__(self, engine: str | None = None) -> None:
        """`engine`: "c", "python", or None for $NETWATCH_ICMP_ENGINE, else C when built."""
        chosen = engine or os.environ.get(ENGINE_ENV) or ("c" if _C_ENGINE is not None else "python")
        if chosen not in ("c", "python"):
            raise ValueError(f"unknown ICMP engine {chosen!r} (c or python)")
        if chosen == "c" and _C_ENGINE is None:
            raise RuntimeError("the C ICMP engine is not built (reinstall with gcc and Python's headers present)")
        self.engine = chosen
        self._echo = _C_ENGINE if chosen == "c" else None
        # The C engine's copy of each in-flight echo's destination, 16 bytes a sequence number.
        self._address_table = bytearray(_SEQUENCE_SPACE * 16) if self._echo is not None else bytearray()
        self._counts = [0, 0, 0]   # the C drain's matched, foreign and stray replies, folded in after each call
        # start_batch's address lists (a slot's plan: the same list every run) and what _entries made of them.
        self._prepared: dict[int, tuple[list[str], int, list[tuple[int, bytearray, bytes, bool, int, str, bytes]],
                                        list[_Channel], list[_Channel]]] = {}
        self._channels: dict[int, _Channel] = {}
        # Echoes in flight, indexed by sequence number: preallocated so a send allocates nothing.
        self._slot_batch: list[_Batch | None] = [None] * _SEQUENCE_SPACE
        self._slot_index = [0] * _SEQUENCE_SPACE
        self._slot_address = [""] * _SEQUENCE_SPACE
        self._slot_sent_ns = [0] * _SEQUENCE_SPACE        # wall clock, the kernel timestamps' domain
        self._slot_sent_perf_ns = [0] * _SEQUENCE_SPACE   # monotonic, to catch wall-clock jumps
        self.in_flight = 0
        self._next_seq = random.randrange(_SEQUENCE_SPACE)
        self._ident = random.randrange(1, 0x10000)
        self._payloads: dict[int, tuple[bytes, int]] = {}
        self._closed = False
        self.stray_replies = 0   # replies with our identifier but an unknown sequence or a wrong source
        self.foreign_replies = 0   # echo replies to other programs that got past the socket filter
        # ping_soon calls waiting for their batch to start, by (count, spacing, payload, window).
        self._pending: dict[tuple[int, float, int, float],
                            tuple[list[str], list[float], list[asyncio.Future[PingStats]]]] = {}
        self._group_tasks: set[asyncio.Task[None]] = set()

    def privileged(self, family: int = socket.AF_INET) -> bool | None:
        """True for a raw socket, False for a ping socket, None if not opened yet."""
        ch = self._channels.get(family)
        return None if ch is None else ch.raw

    def close(self) -> None:
        self._closed = True
        for ch in self._channels.values():
            try:
                asyncio.get_running_loop().remove_reader(ch.fd)
            except (RuntimeError, ValueError, OSError):
                pass
            ch.sock.close()
        self._channels.clear()

    def _channel(self, family: int) -> _Channel:
        ch = self._channels.get(family)
        if ch is not None:
            return ch
        proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
        try:
            sock = socket.socket(family, socket.SOCK_RAW, proto)
            raw = True
        except PermissionError:
            try:
                sock = socket.socket(family, socket.SOCK_DGRAM, proto)
                raw = False
            except PermissionError:
                raise PingNotPermitted(
                    "cannot open an ICMP socket: raw sockets need root or CAP_NET_RAW, and unprivileged "
                    f"ICMP sockets are not allowed for this group (net.ipv4.ping_group_range is "
                    f"'{_ping_group_range()}'); fix: run as root, give the process CAP_NET_RAW "
                    "(e.g. AmbientCapabilities=CAP_NET_RAW in its systemd unit), or widen "
                    "net.ipv4.ping_group_range to include its group (sysctl -w "
                    "net.ipv4.ping_group_range='0 2147483647')") from None
        try:
            sock.setblocking(False)
            _set_buffer(sock, SO_RCVBUFFORCE, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            _set_buffer(sock, SO_SNDBUFFORCE, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
            # Kernel receive timestamps keep RTTs honest when thousands of replies queue up.
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            if raw and family == socket.AF_INET:
                # A raw socket also receives every echo request (ours included, on loopback):
                # let only echo replies and the errors that quote our requests through.
                passed = (1 << 0) | (1 << 3) | (1 << 11) | (1 << 12)
                sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", 0xFFFFFFFF & ~passed))
            elif raw:
                words = [0xFFFFFFFF] * 8   # a set bit blocks that ICMPv6 type
                for t in (1, 3, 4, 129):
                    words[t >> 5] &= ~(1 << (t & 31))
                sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("=8I", *words))
            if raw:
                _attach_ident_filter(sock, family, self._ident)
            ch = _Channel(family, sock, raw, self._ident)
            ch.on_error = lambda data, offset, source: self._on_error(ch, data, offset, source)
            asyncio.get_running_loop().add_reader(ch.fd, self._drain, ch)
        except BaseException:
            sock.close()
            raise
        self._channels[family] = ch
        return ch

    def _payload(self, size: int) -> tuple[bytes, int]:
        cached = self._payloads.get(size)
        if cached is None:
            payload = bytes((0x10 + i) & 0xFF for i in range(size))
            cached = self._payloads[size] = (payload, _ones_complement_sum(payload))
        return cached

    def _drain(self, ch: _Channel) -> None:
        """Read every queued datagram and settle the echoes they answer."""
        if self._echo is not None:
            counts = self._counts
            try:
                self._echo.drain(ch.fd, ch.header_offset, -1 if ch.ident is None else ch.ident, ch.reply_type,
                                 self._slot_batch, self._slot_index, self._slot_sent_ns, self._slot_sent_perf_ns,
                                 self._address_table, ch.on_error, counts, _DRAIN_MAX_PACKETS)
            finally:
                matched, foreign, stray = counts
                if matched or foreign or stray:
                    counts[0] = counts[1] = counts[2] = 0
                    self.in_flight -= matched
                    self.foreign_replies += foreign
                    self.stray_replies += stray
            return
        recvmsg = ch.sock.recvmsg
        slot_batch = self._slot_batch
        slot_address = self._slot_address
        slot_index = self._slot_index
        slot_sent_ns = self._slot_sent_ns
        slot_sent_perf_ns = self._slot_sent_perf_ns
        perf_counter_ns = time.perf_counter_ns
        unpack_timespec = _TIMESPEC.unpack_from
        unpack_id_seq = _ID_SEQ.unpack_from
        ident = ch.ident
        reply_type = _ECHO_REPLY[ch.family]
        raw_v4 = ch.header_offset
        sol_socket = socket.SOL_SOCKET
        for _ in range(_DRAIN_MAX_PACKETS):
            try:
                data, ancillary, _flags, source = recvmsg(_RECEIVE_BYTES, _ANCILLARY_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            received_ns = perf_counter_ns()
            offset = (data[0] & 0x0F) << 2 if raw_v4 and data else 0
            if len(data) < offset + 8:
                continue
            if data[offset] != reply_type:
                self._on_error(ch, data, offset, source[0])
                continue
            reply_id, seq = unpack_id_seq(data, offset + 4)
            if ident is not None and reply_id != ident:
                self.foreign_replies += 1   # another program's echo: raw sockets see them all
                continue
            batch = slot_batch[seq]
            if batch is None or slot_address[seq] != source[0]:
                self.stray_replies += 1
                continue
            slot_batch[seq] = None
            self.in_flight -= 1
            rtt_ns = received_ns - slot_sent_perf_ns[seq]
            if ancillary:   # the kernel's receive timestamp: the only ancillary item the socket asks for
                level, kind, value = ancillary[0]
                if kind == SO_TIMESTAMPNS and level == sol_socket and len(value) >= 16:
                    seconds, nanoseconds = unpack_timespec(value)
                    kernel_rtt_ns = seconds * 1_000_000_000 + nanoseconds - slot_sent_ns[seq]
                    if 0 <= kernel_rtt_ns <= rtt_ns + _CLOCK_SLACK_NS:
                        rtt_ns = kernel_rtt_ns
            batch.reply(slot_index[seq], rtt_ns)

    def _on_error(self, ch: _Channel, data: bytes, offset: int, reporter: str) -> None:
        """Settle the echo quoted by an ICMP error (unreachable, time exceeded) as failed."""
        icmp_type, code = data[offset], data[offset + 1]
        quoted = offset + 8
        if ch.family == socket.AF_INET:
            name = _V4_ERRORS.get(icmp_type)
            if name is None or len(data) < quoted + 20:
                return
            inner = quoted + ((data[quoted] & 0x0F) << 2)
            if len(data) < inner + 8 or data[inner] != 8:
                return
            destination = socket.inet_ntop(socket.AF_INET, data[quoted + 16:quoted + 20])
            if icmp_type == 3:
                name = _V4_UNREACHABLE_CODES.get(code, f"{name} (code {code})")
        else:
            name = _V6_ERRORS.get(icmp_type)
            inner = quoted + 40
            if name is None or len(data) < inner + 8 or data[quoted + 6] != 58 or data[inner] != 128:
                return
            destination = socket.inet_ntop(socket.AF_INET6, data[quoted + 24:quoted + 40])
            if icmp_type == 1:
                name = _V6_UNREACHABLE_CODES.get(code, f"{name} (code {code})")
        reply_id, seq = _ID_SEQ.unpack_from(data, inner + 4)
        if ch.ident is not None and reply_id != ch.ident:
            return
        batch = self._slot_batch[seq]
        if batch is None or self._slot_address[seq].partition("%")[0] != destination:
            return
        self._slot_batch[seq] = None
        self.in_flight -= 1
        batch.fail(self._slot_index[seq], f"{name} (reported by {reporter})")

    def _check_arguments(self, count: int, payload_size_bytes: int) -> None:
        """ValueError (RuntimeError once closed) for the caller, before anything is queued or sent."""
        if count < 1:
            raise ValueError("count must be at least 1")
        if not 0 <= payload_size_bytes <= MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload_size_bytes must be between 0 and {MAX_PAYLOAD_BYTES}")
        if self._closed:
            raise RuntimeError("pinger is closed")

    def ping_soon(self, address: str, count: int = 1, interval_seconds: float = 0.0,
                  timeout_seconds: float = 1.0, payload_size_bytes: int = 56,
                  window_seconds: float = 0.0) -> asyncio.Future[PingStats]:
        """Echo one IP address like ping_many, batched with the other calls of the next `window_seconds`.

        Calls with the same count, spacing, payload size and window that arrive within the window
        of the first one go out as ONE batch (fping-style: echoes interleaved round by round, one
        expiry timer for the batch), so no call waits more than `window_seconds` to start. Each
        call's future resolves as soon as its own echoes are answered or its own `timeout_seconds`
        after the last round has passed, whatever the others do.
        """
        self._check_arguments(count, payload_size_bytes)
        _normalize(address)   # ValueError now, for this caller only, not for the whole batch
        loop = asyncio.get_running_loop()
        key = (count, interval_seconds, payload_size_bytes, window_seconds)
        group = self._pending.get(key)
        if group is None:
            group = self._pending[key] = ([], [], [])
            if window_seconds > 0:
                loop.call_later(window_seconds, self._flush, key)
            else:
                loop.call_soon(self._flush, key)
        future: asyncio.Future[PingStats] = loop.create_future()
        group[0].append(address)
        group[1].append(timeout_seconds)
        group[2].append(future)
        return future

    def _flush(self, key: tuple[int, float, int, float]) -> None:
        addresses, waits, futures = self._pending.pop(key)
        count, interval_seconds, payload_size_bytes, _ = key

        def deliver(index: int, stats: PingStats) -> None:
            future = futures[index]
            if not future.done():
                future.set_result(stats)

        def fail(index: int, exc: BaseException) -> None:
            future = futures[index]
            if not future.done():
                if isinstance(exc, Exception):
                    future.set_exception(exc)
                else:
                    future.cancel()

        self._start_group(addresses, waits, count, interval_seconds, payload_size_bytes, deliver, fail,
                          lambda index: futures[index].done())

    def start_batch(self, addresses: list[str], waits: list[float], count: int, interval_seconds: float,
                    payload_size_bytes: int, deliver: Callable[[int, PingStats], None],
                    fail: Callable[[int, BaseException], None]) -> None:
        """Echo every address now as ONE batch, like ping_soon's, without a future per address.

        `waits[i]` is address i's own timeout after the last round. `deliver(i, stats)` is called once
        per address as soon as its echoes are answered or its deadline passed; if the batch cannot
        run at all (no ICMP socket, or the loop is shutting down), `fail(i, exc)` is called instead for
        every address not yet delivered. Addresses must be IP literals (ValueError otherwise, at once).
        `addresses` must not change after the call: the same list passed again (a slot's plan, run after
        run) reuses what the engine prepared from it.
        """
        self._check_arguments(count, payload_size_bytes)
        kept = self._prepared.get(id(addresses))
        if kept is None or kept[0] is not addresses:
            for address in addresses:
                _normalize(address)
        self._start_group(addresses, waits, count, interval_seconds, payload_size_bytes, deliver, fail, None,
                          stable=True)

    def _start_group(self, addresses: list[str], waits: list[float], count: int, interval_seconds: float,
                     payload_size_bytes: int, deliver: Callable[[int, PingStats], None],
                     fail: Callable[[int, BaseException], None], gone: Callable[[int], bool] | None,
                     stable: bool = False) -> None:
        task = asyncio.get_running_loop().create_task(
            self._run_group(addresses, waits, count, interval_seconds, payload_size_bytes, deliver, fail, gone,
                            stable))
        self._group_tasks.add(task)   # referenced until done, or the loop may collect it mid-run
        task.add_done_callback(self._group_tasks.discard)

    async def _run_group(self, addresses: list[str], waits: list[float], count: int, interval_seconds: float,
                         payload_size_bytes: int, deliver: Callable[[int, PingStats], None],
                         fail: Callable[[int, BaseException], None], gone: Callable[[int], bool] | None,
                         stable: bool = False) -> None:
        """`stable`: the caller passes the same unchanged `addresses` list run after run (a slot's plan), so
        the C engine keeps what it prepares from it (normalized addresses, sockaddrs, packet buffers)."""
        loop = asyncio.get_running_loop()
        batch = _Batch(loop.create_future(), self, addresses, count, deliver, gone)
        settled = batch.settled
        expiry: list[asyncio.TimerHandle] = []
        try:
            payload, payload_sum = self._payloads.get(payload_size_bytes) or self._payload(payload_size_bytes)
            if self._echo is not None:
                entries, entry_channels, used = self._entries(addresses, payload_size_bytes, payload, stable)
                await self._send_rounds(loop, batch, entries, entry_channels, used, count, interval_seconds,
                                        payload_sum, gone)
            else:
                # Per socket of the batch: one packet buffer, its header rewritten in place for every echo.
                channels: dict[int, tuple[_Channel, bytearray]] = {}
                prepared: list[tuple[str, _Channel, bytearray, tuple[str, int]]] = []
                for address in addresses:
                    text, family, sockaddr = _normalize(address)
                    found = channels.get(family)
                    if found is None:
                        found = channels[family] = (self._channels.get(family) or self._channel(family),
                                                    bytearray(_ECHO_HEADER.size) + payload)
                    prepared.append((text, found[0], found[1], sockaddr))
                used = [ch for ch, _ in channels.values()]
                ident = self._ident
                pack_header = _ECHO_HEADER.pack_into
                slot_batch = self._slot_batch
                slot_index = self._slot_index
                slot_address = self._slot_address
                slot_sent_ns = self._slot_sent_ns
                slot_sent_perf_ns = self._slot_sent_perf_ns
                seq_flat = batch.seq_flat
                time_ns = time.time_ns
                perf_counter_ns = time.perf_counter_ns
                since_drain = 0
                for round_index in range(count):
                    if round_index:
                        await asyncio.sleep(interval_seconds)
                    for i, (text, ch, packet, sockaddr) in enumerate(prepared):
                        if settled[i] or (gone is not None and gone(i)):
                            continue   # settled already, or its caller was cancelled: send it nothing more
                        while self.in_flight >= _SEQUENCE_SPACE:
                            await asyncio.sleep(0.001)
                        # The next free sequence number (one counter for every batch: no two echoes in flight share one).
                        seq = self._next_seq
                        while slot_batch[seq] is not None:
                            seq = (seq + 1) & 0xFFFF
                        self._next_seq = (seq + 1) & 0xFFFF
                        checksum = 0
                        if ch.checksummed:   # the kernel sums ICMPv6 and ping sockets
                            total = (ch.request_type << 8) + ident + seq + payload_sum
                            total = (total & 0xFFFF) + (total >> 16)
                            total = (total & 0xFFFF) + (total >> 16)
                            checksum = ~total & 0xFFFF
                        pack_header(packet, 0, ch.request_type, 0, checksum, ident, seq)
                        while True:
                            # Taken before sendto: on loopback the reply is queued inside the call.
                            sent_ns = time_ns()
                            sent_perf_ns = perf_counter_ns()
                            try:
                                ch.sock.sendto(packet, sockaddr)
                            except (BlockingIOError, InterruptedError):
                                for c in used:
                                    self._drain(c)
                                await _writable(loop, ch)
                                continue
                            except OSError as exc:
                                batch.outstanding += 1   # fail() counts it down again
                                batch.fail(i, f"send failed: {exc.strerror or exc}")
                                sent_ns = -1
                            break
                        if sent_ns < 0:
                            continue
                        slot_batch[seq] = batch
                        slot_index[seq] = i
                        slot_address[seq] = text
                        slot_sent_ns[seq] = sent_ns
                        slot_sent_perf_ns[seq] = sent_perf_ns
                        seq_flat[i * count + round_index] = seq
                        self.in_flight += 1
                        batch.outstanding += 1
                        since_drain += 1
                        if since_drain >= _DRAIN_EVERY_SENDS:
                            # Read while sending so the receive buffer never overflows.
                            since_drain = 0
                            for c in used:
                                self._drain(c)
            batch.sending = False
            for c in used:
                self._drain(c)
            # One timer for the whole batch, re-armed per distinct deadline (usually just one).
            now = loop.time()
            pending = sorted((now + wait, i) for i, wait in enumerate(waits) if batch.left[i])

            def expire(start: int = 0) -> None:
                moment = loop.time()
                j = start
                while j < len(pending) and pending[j][0] <= moment:
                    batch.finish(pending[j][1])
                    j += 1
                if j < len(pending):
                    expiry.append(loop.call_at(pending[j][0], expire, j))
                else:
                    batch.expire()

            batch.settle()
            if not batch.done.done():
                expire()
                await batch.done
        except BaseException as exc:
            for i in range(len(addresses)):
                if not settled[i]:
                    settled[i] = True
                    fail(i, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            for handle in expiry:
                handle.cancel()
            # Nothing outstanding (the common end): every echo of the batch was answered, failed or given up,
            # and each of those cleared its slot; only an interrupted batch has slots left to clear.
            if batch.outstanding:
                for seq in batch.seq_flat:   # every echo sent (-1: not sent)
                    if seq >= 0 and self._slot_batch[seq] is batch:
                        self._slot_batch[seq] = None
                        self.in_flight -= 1
            if not all(settled):
                for i in range(len(addresses)):
                    batch.finish(i)

    def _entries(self, addresses: list[str], payload_size_bytes: int, payload: bytes, stable: bool
                 ) -> tuple[list[tuple[int, bytearray, bytes, bool, int, str, bytes]], list[_Channel], list[_Channel]]:
        """What the C loop sends from, per address: (fd, packet buffer, sockaddr, checksummed, echo type,
        address text, address bytes); the channel of each; the channels used. A stable list's are kept."""
        if stable:
            kept = self._prepared.get(id(addresses))
            if kept is not None and kept[0] is addresses and kept[1] == payload_size_bytes:
                return kept[2], kept[3], kept[4]
        # One packet buffer per socket: the C loop writes the header before every send, so batches may share it.
        buffers: dict[int, bytearray] = {}
        entries: list[tuple[int, bytearray, bytes, bool, int, str, bytes]] = []
        entry_channels: list[_Channel] = []
        for address in addresses:
            text, family, _ = _normalize(address)
            ch = self._channels.get(family) or self._channel(family)
            packet = buffers.get(family)
            if packet is None:
                packet = buffers[family] = bytearray(_ECHO_HEADER.size) + payload
            sockaddr, address16 = _wire(text, family)
            entries.append((ch.fd, packet, sockaddr, ch.checksummed, ch.request_type, text, address16))
            entry_channels.append(ch)
        used = list({ch.family: ch for ch in entry_channels}.values())
        if stable:
            if len(self._prepared) >= _PREPARED_KEPT:
                self._prepared.clear()
            self._prepared[id(addresses)] = (addresses, payload_size_bytes, entries, entry_channels, used)
        return entries, entry_channels, used

    async def _send_rounds(self, loop: asyncio.AbstractEventLoop, batch: _Batch,
                           entries: list[tuple[int, bytearray, bytes, bool, int, str, bytes]],
                           entry_channels: list[_Channel], used: list[_Channel], count: int, interval_seconds: float,
                           payload_sum: int, gone: Callable[[int], bool] | None) -> None:
        """The batch's rounds of echoes through the C loop: the same sends, slots and failures as the
        Python loop in _run_group; here only what waits (writable socket, free sequence numbers)."""
        send_round = self._echo.send_round   # type: ignore[union-attr]
        size = len(entries)
        for round_index in range(count):
            if round_index:
                await asyncio.sleep(interval_seconds)
            position = 0
            while position < size:
                if self.in_flight >= _SEQUENCE_SPACE:
                    await asyncio.sleep(0.001)
                    continue
                position, self._next_seq, sent, error = send_round(
                    entries, position, batch.settled, gone, self._ident, self._next_seq, payload_sum,
                    self._slot_batch, self._slot_index, self._slot_address, self._slot_sent_ns,
                    self._slot_sent_perf_ns, self._address_table, batch.seq_flat, count, round_index, batch,
                    _DRAIN_EVERY_SENDS, _SEQUENCE_SPACE - self.in_flight)
                self.in_flight += sent
                batch.outstanding += sent
                if error == 0:
                    if position < size:   # read while sending so the receive buffer never overflows
                        for c in used:
                            self._drain(c)
                elif error in (errno.EAGAIN, errno.EINTR):
                    for c in used:
                        self._drain(c)
                    await _writable(loop, entry_channels[position])
                elif error > 0:
                    batch.outstanding += 1   # fail() counts it down again
                    batch.fail(position, f"send failed: {os.strerror(error)}")
                    position += 1

    def pending_sequences(self) -> list[int]:
        """Sequence numbers of the echoes in flight (for tests and debugging)."""
        return [seq for seq, batch in enumerate(self._slot_batch) if batch is not None]

    async def ping_many(self, addresses: Iterable[str], count: int = 1, interval_seconds: float = 0.0,
                        timeout_seconds: float = 1.0,
                        payload_size_bytes: int = 56) -> dict[str, PingStats]:
        """Send `count` echoes to each address, `interval_seconds` apart, and wait up to
        `timeout_seconds` after the last send for the replies.

        Addresses must be IP literals; results are keyed by the address as given.
        Raises PingNotPermitted when no ICMP socket can be opened, ValueError on bad input.
        One batch, the same engine as ping_soon and start_batch (one send loop, one expiry timer).
        """
        self._check_arguments(count, payload_size_bytes)
        given = list(dict.fromkeys(addresses))
        for address in given:
            _normalize(address)
        stats: list[PingStats | None] = [None] * len(given)
        failures: list[BaseException] = []

        def deliver(index: int, found: PingStats) -> None:
            stats[index] = found

        def fail(index: int, exc: BaseException) -> None:
            if not failures:
                failures.append(exc)

        await self._run_group(given, [timeout_seconds] * len(given), count, interval_seconds, payload_size_bytes,
                              deliver, fail, None)
        if failures:
            raise failures[0]
        return {address: found for address, found in zip(given, stats) if found is not None}


def _set_buffer(sock: socket.socket, force_option: int, option: int, size_bytes: int) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, force_option, size_bytes)   # root may exceed rmem_max
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, option, size_bytes)


def _attach_ident_filter(sock: socket.socket, family: int, ident: int) -> None:
    """Have the kernel drop echo replies to other programs before they reach our receive buffer.

    A classic BPF program: pass anything that is not an echo reply (ICMP errors quote our
    requests), pass echo replies carrying our identifier, drop the rest. Raw IPv4 sockets see the
    IP header first; raw IPv6 sockets see the ICMPv6 header first. Best effort: without the
    filter, user space discards those replies itself.
    """
    accept, drop = (0x06, 0, 0, 0x40000), (0x06, 0, 0, 0)
    if family == socket.AF_INET:
        program = [
            (0xB1, 0, 0, 0),          # ldxb 4*([0]&0xf)   X = IP header length
            (0x50, 0, 0, 0),          # ldb [x+0]          ICMP type
            (0x15, 0, 2, 0),          # jeq #0 (echo reply), else accept
            (0x48, 0, 0, 4),          # ldh [x+4]          identifier
            (0x15, 0, 1, ident),      # jeq #ident, accept, else drop
            accept, drop,
        ]
    else:
        program = [
            (0x30, 0, 0, 0),          # ldb [0]            ICMPv6 type
            (0x15, 0, 2, 129),        # jeq #129 (echo reply), else accept
            (0x28, 0, 0, 4),          # ldh [4]            identifier
            (0x15, 0, 1, ident),      # jeq #ident, accept, else drop
            accept, drop,
        ]
    code = b"".join(struct.pack("=HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(code)
    fprog = struct.pack("=HxxxxxxQ" if struct.calcsize("P") == 8 else "=HxxI", len(program),
                        ctypes.addressof(buffer))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError:
        pass


async def _writable(loop: asyncio.AbstractEventLoop, ch: _Channel) -> None:
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_writer(ch.fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_writer(ch.fd)


_PINGERS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pinger]" = weakref.WeakKeyDictionary()


def pinger() -> Pinger:
    """The running event loop's shared Pinger (created on first use, closed with the loop)."""
    loop = asyncio.get_running_loop()
    found = _PINGERS.get(loop)
    if found is None or found._closed:
        found = _PINGERS[loop] = Pinger()
        if found.engine == "c":
            log.info("ICMP engine: the C loops (netwatch/net/_echo.c)")
        else:
            log.log(logging.WARNING if _C_ENGINE is None else logging.INFO,
                    "ICMP engine: the Python loops (%s); each echo costs about 3x the CPU of the C loops",
                    f"set by ${ENGINE_ENV}" if _C_ENGINE is not None else
                    "the C loops were not built: install gcc, libc6-dev and python3-dev, then reinstall")
        weakref.finalize(loop, _close_sockets, found)
    return found


def _close_sockets(p: Pinger) -> None:
    for ch in p._channels.values():
        ch.sock.close()
    p._closed = True


async def ping_many(addresses: Iterable[str], count: int = 1, interval_seconds: float = 0.0,
                    timeout_seconds: float = 1.0, payload_size_bytes: int = 56) -> dict[str, PingStats]:
    """Echo each IP address `count` times over the loop's shared sockets; see Pinger.ping_many."""
    return await pinger().ping_many(addresses, count, interval_seconds, timeout_seconds, payload_size_bytes)


def ping_soon(address: str, count: int = 1, interval_seconds: float = 0.0, timeout_seconds: float = 1.0,
              payload_size_bytes: int = 56, window_seconds: float = 0.0) -> asyncio.Future[PingStats]:
    """Echo one address in the loop's next batch; see Pinger.ping_soon."""
    return pinger().ping_soon(address, count, interval_seconds, timeout_seconds, payload_size_bytes,
                              window_seconds)
