"""Rate limits per caller and per client IP for each kind of request, kept in Redis.

Each category of request (browse, cart, checkout) has a budget per authenticated caller
(the bearer token's sub) and one per client IP; a request spends one unit of each that
applies, and is refused (429) when any is spent (the budgets it passed still count it).
The counts live in Redis through the `limits` package, so every API process shares them.
While Redis does not answer, each process decides alone from an in-memory store (the same
budgets times fallback_scale) and PINGs Redis in the background at most every
recheck_seconds until it is back.

Answers carry the fields of draft-ietf-httpapi-ratelimit-headers-11, one list item per
budget: `RateLimit-Policy: "cart-user";q=300;w=60, "cart-ip";q=1500;w=60` and
`RateLimit: "cart-user";r=299;t=60, "cart-ip";r=1499;t=60`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

import redis.asyncio
import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.aio.strategies import RateLimiter as Strategy
from limits.errors import StorageError
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.auth import InvalidToken, TokenCodec
from infra.shedding import unguarded
from infra.web import principal_of, problem_response

STORE_ERRORS = (RedisError, OSError, TimeoutError, StorageError)
STRATEGIES: dict[str, Callable[[Storage], Strategy]] = {
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
    "moving-window": MovingWindowRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
}
Partition = Literal["user", "ip"]
log = structlog.get_logger()


@dataclass(frozen=True)
class Policy:
    """One budget: how many requests of a category one caller or one IP may make."""

    name: str
    partition: Partition
    limit: RateLimitItem

    def field(self) -> str:
        """This policy as a RateLimit-Policy list item."""
        return f'"{self.name}";q={self.limit.amount};w={self.limit.get_expiry()}'


def policies(category: str, per_principal: str, per_ip: str) -> tuple[Policy, ...]:
    """The budgets of a category from `limits` strings ("600/minute;20/second"; "" for none)."""
    found: list[Policy] = []
    partitions: tuple[tuple[Partition, str], ...] = (("user", per_principal), ("ip", per_ip))
    for partition, text in partitions:
        items = parse_many(text) if text.strip() else []
        for n, item in enumerate(items, 1):
            name = f"{category}-{partition}" + (f"-{n}" if n > 1 else "")
            found.append(Policy(name, partition, item))
    return tuple(found)


@dataclass(frozen=True)
class Spent:
    """What one budget said about one request."""

    policy: Policy
    allowed: bool
    remaining: int
    reset_seconds: int


@dataclass(frozen=True)
class Verdict:
    """The budgets one request spent, and whether it may go on."""

    spent: tuple[Spent, ...]

    @property
    def allowed(self) -> bool:
        """No budget refused the request."""
        return all(s.allowed for s in self.spent)

    @property
    def violated(self) -> list[str]:
        """The names of the budgets that refused it."""
        return [s.policy.name for s in self.spent if not s.allowed]

    @property
    def retry_after(self) -> int:
        """Seconds until every refusing budget has room again (at least 1)."""
        return max([1, *(s.reset_seconds for s in self.spent if not s.allowed)])

    def headers(self) -> dict[str, str]:
        """The RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers)."""
        return {
            "RateLimit-Policy": ", ".join(s.policy.field() for s in self.spent),
            "RateLimit": ", ".join(
                f'"{s.policy.name}";r={s.remaining};t={s.reset_seconds}' for s in self.spent
            ),
        }


@dataclass(frozen=True)
class RateLimitMetrics:
    """The store's health, requests decided without it, and requests refused."""

    store_up: Gauge
    fallback: Counter
    limited: Counter

    @classmethod
    def on(cls, registry: CollectorRegistry) -> RateLimitMetrics:
        """Create and register the metrics on registry."""
        return cls(
            store_up=Gauge(
                "rate_limit_store_up",
                "1 while the shared rate-limit store (Redis) answers, 0 while on the fallback",
                registry=registry,
            ),
            fallback=Counter(
                "rate_limit_fallback_total",
                "Requests whose budgets this process decided alone, in memory",
                registry=registry,
            ),
            limited=Counter(
                "rate_limited_requests_total",
                "Requests answered 429, by the budget that refused them",
                ["policy"],
                registry=registry,
            ),
        )


DEFAULT_METRICS = RateLimitMetrics.on(REGISTRY)


