"""Deciding alone while the shared store does not answer.

Each process then spends the same budgets, times a scale, in an in-memory store, and PINGs
the shared one in the background at most every recheck seconds until it is back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import replace

import structlog
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, Storage

from infra.ratelimit.metrics import RateLimitMetrics
from infra.ratelimit.policies import Policy
from infra.ratelimit.redis_store import STORE_ERRORS
from infra.ratelimit.strategies import STRATEGIES, spend_each
from infra.ratelimit.verdict import Verdict

log = structlog.get_logger()


class Fallback:
    """Whether the shared store is up, and the budgets this process keeps while it is down."""

    def __init__(
        self,
        storage: Storage,
        strategy: str,
        budgets: Mapping[str, tuple[Policy, ...]],
        *,
        scale: float,
        timeout: float,
        recheck: float,
        metrics: RateLimitMetrics,
    ) -> None:
        self._storage = storage
        self._local = STRATEGIES[strategy](MemoryStorage())
        self._budgets = {
            name: tuple(replace(p, limit=_scaled(p.limit, scale)) for p in found)
            for name, found in budgets.items()
        }
        self._timeout = timeout
        self._recheck = recheck
        self._metrics = metrics
        self._up = True
        self._next_probe = 0.0
        self._probe: asyncio.Task[None] | None = None
        metrics.store_up.set(1)

    @property
    def up(self) -> bool:
        """Whether the shared store is in use (False while this process decides alone)."""
        return self._up

    async def spend(self, category: str, principal: str | None, ip: str) -> Verdict:
        """Spend the request's budgets in memory, counted as decided alone."""
        self._metrics.fallback.inc()
        return await spend_each(
            self._local, self._budgets.get(category, ()), category, principal, ip
        )

    def went_down(self, error: BaseException) -> None:
        """The shared store failed: decide alone until a probe finds it back."""
        if self._up:
            self._up = False
            self._next_probe = time.monotonic() + self._recheck
            self._metrics.store_up.set(0)
            log.warning("rate_limit_store_down", error=repr(error), fallback="memory")

    def maybe_probe(self) -> None:
        """Check the shared store in the background, if the last check is recheck seconds old."""
        now = time.monotonic()
        if now >= self._next_probe and (self._probe is None or self._probe.done()):
            self._next_probe = now + self._recheck
            self._probe = asyncio.create_task(self._check())

    def stop_probing(self) -> None:
        """Cancel a check in flight."""
        if self._probe is not None:
            self._probe.cancel()

    async def _check(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                answered = await self._storage.check()
        except STORE_ERRORS:
            answered = False
        if answered and not self._up:
            self._up = True
            self._metrics.store_up.set(1)
            log.info("rate_limit_store_up")


def _scaled(limit: RateLimitItem, scale: float) -> RateLimitItem:
    if scale == 1:
        return limit
    return type(limit)(max(1, int(limit.amount * scale)), limit.multiples, limit.namespace)
