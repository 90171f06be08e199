"""RateLimiter: spends a request's budgets in the shared store, or alone while it is down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import redis.asyncio
from limits.aio.storage import Storage

from infra.ratelimit.fallback import Fallback
from infra.ratelimit.metrics import DEFAULT_METRICS, RateLimitMetrics
from infra.ratelimit.policies import Policy
from infra.ratelimit.redis_store import SCRIPTED, STORE_ERRORS, ScriptClient, SpendScript
from infra.ratelimit.scripted import ScriptedSpender
from infra.ratelimit.strategies import STRATEGIES, spend_each
from infra.ratelimit.verdict import Verdict


class RateLimiter:
    """Spends requests against their budgets in a shared store, or in memory while it is down.

    Given client (on the same Redis as storage) and a strategy SPEND implements, a request
    spends all its budgets in one script call under key_prefix; otherwise through storage.
    """

    def __init__(
        self,
        storage: Storage,
        budgets: Mapping[str, tuple[Policy, ...]],
        *,
        strategy: str = "sliding-window-counter",
        store_timeout: float = 0.5,
        recheck_seconds: float = 5.0,
        fallback_scale: float = 1.0,
        metrics: RateLimitMetrics = DEFAULT_METRICS,
        close: Callable[[], Awaitable[None]] | None = None,
        client: redis.asyncio.Redis | ScriptClient | None = None,
        key_prefix: str = "ratelimit",
    ) -> None:
        self._budgets = {name: found for name, found in budgets.items() if found}
        self._shared = STRATEGIES[strategy](storage)
        self._timeout = store_timeout
        self._metrics = metrics
        self._close = close
        self._fallback = Fallback(
            storage,
            strategy,
            self._budgets,
            scale=fallback_scale,
            timeout=store_timeout,
            recheck=recheck_seconds,
            metrics=metrics,
        )
        self._scripted = (
            ScriptedSpender(
                SpendScript(client, strategy),
                self._budgets,
                key_prefix=key_prefix,
                timeout=store_timeout,
                went_down=self._fallback.went_down,
            )
            if client is not None and strategy in SCRIPTED
            else None
        )

    def covers(self, category: str) -> bool:
        """Whether requests of this category spend any budget."""
        return category in self._budgets

    @property
    def store_up(self) -> bool:
        """Whether the shared store is in use (False while this process decides alone)."""
        return self._fallback.up

    async def spend(self, category: str, principal: str | None, ip: str) -> Verdict:
        """Spend one unit of each of the category's budgets that applies to the caller."""
        if self._fallback.up:
            try:
                async with asyncio.timeout(self._timeout):
                    verdict = await self._spend_shared(category, principal, ip)
            except STORE_ERRORS as error:
                self._fallback.went_down(error)
                verdict = await self._fallback.spend(category, principal, ip)
        else:
            self._fallback.maybe_probe()
            verdict = await self._fallback.spend(category, principal, ip)
        for s in verdict.spent:
            if not s.allowed:
                self._metrics.limited.labels(s.policy.name).inc()
        return verdict

    def spend_locally(self, category: str, principal: str | None, ip: str) -> Verdict | None:
        """Spend the request's budgets from this process's leases alone, if they all have units.

        None means a trip is needed (or no lease applies): call spend(). A verdict from here
        always allows, and costs no await.
        """
        if not self._fallback.up or self._scripted is None:
            return None
        return self._scripted.spend_locally(category, principal, ip)

    async def aclose(self) -> None:
        """Stop probing and fetching ahead, and close the store's connections."""
        self._fallback.stop_probing()
        if self._scripted is not None:
            await self._scripted.aclose()
        if self._close is not None:
            await self._close()

    async def _spend_shared(self, category: str, principal: str | None, ip: str) -> Verdict:
        if self._scripted is not None:
            return await self._scripted.spend(category, principal, ip)
        budgets = self._budgets.get(category, ())
        return await spend_each(self._shared, budgets, category, principal, ip)