class RateLimiter:
    """Spends requests against their budgets in a shared store, or in memory while it is down."""

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
    ) -> None:
        self._shared = STRATEGIES[strategy](storage)
        self._local = STRATEGIES[strategy](MemoryStorage())
        self._storage = storage
        self._budgets = {name: found for name, found in budgets.items() if found}
        self._fallback = {
            name: tuple(replace(p, limit=_scaled(p.limit, fallback_scale)) for p in found)
            for name, found in self._budgets.items()
        }
        self._timeout = store_timeout
        self._recheck = recheck_seconds
        self._metrics = metrics
        self._close = close
        self._up = True
        self._next_probe = 0.0
        self._probe: asyncio.Task[None] | None = None
        metrics.store_up.set(1)

    def covers(self, category: str) -> bool:
        """Whether requests of this category spend any budget."""
        return category in self._budgets

    @property
    def store_up(self) -> bool:
        """Whether the shared store is in use (False while this process decides alone)."""
        return self._up

    async def spend(self, category: str, principal: str | None, ip: str) -> Verdict:
        """Spend one unit of each of the category's budgets that applies to the caller."""
        if self._up:
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._spend(self._shared, self._budgets, category, principal, ip)
            except STORE_ERRORS as error:
                self._went_down(error)
        else:
            self._maybe_probe()
        self._metrics.fallback.inc()
        return await self._spend(self._local, self._fallback, category, principal, ip)

    async def aclose(self) -> None:
        """Stop probing and close the store's connections."""
        if self._probe is not None:
            self._probe.cancel()
        if self._close is not None:
            await self._close()

    async def _spend(
        self,
        strategy: Strategy,
        budgets: Mapping[str, tuple[Policy, ...]],
        category: str,
        principal: str | None,
        ip: str,
    ) -> Verdict:
        keys = {"user": principal, "ip": ip}
        spent = await asyncio.gather(
            *(
                _spend_one(strategy, p, category, key)
                for p in budgets.get(category, ())
                if (key := keys[p.partition])
            )
        )
        for s in spent:
            if not s.allowed:
                self._metrics.limited.labels(s.policy.name).inc()
        return Verdict(tuple(spent))

    def _went_down(self, error: BaseException) -> None:
        if self._up:
            self._up = False
            self._next_probe = time.monotonic() + self._recheck
            self._metrics.store_up.set(0)
            log.warning("rate_limit_store_down", error=repr(error), fallback="memory")

    def _maybe_probe(self) -> None:
        now = time.monotonic()
        if now >= self._next_probe and (self._probe is None or self._probe.done()):
            self._next_probe = now + self._recheck
            self._probe = asyncio.create_task(self._check())

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


async def _spend_one(strategy: Strategy, policy: Policy, category: str, key: str) -> Spent:
    ids = (category, policy.partition, key)
    allowed = await strategy.hit(policy.limit, *ids)
    stats = await strategy.get_window_stats(policy.limit, *ids)
    remaining = max(0, stats.remaining) if allowed else 0
    return Spent(policy, allowed, remaining, max(0, math.ceil(stats.reset_time - time.time())))


def _scaled(limit: RateLimitItem, scale: float) -> RateLimitItem:
    if scale == 1:
        return limit
    return type(limit)(max(1, int(limit.amount * scale)), limit.multiples, limit.namespace)


def redis_storage(client: redis.asyncio.Redis, url: str, key_prefix: str) -> RedisStorage:
    """A `limits` store on client's connections (client carries the timeouts, no retries)."""
    return RedisStorage(
        f"async+{url}",
        implementation="redispy",
        key_prefix=key_prefix,
        connection_pool=client.connection_pool,  # type: ignore[arg-type]
    )


class RateLimitMiddleware:
    """Pure ASGI: spend a request's budgets before the app sees it; 429 past any of them."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        classify: Callable[[str, str], str | None],
        tokens: TokenCodec,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.classify = classify
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        category = (
            self.classify(scope["method"], scope["path"])
            if scope["type"] == "http" and not unguarded(scope["path"])
            else None
        )
        if category is None or not self.limiter.covers(category):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        client = scope.get("client")
        verdict = await self.limiter.spend(
            category, self._principal(request), client[0] if client else "unknown"
        )
        if not verdict.spent:
            await self.app(scope, receive, send)
            return
        headers = verdict.headers()
        if not verdict.allowed:
            response = problem_response(
                request,
                429,
                "rate-limited",
                "Too many requests",
                f"the {category} budget is spent; retry after {verdict.retry_after} s",
                headers={**headers, "Retry-After": str(verdict.retry_after)},
                **{"violated-policies": verdict.violated},
            )
            await response(scope, receive, send)
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_limits)

    def _principal(self, request: Request) -> str | None:
        if "authorization" not in request.headers:
            return None
        try:
            return str(principal_of(request, self.tokens).sub)
        except InvalidToken:
            return None
