"""One asyncio UDP transport per event loop for SNMP v1/v2c: request-id matching, retries, bulk walks."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import socket
import weakref
from dataclasses import dataclass
from typing import Any, Sequence

from netwatch.net.resolver import resolver
from netwatch.net.snmp import ber
from netwatch.net.snmp.oids import Oid

RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
# A walk is bounded by memory, not by a cell count: chassis switches and Wi-Fi controllers have thousands of
# ifTable rows. The answers' bytes stand for the table's size in memory (each cell keeps its value);
# bench/snmp_walk_bench.py measures the resident cost per answer byte. 16 MiB of answers is ~40,000
# interfaces of a poll's columns, far beyond any real device, and bounds a hostile agent.
MAX_WALK_ANSWER_BYTES = 16 << 20
# Every answer must move every column forward (checked), so the memory bound also ends a walk; this only
# stops an agent that answers one cell per request for ever (it costs a request per cell).
MAX_WALK_REQUESTS = 100_000


class SnmpError(Exception):
    """An expected failure of one agent; `error` is the netwatch error class."""

    def __init__(self, error: str, detail: str) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail


@dataclass(frozen=True)
class Agent:
    """Where and how to ask: address, v1/v2c community, and the per-agent timing."""

    host: str
    port: int = 161
    community: bytes = b"public"
    version: int = ber.V2C
    timeout_seconds: float = 5.0   # the whole operation (all requests and retries) must fit in this
    retries: int = 1
    # repeated varbinds asked per GETBULK (non-repeaters come on top): net-snmp answers at most 100 by default
    # (maxGetbulkResponses) and truncates a bigger ask; other agents truncate to their message size.
    bulk_varbinds: int = 100

    def __repr__(self) -> str:     # the community is a secret
        return f"Agent({self.host}:{self.port}, v{'1' if self.version == ber.V1 else '2c'})"


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, engine: "Engine") -> None:
        self.engine = engine

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.engine._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable etc. arrive without a request id; the request simply times out.
        self.engine.icmp_errors += 1


class Engine:
    """Shared by all v1/v2c agents of one event loop; keeps per-agent run-time state in `state`."""

    def __init__(self) -> None:
        self._transports: dict[int, asyncio.DatagramTransport] = {}
        self._pending: dict[int, tuple[asyncio.Future[ber.Message | None], tuple[str, int], bytes]] = {}
        self._next_id = random.randrange(1, 2**30)
        self._opening: dict[int, asyncio.Lock] = {}
        self.state: dict[Any, Any] = {}     # previous samples per agent (the probe owns the values)
        self.sent = 0
        self.received = 0
        self.unmatched = 0                  # late answers, strays, answers from the wrong address
        self.malformed = 0
        # peer -> the last malformed answer from it whose request id could not be read: a request to that
        # peer that then times out says what it got instead of "no SNMP answer"
        self._garbled: dict[tuple[str, int], SnmpError] = {}
        self.icmp_errors = 0
        self.receive_buffer_bytes = 0

    async def _transport(self, family: int) -> asyncio.DatagramTransport:
        tr = self._transports.get(family)
        if tr is not None and not tr.is_closing():
            return tr
        lock = self._opening.setdefault(family, asyncio.Lock())
        async with lock:
            tr = self._transports.get(family)
            if tr is not None and not tr.is_closing():
                return tr
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            self.receive_buffer_bytes = _size_receive_buffer(sock)
            sock.bind(("0.0.0.0", 0) if family == socket.AF_INET else ("::", 0))
            loop = asyncio.get_running_loop()
            tr, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
            self._transports[family] = tr
            return tr

    def close(self) -> None:
        for tr in self._transports.values():
            tr.close()
        self._transports.clear()
        for fut, _, _ in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()

    def _request_id(self) -> int:
        rid = self._next_id
        self._next_id = rid + 1 if rid < 2**31 - 2 else 1
        return rid

    def _on_datagram(self, data: bytes, addr: Any) -> None:
        self.received += 1
        try:
            msg = ber.decode_head(data)     # the bindings are decoded by whoever asked
        except ber.BerError as exc:
            # Malformed: fail the request it belongs to at once if the sender and id are readable.
            self.malformed += 1
            error = malformed(exc, addr)
            peeked = ber.peek_request_id(data)
            entry = self._pending.get(peeked[0]) if peeked is not None else None
            if entry is not None and _same_peer(entry[1], addr) and peeked[1] == entry[2]:  # type: ignore[index]
                if not entry[0].done():
                    entry[0].set_exception(error)
                return
            if len(self._garbled) >= 1024:
                self._garbled.clear()
            self._garbled[(addr[0], addr[1])] = error
            return
        entry = self._pending.get(msg.request_id)
        if entry is None or msg.pdu_tag != ber.RESPONSE or not _same_peer(entry[1], addr) \
                or msg.community != entry[2]:
            self.unmatched += 1
            return
        if not entry[0].done():
            entry[0].set_result(msg)

    async def _route(self, agent: Agent) -> tuple[asyncio.DatagramTransport, tuple[str, int]]:
        """The transport and address to reach an agent (resolved, the socket opened, on first use)."""
        hit = _resolved.get((agent.host, agent.port))
        if hit is None:
            try:
                hit = await _resolve(agent.host, agent.port)
            except OSError as exc:
                raise SnmpError("dns", f"cannot resolve {agent.host!r}: {exc}") from None
        family, addr = hit
        tr = self._transports.get(family)
        if tr is None or tr.is_closing():
            tr = await self._transport(family)
        return tr, addr

    async def request(self, agent: Agent, pdu_tag: int, oids: Sequence[Oid], deadline: float,
                      max_repetitions: int = 0, non_repeaters: int = 0) -> ber.Message:
        """Send one request with retries until `deadline` (loop time); return the response message."""
        loop = asyncio.get_running_loop()
        tr, addr = await self._route(agent)
        rid = self._request_id()
        packet = ber.encode_request(agent.version, agent.community, pdu_tag, rid, oids, non_repeaters,
                                    max_repetitions)
        # One future and one timer per attempt (not wait_for + shield: this runs ~5 times per device poll
        # and their tasks and callbacks cost more than decoding an answer). A timer ends the attempt with None.
        garbled = self._garbled.get(addr) if self._garbled else None
        try:
            attempts = agent.retries + 1
            for attempt in range(attempts):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                fut: asyncio.Future[ber.Message | None] = loop.create_future()
                self._pending[rid] = (fut, addr, agent.community)   # a late answer to an earlier try still counts
                tr.sendto(packet, addr)
                self.sent += 1
                # share what is left among the remaining attempts so the last retry still fits
                timer = loop.call_later(remaining / (attempts - attempt), _expire, fut)
                try:
                    msg = await fut
                finally:
                    timer.cancel()
                if msg is not None:
                    return msg
        finally:
            self._pending.pop(rid, None)
        # a malformed datagram from this agent during the request, unreadable up to its request id: most
        # likely the answer, cut short
        got = self._garbled.pop(addr, None) if self._garbled else None
        if got is not None and got is not garbled:
            raise got
        raise SnmpError("timeout", f"no SNMP answer from {agent.host}:{agent.port}")

    async def get(self, agent: Agent, oids: Sequence[Oid], deadline: float | None = None) -> dict[Oid, tuple[int, ber.Value]]:
        """GET many OIDs in one request; missing ones come back with an exception tag."""
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + agent.timeout_seconds
        msg = await self.request(agent, ber.GET, oids, deadline)
        _check_status(msg, agent)
        vbs = self._varbinds(msg, agent)
        if len(vbs) != len(oids):
            raise SnmpError("protocol", f"asked for {len(oids)} values, got {len(vbs)}")
        return {oid: (tag, value) for oid, tag, value in vbs}

    def _varbinds(self, msg: ber.Message, agent: Agent) -> list[ber.VarBind]:
        try:
            return ber.decode_varbinds(msg)
        except ber.BerError as exc:
            self.malformed += 1
            raise malformed(exc, (agent.host, agent.port)) from None

    async def walk(self, agent: Agent, columns: Sequence[Oid], deadline: float | None = None
                   ) -> dict[Oid, dict[Oid, tuple[int, ber.Value]]]:
        """GETBULK-walk several table columns at once; returns column -> index -> (tag, value)."""
        return (await self.walk_with_next(agent, (), columns, deadline))[1]

    async def walk_with_next(self, agent: Agent, nexts: Sequence[Oid], columns: Sequence[Oid],
                             deadline: float | None = None, rows_hint: int = 0
                             ) -> tuple[dict[Oid, tuple[int, ber.Value]], dict[Oid, dict[Oid, tuple[int, ber.Value]]]]:
        """Walk `columns`; the first request also carries `nexts` as GETBULK non-repeaters (one GETNEXT
        each), which saves a request per poll for scalars: ask sysUpTime (no .0) to get sysUpTime.0.
        `rows_hint` (rows the table had last time) sizes the requests so that the one reading the last
        rows also sees the end of every column, instead of a whole extra request past the end.
        Returns ({asked oid: (oid's successor tag, value)} for nexts, the table)."""
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + agent.timeout_seconds
        if agent.version == ber.V1:
            got = await self._walk_v1(agent, nexts, deadline) if nexts else {}
            firsts = {n: next(iter(got[n].values()), (ber.NO_SUCH_OBJECT, None)) for n in nexts}
            return firsts, await self._walk_v1(agent, columns, deadline)
        if not columns and not nexts:
            return {}, {}
        tr, addr = await self._route(agent)
        walk = _BulkWalk(self, loop, agent, tr, addr, nexts, columns, deadline, rows_hint)
        try:
            walk.send_next()
            return await walk.future
        finally:
            walk.stop()     # cancelled from outside: no request of it stays pending

    async def _walk_v1(self, agent: Agent, columns: Sequence[Oid], deadline: float
                       ) -> dict[Oid, dict[Oid, tuple[int, ber.Value]]]:
        out: dict[Oid, dict[Oid, tuple[int, ber.Value]]] = {c: {} for c in columns}
        active = list(columns)
        cursor = {c: c for c in columns}
        answer_bytes = 0
        for _ in range(MAX_WALK_REQUESTS):
            if not active:
                return out
            msg = await self.request(agent, ber.GET_NEXT, [cursor[c] for c in active], deadline)
            answer_bytes += len(msg.raw)
            _check_size(answer_bytes, agent)
            if msg.error_status == 2:   # noSuchName: v1's end of MIB for one of the columns
                idx = msg.error_index - 1
                if not 0 <= idx < len(active):
                    raise SnmpError("protocol", "noSuchName with a bad error-index")
                active.pop(idx)
                continue
            _check_status(msg, agent)
            vbs = self._varbinds(msg, agent)
            if len(vbs) != len(active):
                raise SnmpError("protocol", "GETNEXT answer does not fit the request")
            still = []
            for col, (oid, tag, value) in zip(active, vbs):
                if oid[:len(col)] != col:
                    continue
                if oid <= cursor[col]:
                    raise SnmpError("protocol", "agent returned OIDs out of order")
                cursor[col] = oid
                out[col][oid[len(col):]] = (tag, value)
                still.append(col)
            active = still
        raise SnmpError("protocol", "table walk did not finish")


class _BulkWalk:
    """A v2c GETBULK walk driven by the engine's datagram callback: an answer is decoded and the next request
    sent from `set_result` itself, so the polling task wakes once per walk, not once per request (each wake-up
    is a loop iteration, a task step and a future: ~1/5 of the asyncio cost of a round trip).

    Stands in for the per-attempt future of `Engine.request` in `Engine._pending` (done / set_result /
    set_exception / cancel), with the same retries, timer shares, late answers to an earlier try, garbled
    answers and errors as `request` followed by the walk loop that was here."""

    def __init__(self, engine: Engine, loop: asyncio.AbstractEventLoop, agent: Agent, tr: asyncio.DatagramTransport,
                 addr: tuple[str, int], nexts: Sequence[Oid], columns: Sequence[Oid], deadline: float,
                 rows_hint: int) -> None:
        self.engine, self.loop, self.agent, self.tr, self.addr = engine, loop, agent, tr, addr
        self.deadline, self.rows_hint = deadline, rows_hint
        self.future: asyncio.Future[tuple[dict[Oid, tuple[int, ber.Value]],
                                          dict[Oid, dict[Oid, tuple[int, ber.Value]]]]] = loop.create_future()
        self.out: dict[Oid, dict[Oid, tuple[int, ber.Value]]] = {c: {} for c in columns}
        self.scalars: dict[Oid, tuple[int, ber.Value]] = {}
        # the columns still walked, with their encoded prefixes, their cells and the index of the last row
        # read, as parallel lists: rebuilt only when a column ends, not per request
        self.active = list(columns)
        self.prefixes = [ber.oid_content(c) for c in self.active]
        self.cells = [self.out[c] for c in self.active]
        self.cursors: list[Oid] = [()] * len(self.active)
        self.first = list(nexts)
        self.answer_bytes = 0
        self.requests = 0
        self.reps = 0
        # the request in flight
        self.rid = 0
        self.packet = b""
        self.attempt = 0
        self.waiting = False
        self.timer: asyncio.TimerHandle | None = None
        self.garbled: SnmpError | None = None

    # ---- the future-like face Engine._on_datagram and Engine.close use

    def done(self) -> bool:
        return not self.waiting

    def set_result(self, msg: ber.Message) -> None:
        self._settle()
        try:
            self._answer(msg)
        except BaseException as exc:    # noqa: B036 - handed to the polling task, as `request` raised it there
            self._fail(exc)

    def set_exception(self, exc: BaseException) -> None:
        self._settle()
        self._fail(exc)

    def cancel(self) -> None:
        # Engine.close: it clears _pending itself (while iterating it, so not popped here)
        self.waiting = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.future.cancel()

    # ---- the walk

    def send_next(self) -> None:
        """Ask for the next rows, or end the walk when no column and no scalar is left."""
        if self.requests >= MAX_WALK_REQUESTS:     # checked first: the last answer allowed ends the walk unread
            raise SnmpError("protocol", "table walk did not finish")
        width = len(self.active)
        if not width and not self.first:
            if not self.future.done():
                self.future.set_result((self.scalars, self.out))
            return
        self.requests += 1
        agent = self.agent
        reps = max(1, agent.bulk_varbinds // max(1, width))
        if self.rows_hint and width:
            missing = self.rows_hint + 1 - min(map(len, self.cells))   # + 1: the row past the end
            if missing > 0:
                reps = min(reps, missing)
        self.reps = reps
        self.rid = self.engine._request_id()
        self.packet = ber.encode_request(agent.version, agent.community, ber.GET_BULK, self.rid,
                                         self.first + [c + i for c, i in zip(self.active, self.cursors)],
                                         len(self.first), reps)
        self.garbled = self.engine._garbled.get(self.addr) if self.engine._garbled else None
        self.attempt = 0
        self._try()

    def _try(self) -> None:
        """Send the request again if attempts and time are left, else fail it as `request` does."""
        agent, engine = self.agent, self.engine
        attempts = agent.retries + 1
        remaining = self.deadline - self.loop.time()
        if self.attempt < attempts and remaining > 0:
            engine._pending[self.rid] = (self, self.addr, agent.community)  # type: ignore[assignment]
            self.waiting = True
            self.tr.sendto(self.packet, self.addr)
            engine.sent += 1
            # share what is left among the remaining attempts so the last retry still fits
            self.timer = self.loop.call_later(remaining / (attempts - self.attempt), self._expired)
            self.attempt += 1
            return
        self._settle()
        # a malformed datagram from this agent during the request, unreadable up to its request id: most
        # likely the answer, cut short
        got = engine._garbled.pop(self.addr, None) if engine._garbled else None
        if got is not None and got is not self.garbled:
            self._fail(got)
        else:
            self._fail(SnmpError("timeout", f"no SNMP answer from {agent.host}:{agent.port}"))

    def _expired(self) -> None:
        if self.waiting:
            self.timer = None
            try:
                self._try()
            except BaseException as exc:    # noqa: B036 - handed to the polling task
                self._settle()
                self._fail(exc)

    def _answer(self, msg: ber.Message) -> None:
        agent = self.agent
        _check_status(msg, agent)
        first, width = self.first, len(self.active)
        try:
            # moves cursors forward in place
            heads, ended, count = ber.decode_columns(msg, len(first), self.prefixes, self.cursors, self.cells)
        except ber.BerError as exc:
            self.engine.malformed += 1
            raise malformed(exc, (agent.host, agent.port)) from None
        for asked, (oid, tag, value) in zip(first, heads):
            # a GETNEXT that left the object (no .0 instance) means the scalar is absent
            self.scalars[asked] = (tag, value) if oid == asked + (0,) else (ber.NO_SUCH_OBJECT, None)
        self.first = []
        if width:
            if not count or count > width * self.reps:
                raise SnmpError("protocol", "GETBULK answer does not fit the request")
            self.answer_bytes += len(msg.raw)
            _check_size(self.answer_bytes, agent)
            if True in ended:
                keep = [n for n, gone in enumerate(ended) if not gone]
                self.active, self.prefixes = [self.active[n] for n in keep], [self.prefixes[n] for n in keep]
                self.cells, self.cursors = [self.cells[n] for n in keep], [self.cursors[n] for n in keep]
        self.send_next()

    def _settle(self) -> None:
        """The request in flight is over: no timer, not pending."""
        self.waiting = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.engine._pending.pop(self.rid, None)

    def _fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)

    def stop(self) -> None:
        if self.waiting:
            self._settle()


def _check_size(answer_bytes: int, agent: object) -> None:
    if answer_bytes > MAX_WALK_ANSWER_BYTES:
        raise SnmpError("protocol", f"table walk of {agent!r} passed {MAX_WALK_ANSWER_BYTES >> 20} MiB of answers; "
                                    "netwatch stops there to bound its memory")


def _expire(fut: "asyncio.Future[ber.Message | None]") -> None:
    if not fut.done():
        fut.set_result(None)


def _check_status(msg: ber.Message, agent: Agent) -> None:
    if msg.error_status:
        names = {1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr", 6: "noAccess"}
        name = names.get(msg.error_status, f"error {msg.error_status}")
        raise SnmpError("protocol", f"agent {agent.host}:{agent.port} answered {name}")


def malformed(exc: ber.BerError, peer: Any) -> SnmpError:
    """The `protocol` failure for a bad answer; a cut one says "truncated response" (causes.py words it)."""
    what = "truncated" if isinstance(exc, ber.TruncatedError) else "malformed"
    return SnmpError("protocol", f"{what} response from {peer[0]}:{peer[1]}: {exc}")


def _same_peer(expected: tuple[str, int], got: Any) -> bool:
    return got[0] == expected[0] and got[1] == expected[1]


_resolved: dict[tuple[str, int], tuple[int, tuple[str, int]]] = {}


async def _resolve(host: str, port: int) -> tuple[int, tuple[str, int]]:
    key = (host, port)
    hit = _resolved.get(key)
    if hit is not None:
        return hit
    try:
        ip = ipaddress.ip_address(host)
        result = (socket.AF_INET6 if ip.version == 6 else socket.AF_INET, (str(ip), port))
        _resolved[key] = result
        return result
    except ValueError:
        pass
    infos = await resolver().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    family, _, _, _, sockaddr = infos[0]
    return family, (sockaddr[0], sockaddr[1])   # names are not cached: DNS may move them


def _size_receive_buffer(sock: socket.socket) -> int:
    """Ask for 4 MiB: with hundreds of requests in flight the default buffer drops answers."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) < RECEIVE_BUFFER_BYTES:
            force = getattr(socket, "SO_RCVBUFFORCE", 33)
            sock.setsockopt(socket.SOL_SOCKET, force, RECEIVE_BUFFER_BYTES)  # needs CAP_NET_ADMIN
    except OSError:
        pass
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


_engines: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Engine]" = weakref.WeakKeyDictionary()


def engine() -> Engine:
    """The Engine of the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    eng = _engines.get(loop)
    if eng is None:
        eng = Engine()
        _engines[loop] = eng
    return eng
