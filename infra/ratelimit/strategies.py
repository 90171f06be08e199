"""Budgets spent through the `limits` package, one call per budget.

The moving window always goes this way; so does every strategy in memory, while the shared
store is down.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

from limits.aio.storage import Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.aio.strategies import RateLimiter as Strategy

from infra.ratelimit.policies import Policy, applying
from infra.ratelimit.verdict import Spent, Verdict

STRATEGIES: dict[str, Callable[[Storage], Strategy]] = {
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
    "moving-window": MovingWindowRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
}


async def spend_each(
    strategy: Strategy, budgets: tuple[Policy, ...], category: str, principal: str | None, ip: str
) -> Verdict:
    """Spend one unit of each of budgets that applies to the caller, concurrently."""
    spent = await asyncio.gather(
        *(_spend_one(strategy, p, category, key) for p, key in applying(budgets, principal, ip))
    )
    return Verdict(tuple(spent))


async def _spend_one(strategy: Strategy, policy: Policy, category: str, key: str) -> Spent:
    ids = (category, policy.partition, key)
    allowed = await strategy.hit(policy.limit, *ids)
    stats = await strategy.get_window_stats(policy.limit, *ids)
    remaining = max(0, stats.remaining) if allowed else 0
    return Spent(policy, allowed, remaining, max(0, math.ceil(stats.reset_time - time.time())))
