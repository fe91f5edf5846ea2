"""Lease timing and the self-fencing deadline, on the node's own monotonic clock (pure: time is passed in)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LeaseTiming", "Fence"]


@dataclass(frozen=True)
class LeaseTiming:
    """TTL of a lease in database time, how often it is renewed, and the safety margin of the fence.

    The database sets `expires = now() + ttl` while executing the renew, which is after the node sent
    it. Counting the node's deadline from the moment the renew was SENT (never from when the reply
    arrived) therefore makes the node's deadline come before the database's expiry, whatever the
    network delay; the margin absorbs clock-rate drift and the time a probe or write takes to start.
    """

    ttl_seconds: float = 15.0
    renew_seconds: float = 3.0
    margin_seconds: float = 3.0

    def __post_init__(self) -> None:
        if self.ttl_seconds <= 0 or self.renew_seconds <= 0 or self.margin_seconds < 0:
            raise ValueError("lease_ttl, lease_renew and fence_margin must be positive")
        if self.margin_seconds >= self.ttl_seconds:
            raise ValueError("fence_margin must be shorter than lease_ttl")
        # Two renews may fail in a row (a slow statement, a reconnect) before the node fences itself.
        if 2 * self.renew_seconds > self.ttl_seconds - self.margin_seconds:
            raise ValueError("lease_renew must be at most half of (lease_ttl - fence_margin)")

    @property
    def statement_timeout_seconds(self) -> float:
        """A database call may not outlive the part of the lease a renew is allowed to use."""
        return max(0.5, min(self.renew_seconds, (self.ttl_seconds - self.margin_seconds) / 3))


class Fence:
    """The node's permission to probe and write: valid until TTL - margin after the last good renew.

    Checked before every probe and every write, not only when a database call returns, so a node whose
    database calls hang (a partition) still stops in time.
    """

    def __init__(self, timing: LeaseTiming) -> None:
        self.timing = timing
        self._deadline: float | None = None

    def renewed(self, sent_at_monotonic: float) -> None:
        """A renew that was sent at `sent_at_monotonic` succeeded."""
        deadline = sent_at_monotonic + self.timing.ttl_seconds - self.timing.margin_seconds
        if self._deadline is None or deadline > self._deadline:
            self._deadline = deadline

    def lost(self) -> None:
        """The database said our lease is gone (taken over, or the node was told to stop)."""
        self._deadline = None

    def deadline(self) -> float | None:
        return self._deadline

    def allowed(self, now_monotonic: float) -> bool:
        return self._deadline is not None and now_monotonic < self._deadline

    def left_seconds(self, now_monotonic: float) -> float:
        return max(0.0, self._deadline - now_monotonic) if self._deadline is not None else 0.0

    def may_send(self, now_monotonic: float, channel_timeout_seconds: float) -> bool:
        """The coordinator starts a send only while its lease outlives the channel's timeout."""
        return self.left_seconds(now_monotonic) > channel_timeout_seconds
