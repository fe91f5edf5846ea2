"""SNMPv3 (USM) GET and GETBULK walks on pysnmp 7, one pysnmp engine per agent.

pysnmp keeps what it discovered about an agent (its snmpEngineID, boots and time) inside the
SnmpEngine and never forgets it: after a device is replaced or reset, or snmpd restarts with a new
engineID, every request was silently dropped as a timeout until netwatch restarted. So each agent
gets its own SnmpEngine, dropped and rediscovered after a timeout or a notInTimeWindow /
unknownEngineID report (RFC 3414 section 4: a manager re-discovers on those).
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from typing import Any, Sequence

from pysnmp.hlapi.v3arch import asyncio as hl
from pysnmp.proto import errind, rfc1902

from netwatch.net.snmp import ber
from netwatch.net.snmp.client import MAX_WALK_ANSWER_BYTES, MAX_WALK_REQUESTS, SnmpError
from netwatch.net.snmp.oids import Oid

AUTH_PROTOCOLS: dict[str, Any] = {
    "none": hl.usmNoAuthProtocol,
    "MD5": hl.usmHMACMD5AuthProtocol,
    "SHA": hl.usmHMACSHAAuthProtocol,
    "SHA-224": hl.usmHMAC128SHA224AuthProtocol,
    "SHA-256": hl.usmHMAC192SHA256AuthProtocol,
    "SHA-384": hl.usmHMAC256SHA384AuthProtocol,
    "SHA-512": hl.usmHMAC384SHA512AuthProtocol,
}
PRIV_PROTOCOLS: dict[str, Any] = {
    "none": hl.usmNoPrivProtocol,
    "DES": hl.usmDESPrivProtocol,
    "3DES": hl.usm3DESEDEPrivProtocol,
    "AES": hl.usmAesCfb128Protocol,
    "AES-192": hl.usmAesCfb192Protocol,
    "AES-256": hl.usmAesCfb256Protocol,
}
INSECURE_AUTH = frozenset({"none", "MD5"})
INSECURE_PRIV = frozenset({"none", "DES", "3DES"})

# A USM report (usmStats*) or a local USM failure means credentials/keys are wrong, not the network.
_AUTH_ERRORS = (errind.UnknownUserName, errind.WrongDigest, errind.DecryptionError,
                errind.UnsupportedSecurityLevel, errind.UnknownSecurityName, errind.AuthenticationError,
                errind.AuthenticationFailure)
# What the agent says when it no longer knows us as we know it: discover it again.
_REDISCOVER = (errind.NotInTimeWindow, errind.UnknownEngineID, errind.EngineIDMismatch)
# error-status values that mean access control refused the user (VACM), e.g. a noAuthNoPriv request
# for a user the agent only serves with privacy: credentials, not the device, are wrong.
_ACCESS_STATUS = frozenset({"authorizationError", "noAccess"})


@dataclass(frozen=True)
class V3Agent:
    host: str
    user: str
    auth_protocol: str = "SHA-256"
    auth_key: str = ""
    priv_protocol: str = "AES"
    priv_key: str = ""
    context: str = ""
    port: int = 161
    timeout_seconds: float = 5.0
    retries: int = 1
    bulk_varbinds: int = 96

    def __repr__(self) -> str:   # keys must never reach logs
        return f"V3Agent({self.host}:{self.port}, user={self.user!r})"


class _Rediscover(Exception):
    """The agent reported notInTimeWindow / unknownEngineID: what we discovered about it is stale."""


def _value(v: Any) -> tuple[int, ber.Value]:
    t = v.tagSet[-1]
    tag = t.tagClass | t.tagFormat | t.tagId
    if tag in ber.EXCEPTIONS or tag == ber.NULL:
        return tag, None
    if tag in (ber.OCTET_STRING, ber.OPAQUE, ber.IP_ADDRESS):
        return tag, v.asOctets()
    if tag == ber.OBJECT_ID:
        return tag, tuple(v)
    return tag, int(v)


class V3Engine:
    """The v3 agents of one event loop: a pysnmp SnmpEngine each, with what was discovered about it."""

    def __init__(self) -> None:
        self._engines: dict[tuple[str, int], Any] = {}
        self._targets: dict[tuple[str, int, float, int], Any] = {}
        self._auth: dict[V3Agent, Any] = {}
        self.rediscoveries_total = 0

    def close(self) -> None:
        for snmp in self._engines.values():
            snmp.close_dispatcher()
        self._engines.clear()

    def _snmp(self, agent: V3Agent) -> Any:
        key = (agent.host, agent.port)
        snmp = self._engines.get(key)
        if snmp is None:
            snmp = hl.SnmpEngine()
            self._engines[key] = snmp
        return snmp

    def forget(self, agent: V3Agent) -> None:
        """Drop what was discovered about the agent; the next request discovers it again."""
        snmp = self._engines.pop((agent.host, agent.port), None)
        if snmp is not None:
            self.rediscoveries_total += 1
            snmp.close_dispatcher()
        for key in [k for k in self._targets if k[:2] == (agent.host, agent.port)]:
            del self._targets[key]

    async def _target(self, agent: V3Agent) -> Any:
        per_try = agent.timeout_seconds / (agent.retries + 1)
        key = (agent.host, agent.port, per_try, agent.retries)
        target = self._targets.get(key)
        if target is None:
            try:
                target = await hl.UdpTransportTarget.create((agent.host, agent.port), timeout=per_try,
                                                            retries=agent.retries)
            except Exception as exc:   # pysnmp wraps resolver failures in its own error type
                raise SnmpError("dns", f"cannot resolve {agent.host!r}: {exc.__class__.__name__}") from None
            self._targets[key] = target
        return target

    def _user(self, agent: V3Agent) -> Any:
        auth = self._auth.get(agent)
        if auth is None:
            auth = hl.UsmUserData(
                agent.user,
                authKey=agent.auth_key or None, privKey=agent.priv_key or None,
                authProtocol=AUTH_PROTOCOLS[agent.auth_protocol],
                privProtocol=PRIV_PROTOCOLS[agent.priv_protocol])
            self._auth[agent] = auth
        return auth

    async def _call(self, agent: V3Agent, deadline: float, bulk: int, oids: Sequence[Oid]) -> list[tuple[Oid, int, ber.Value]]:
        try:
            return await self._call_once(agent, deadline, bulk, oids)
        except _Rediscover:
            self.forget(agent)
            return await self._call_once(agent, deadline, bulk, oids)   # one more try, within the deadline
        except SnmpError as exc:
            if exc.error == "timeout":
                self.forget(agent)   # a reset device answers nothing until it is discovered again
            raise

    async def _call_once(self, agent: V3Agent, deadline: float, bulk: int, oids: Sequence[Oid]
                         ) -> list[tuple[Oid, int, ber.Value]]:
        loop = asyncio.get_running_loop()
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise SnmpError("timeout", f"no SNMP answer from {agent.host}:{agent.port}")
        target = await self._target(agent)
        binds = [hl.ObjectType(hl.ObjectIdentity(rfc1902.ObjectName(o))) for o in oids]
        ctx = hl.ContextData(contextName=agent.context)
        try:
            if bulk:
                coro = hl.bulk_cmd(self._snmp(agent), self._user(agent), target, ctx, 0, bulk, *binds, lookupMib=False)
            else:
                coro = hl.get_cmd(self._snmp(agent), self._user(agent), target, ctx, *binds, lookupMib=False)
            error_indication, error_status, error_index, var_binds = await asyncio.wait_for(coro, remaining)
        except asyncio.TimeoutError:
            raise SnmpError("timeout", f"no SNMP answer from {agent.host}:{agent.port}") from None
        if error_indication:
            if isinstance(error_indication, errind.RequestTimedOut):
                raise SnmpError("timeout", f"no SNMP answer from {agent.host}:{agent.port}")
            if isinstance(error_indication, _AUTH_ERRORS):
                raise SnmpError("snmp_auth", f"SNMPv3 user {agent.user!r} refused: {error_indication}")
            if isinstance(error_indication, _REDISCOVER):
                raise _Rediscover(str(error_indication))
            raise SnmpError("protocol", f"SNMPv3 error: {error_indication}")
        if error_status and error_status.prettyPrint() in _ACCESS_STATUS:
            raise SnmpError("snmp_auth", f"agent {agent.host}:{agent.port} refused user {agent.user!r} "
                                         f"at this security level: {error_status.prettyPrint()}")
        if error_status:
            raise SnmpError("protocol", f"agent {agent.host}:{agent.port} answered {error_status.prettyPrint()}")
        out = []
        for vb in var_binds:
            oid, val = vb[0], vb[1]
            tag, value = _value(val)
            out.append((tuple(oid), tag, value))
        return out

    async def get(self, agent: V3Agent, oids: Sequence[Oid], deadline: float | None = None
                  ) -> dict[Oid, tuple[int, ber.Value]]:
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + agent.timeout_seconds
        vbs = await self._call(agent, deadline, 0, oids)
        if len(vbs) != len(oids):
            raise SnmpError("protocol", f"asked for {len(oids)} values, got {len(vbs)}")
        return {oid: (tag, value) for oid, tag, value in vbs}

    async def walk_with_next(self, agent: V3Agent, nexts: Sequence[Oid], columns: Sequence[Oid],
                             deadline: float | None = None, rows_hint: int = 0
                             ) -> tuple[dict[Oid, tuple[int, ber.Value]], dict[Oid, dict[Oid, tuple[int, ber.Value]]]]:
        """Same contract as client.Engine.walk_with_next: `nexts` are scalar objects (read as .0);
        `rows_hint` is accepted and not used (pysnmp sizes its own walk)."""
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + agent.timeout_seconds
        got, table = await asyncio.gather(self.get(agent, [n + (0,) for n in nexts], deadline),
                                          self.walk(agent, columns, deadline))
        return {n: got[n + (0,)] for n in nexts}, table

    async def walk(self, agent: V3Agent, columns: Sequence[Oid], deadline: float | None = None
                   ) -> dict[Oid, dict[Oid, tuple[int, ber.Value]]]:
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + agent.timeout_seconds
        out: dict[Oid, dict[Oid, tuple[int, ber.Value]]] = {c: {} for c in columns}
        active = list(columns)
        cursor = {c: c for c in columns}
        rows = 0
        for _ in range(MAX_WALK_REQUESTS):
            if not active:
                return out
            reps = max(1, agent.bulk_varbinds // len(active))
            vbs = await self._call(agent, deadline, reps, [cursor[c] for c in active])
            if not vbs:
                raise SnmpError("protocol", "empty GETBULK answer")
            width = len(active)
            done: set[Oid] = set()
            for n, (oid, tag, value) in enumerate(vbs):
                col = active[n % width]
                if col in done:
                    continue
                if tag == ber.END_OF_MIB_VIEW or oid[:len(col)] != col:
                    done.add(col)
                    continue
                if oid <= cursor[col]:
                    raise SnmpError("protocol", "agent returned OIDs out of order")
                cursor[col] = oid
                out[col][oid[len(col):]] = (tag, value)
                # what this binding weighs on the wire: OID, value and ~8 bytes of framing
                rows += len(oid) + 8 + (len(value) if isinstance(value, (bytes, tuple)) else 8)
            if rows > MAX_WALK_ANSWER_BYTES:
                raise SnmpError("protocol", f"table walk passed {MAX_WALK_ANSWER_BYTES >> 20} MiB of answers; "
                                            "netwatch stops there to bound its memory")
            active = [c for c in active if c not in done]
        raise SnmpError("protocol", "table walk did not finish")


_engines: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, V3Engine]" = weakref.WeakKeyDictionary()


def engine() -> V3Engine:
    """The V3Engine of the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    eng = _engines.get(loop)
    if eng is None:
        eng = V3Engine()
        _engines[loop] = eng
    return eng
