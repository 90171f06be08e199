"""Units of large budgets that this process took from Redis ahead of use.

One trip takes up to 1 % of a budget (at most LEASE_MAX units) for this process, which
spends them locally for up to LEASE_SECONDS. A budget is never exceeded across processes
(units are counted when leased); near its end a process may refuse while another still
holds a few units, and a budget of under 200 units is spent one unit per trip, exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from limits import RateLimitItem

from infra.ratelimit.policies import Policy
from infra.ratelimit.verdict import Spent

LEASE_SHARE = 0.01
"""A process takes up to this share of a budget from Redis at once, and spends it locally."""
LEASE_MAX = 100
LEASE_SECONDS = 1.0
"""Units leased and not spent within this time (or the window) are given up, not returned."""
LEASES_KEPT = 100_000


def lease_size(limit: RateLimitItem) -> int:
    """Units one process takes from a budget per round trip: 1 for small budgets (exact)."""
    return max(1, min(LEASE_MAX, int(limit.amount * LEASE_SHARE)))


@dataclass
class Lease:
    """Units of one budget this process holds, and what Redis said when it granted them."""

    left: int
    until: float
    remaining: int
    resets_at: float
    size: int
    """The units a trip takes: at half of them left, the next block is fetched ahead."""


class Leases:
    """The budgets' units this process took from Redis ahead of use, spent without a trip."""

    def __init__(self) -> None:
        self._held: dict[str, Lease] = {}

    def spend(self, key: str, policy: Policy, now: float) -> Spent | None:
        """One unit from a live lease on key, or None if there is none."""
        lease = self._held.get(key)
        if lease is None or lease.left <= 0 or now >= lease.until:
            return None
        lease.left -= 1
        reset = max(0, math.ceil(lease.resets_at - now))
        return Spent(policy, True, lease.remaining + lease.left, reset)

    def running_low(self, key: str) -> bool:
        """Whether the lease on key is down to half its block (time to fetch the next)."""
        lease = self._held.get(key)
        return lease is not None and lease.left <= lease.size // 2

    def keep(self, key: str, spent: Spent | None, granted: int, now: float) -> None:
        """Hold the units Redis granted beyond the one spent now."""
        if spent is None or granted <= 1:
            self._held.pop(key, None)
            return
        if len(self._held) >= LEASES_KEPT:
            self._held = {k: v for k, v in self._held.items() if now < v.until and v.left}
            if len(self._held) >= LEASES_KEPT:
                self._held.clear()
        until = now + min(LEASE_SECONDS, spent.reset_seconds)
        held = granted - 1
        live = self._held.get(key)
        if live is not None and now < live.until and _same_window(live, spent.reset_seconds, now):
            held += live.left  # units another trip leased meanwhile stay in hand
        self._held[key] = Lease(
            held, until, spent.remaining - (granted - 1), now + spent.reset_seconds, granted
        )

    def top_up(self, key: str, granted: int, remaining: int, reset: int, now: float) -> None:
        """Add a block fetched ahead to the lease on key (Redis's reply to the fetch)."""
        lease = self._held.get(key)
        if granted <= 0 or lease is None:
            return
        if now >= lease.until or not _same_window(lease, reset, now):
            lease.left = 0  # units counted in a past window are not spent in this one
        lease.left += granted
        lease.until = now + min(LEASE_SECONDS, reset)
        lease.remaining = remaining
        lease.resets_at = now + reset


def _same_window(lease: Lease, reset_seconds: int, now: float) -> bool:
    """Whether a reply saying the window resets in reset_seconds is about the lease's window."""
    return abs(now + reset_seconds - lease.resets_at) <= 1
