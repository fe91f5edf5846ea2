"""Feeds SNMP traps into the daemon: history events, an immediate re-poll on linkDown, reboot pages, counters."""

from __future__ import annotations

import ipaddress
import logging
from typing import TYPE_CHECKING, Callable, Iterator

from prometheus_client.core import CounterMetricFamily, Metric

from netwatch.model import Event
from netwatch.net.snmp.traps import TrapEvent, TrapReceiver

if TYPE_CHECKING:
    from netwatch.config import Config

# (ts, check_id, target_id, event): how a trap reaches history (the recorder's add_event).
RecordEvent = Callable[[float, "str | None", "str | None", Event], None]

# (target_id, received_at, the agent's uptime in the trap): a device said it restarted.
OnReboot = Callable[[str, float, "float | None"], None]

log = logging.getLogger(__name__)

_COUNTERS = ("received", "accepted", "unknown_sender", "bad_community", "v3_rejected", "malformed")
# Traps that say an interface's state changed: poll the device now rather than at its next slot.
_LINK_TRAPS = frozenset({"linkDown", "linkUp"})
_REBOOT_TRAPS = frozenset({"coldStart", "warmStart"})
# A flapping port or a misconfigured device can send thousands of traps a second; history keeps
# events forever, so each sender gets a bucket of this many, refilled at this rate.
TRAP_BURST = 50
TRAP_RATE_PER_SECOND = 5.0
STORM_LOG_SECONDS = 60.0


class TrapFeed:
    def __init__(self, config: Callable[[], "Config"], record_event: RecordEvent,
                 trigger: Callable[[str], None], rebooted: OnReboot = lambda target, at, uptime: None) -> None:
        self.config = config
        self.record_event = record_event
        self.trigger = trigger     # poll a check now (the scheduler's trigger)
        self.rebooted = rebooted   # a coldStart/warmStart: the daemon pages the reboot (once with the poll's)
        self.receiver: TrapReceiver | None = None
        self.rate_limited = 0
        self._buckets: dict[str, tuple[float, float]] = {}     # sender -> (tokens, at)
        self._storm_logged_at: dict[str, float] = {}

    def _allow(self, sender: str, now: float) -> bool:
        tokens, at = self._buckets.get(sender, (float(TRAP_BURST), now))
        tokens = min(float(TRAP_BURST), tokens + max(0.0, now - at) * TRAP_RATE_PER_SECOND)
        allowed = tokens >= 1.0
        self._buckets[sender] = (tokens - 1.0 if allowed else tokens, now)
        return allowed

    async def start(self) -> None:
        settings = self.config().traps
        if settings is None:
            return
        self.receiver = await TrapReceiver(settings, self.senders(), self.on_trap).start()
        log.info("receiving SNMP traps on %s:%d/udp", settings.listen, self.receiver.port)

    async def reload(self) -> None:
        """After a config reload: rebind if the section changed, else just refresh the senders."""
        settings = self.config().traps
        if self.receiver is not None and settings == self.receiver.settings:
            self.receiver.senders = self.senders()
            return
        self.close()
        try:
            await self.start()
        except OSError as exc:
            log.error("cannot receive SNMP traps on %s:%s/udp: %s", settings.listen if settings else "-",
                      settings.port if settings else "-", exc)

    def senders(self) -> dict[str, str]:
        """Trap source address -> target id, for targets whose host is an IP address."""
        out: dict[str, str] = {}
        for t in self.config().targets:
            try:
                out[str(ipaddress.ip_address(t.host))] = t.id
            except ValueError:
                continue
        return out

    def close(self) -> None:
        if self.receiver is not None:
            self.receiver.close()
            self.receiver = None

    def on_trap(self, trap: TrapEvent) -> None:
        if not self._allow(trap.target_id, trap.received_at):
            self.rate_limited += 1
            if trap.received_at - self._storm_logged_at.get(trap.target_id, 0.0) >= STORM_LOG_SECONDS:
                self._storm_logged_at[trap.target_id] = trap.received_at
                log.warning("trap storm from %s: more than %d traps at once; dropping beyond %g/s",
                            trap.target_id, TRAP_BURST, TRAP_RATE_PER_SECOND)
            return
        summary = f"{trap.trap}" + (f" {trap.if_name or trap.if_index}" if trap.if_index is not None else "")
        self.record_event(trap.received_at, None, trap.target_id, Event(
            kind="trap", summary=summary[:200],
            data={"trap": trap.trap, "oid": trap.trap_oid, "sender": trap.sender, "version": trap.version,
                  "if_index": trap.if_index, "if_name": trap.if_name, "varbinds": [list(v) for v in trap.varbinds]}))
        if trap.trap in _REBOOT_TRAPS:
            self.rebooted(trap.target_id, trap.received_at, trap.uptime_seconds)
        if trap.trap in _LINK_TRAPS:
            for check in self.config().checks:
                if check.kind == "snmp" and check.target.id == trap.target_id:
                    self.trigger(check.id)

    def metrics(self) -> Iterator[Metric]:
        family = CounterMetricFamily("netwatch_snmp_traps", "SNMP traps seen by the receiver, by outcome.",
                                     labels=["result"])
        for name in _COUNTERS:
            family.add_metric([name], getattr(self.receiver, name, 0) if self.receiver else 0)
        family.add_metric(["rate_limited"], self.rate_limited)
        yield family
