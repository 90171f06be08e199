"""Rate limits per caller and per client IP for each kind of request, kept in Redis.

Each category of request (browse, cart, checkout) has a budget per authenticated caller
(the bearer token's sub) and one per client IP; a request spends one unit of each that
applies, and is refused (429) when any is spent (the budgets it passed still count it).
The counts live in Redis, so every API process shares them. With the sliding-window-counter
and fixed-window strategies one Lua script (SPEND) checks and counts all of a request's
budgets in one round trip and returns what the RateLimit fields need; the moving window
goes through the `limits` package, one call per budget.
A large budget is leased: one trip takes up to 1 % of it (at most LEASE_MAX units) for this
process, which spends them locally for up to LEASE_SECONDS, so the hottest reads rarely
wait on Redis: at half a block left, the next is fetched in the background, and requests
that find a lease empty while it is being fetched wait for that trip instead of making
their own. A budget is never exceeded across processes (units are counted when leased);
near its end a process may refuse while another still holds a few units, and a budget of
under 200 units is spent one unit per trip, exactly.
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
from functools import cache
from typing import Any, Literal, Protocol

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


@cache
def policy_field(spent: tuple[Policy, ...]) -> bytes:
    """The RateLimit-Policy field of these budgets, encoded (few combinations: cached)."""
    return ", ".join(p.field() for p in spent).encode()


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

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """headers(), as ASGI header pairs."""
        return [
            (b"ratelimit-policy", policy_field(tuple(s.policy for s in self.spent))),
            (
                b"ratelimit",
                ", ".join(
                    f'"{s.policy.name}";r={s.remaining};t={s.reset_seconds}' for s in self.spent
                ).encode(),
            ),
        ]

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
                multiprocess_mode="livemin",
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


# KEYS: one base key per budget. ARGV[1]: "sliding" or "fixed"; then per budget its amount,
# window seconds and the units wanted (a lease). Each budget counts in the key
# <base>:<window index> (expiring after the windows that still weigh); a sliding window also
# weighs the previous window's count by the share of it still inside the window. A budget
# grants the units wanted if it has room for them, else one if it has room for one, else
# none; it counts what it grants even when another budget refuses. Returns per budget the
# units granted, the remaining units and the seconds until the window resets.
SPEND = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local sliding = ARGV[1] == 'sliding'
local out = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[3 * i - 1])
  local window = tonumber(ARGV[3 * i])
  local wanted = tonumber(ARGV[3 * i + 1])
  local index = math.floor(now / window)
  local elapsed = now - index * window
  local key = KEYS[i] .. ':' .. string.format('%d', index)
  local weighted = tonumber(redis.call('GET', key) or '0')
  if sliding then
    local previous = redis.call('GET', KEYS[i] .. ':' .. string.format('%d', index - 1))
    weighted = weighted + tonumber(previous or '0') * (window - elapsed) / window
  end
  local granted = 0
  if weighted + wanted <= limit then
    granted = wanted
  elseif weighted + 1 <= limit then
    granted = 1
  end
  local remaining = 0
  if granted > 0 then
    remaining = math.floor(limit - weighted - granted)
    if redis.call('INCRBY', key, granted) == granted then
      redis.call('EXPIRE', key, sliding and 2 * window or window)
    end
  end
  out[#out + 1] = granted
  out[#out + 1] = remaining
  out[#out + 1] = math.ceil(window - elapsed)
end
return out
"""

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


class ScriptClient(Protocol):
    """An async Redis client that runs Lua scripts (redis.asyncio.Redis, or a leaner one)."""

    def register_script(self, script: str) -> Any:
        """A callable taking (keys, args) and awaiting the script's reply."""
        ...


SCRIPTED = {"sliding-window-counter": "sliding", "fixed-window": "fixed"}
"""The strategies SPEND implements, by its ARGV[1]."""


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
        self._script = (
            client.register_script(SPEND) if client is not None and strategy in SCRIPTED else None
        )
        self._mode = SCRIPTED.get(strategy, "")
        self._leases = Leases()
        self._refills: dict[str, asyncio.Future[None]] = {}
        self._fetches: set[asyncio.Task[None]] = set()
        self._key_prefix = key_prefix
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
                    if self._script is not None:
                        return await self._spend_scripted(category, principal, ip)
                    return await self._spend(self._shared, self._budgets, category, principal, ip)
            except STORE_ERRORS as error:
                self._went_down(error)
        else:
            self._maybe_probe()
        self._metrics.fallback.inc()
        return await self._spend(self._local, self._fallback, category, principal, ip)

    def spend_locally(self, category: str, principal: str | None, ip: str) -> Verdict | None:
        """Spend the request's budgets from this process's leases alone, if they all have units.

        None means a trip is needed (or no lease applies): call spend(). A verdict from here
        always allows, and costs no await.
        """
        if not self._up or self._script is None:
            return None
        keys = {"user": principal, "ip": ip}
        now = time.monotonic()
        spent = []
        for p in self._budgets.get(category, ()):
            key = keys[p.partition]
            if not key:
                continue
            name = self._key(category, p, key)
            local = self._leases.spend(name, p, now)
            if local is None:
                return None
            if self._leases.running_low(name) and name not in self._refills:
                self._fetch_ahead(p, name)
            spent.append(local)
        return Verdict(tuple(spent)) if spent else None

    async def aclose(self) -> None:
        """Stop probing and fetching ahead, and close the store's connections."""
        if self._probe is not None:
            self._probe.cancel()
        fetches = list(self._fetches)
        for fetch in fetches:
            fetch.cancel()
        await asyncio.gather(*fetches, return_exceptions=True)
        if self._close is not None:
            await self._close()

    def _fetch_ahead(self, policy: Policy, name: str) -> None:
        """Fetch the lease's next block in the background, while its last units are spent."""
        refill = asyncio.get_running_loop().create_future()
        self._refills[name] = refill
        fetch = asyncio.create_task(self._fetch_block(policy, name))
        self._fetches.add(fetch)

        def done(task: asyncio.Task[None]) -> None:
            self._fetches.discard(task)
            self._end_refills({name: refill})  # also when cancelled before it ever ran

        fetch.add_done_callback(done)

    async def _fetch_block(self, policy: Policy, name: str) -> None:
        assert self._script is not None
        limit = policy.limit
        args: list[str | int] = [self._mode, limit.amount, limit.get_expiry(), lease_size(limit)]
        try:
            async with asyncio.timeout(self._timeout):
                reply = await self._script(keys=[name], args=args)
            granted, remaining, reset = (int(x) for x in reply[:3])
            self._leases.top_up(name, granted, remaining, reset, time.monotonic())
        except STORE_ERRORS as error:
            self._went_down(error)
        except Exception:  # a reply it cannot read: the requests make their own trips
            log.exception("rate_limit_fetch_ahead_failed", key=name)

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

    async def _spend_scripted(self, category: str, principal: str | None, ip: str) -> Verdict:
        assert self._script is not None
        keys = {"user": principal, "ip": ip}
        applied = [p for p in self._budgets.get(category, ()) if keys[p.partition]]
        if not applied:
            return Verdict(())
        now = time.monotonic()
        spent: list[Spent | None] = []
        asked: list[tuple[int, str]] = []
        for n, p in enumerate(applied):
            name = self._key(category, p, str(keys[p.partition]))
            spent.append(self._leases.spend(name, p, now))
            if spent[-1] is None:
                asked.append((n, name))
        if asked:
            asked = await self._after_refills(applied, asked, spent)
        if asked:
            args: list[str | int] = [self._mode]
            for n, _ in asked:
                limit = applied[n].limit
                args += [limit.amount, limit.get_expiry(), lease_size(limit)]
            refills = self._start_refills(applied, asked)
            try:
                reply = await self._script(keys=[name for _, name in asked], args=args)
            finally:
                self._end_refills(refills)
            for i, (n, name) in enumerate(asked):
                granted, remaining, reset = (int(x) for x in reply[3 * i : 3 * i + 3])
                spent[n] = Spent(applied[n], granted > 0, remaining + max(0, granted - 1), reset)
                self._leases.keep(name, spent[n], granted, now)
        verdict = Verdict(tuple(s for s in spent if s is not None))
        for s in verdict.spent:
            if not s.allowed:
                self._metrics.limited.labels(s.policy.name).inc()
        return verdict

    async def _after_refills(
        self, applied: list[Policy], asked: list[tuple[int, str]], spent: list[Spent | None]
    ) -> list[tuple[int, str]]:
        """Wait for the leases other requests are fetching for these budgets and spend from
        them; the budgets still without a unit, to ask Redis for.

        Without this, every request that finds a lease empty while its refill is on the way
        makes a trip of its own, and each trip leases a block that the next one replaces.
        """
        while pending := {self._refills[name] for _, name in asked if name in self._refills}:
            await asyncio.wait([asyncio.shield(refill) for refill in pending])
            now = time.monotonic()
            still: list[tuple[int, str]] = []
            for n, name in asked:
                spent[n] = self._leases.spend(name, applied[n], now)
                if spent[n] is None:
                    still.append((n, name))
            asked = still
        return asked

    def _start_refills(
        self, applied: list[Policy], asked: list[tuple[int, str]]
    ) -> dict[str, asyncio.Future[None]]:
        """Announce the leases this trip fetches, for requests that come meanwhile."""
        loop = asyncio.get_running_loop()
        mine = {
            name: loop.create_future()
            for n, name in asked
            if lease_size(applied[n].limit) > 1 and name not in self._refills
        }
        self._refills.update(mine)
        return mine

    def _end_refills(self, mine: dict[str, asyncio.Future[None]]) -> None:
        for name, refill in mine.items():
            if self._refills.get(name) is refill:
                del self._refills[name]
            if not refill.done():
                refill.set_result(None)

    def _key(self, category: str, policy: Policy, caller: str) -> str:
        limit = policy.limit
        return (
            f"{self._key_prefix}:{category}:{policy.partition}:{caller}:"
            f"{limit.amount}/{limit.get_expiry()}"
        )

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


def with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    """send, adding the extra headers to the response's start."""

    async def send_with_limits(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return send_with_limits


def _retrieve(spending: asyncio.Future[Verdict]) -> None:
    """Mark the outcome of a spend nobody awaited any more as seen."""
    if not spending.cancelled():
        spending.exception()


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
    """Pure ASGI: spend a request's budgets before the app answers; 429 past any of them.

    A request speculate(method, path) names runs while its budgets are spent, and its
    answer waits for the verdict (a 429 replaces it): the spend and the app's own store
    read then share one round trip on a pipelined client. Only for cheap reads that change
    nothing, since a refused one still costs its work. Any other request reaches the app
    only once its budgets allow it.
    """

    def __init__(
        self,
        app: ASGIApp,
        limiter: RateLimiter,
        classify: Callable[[str, str], str | None],
        tokens: TokenCodec,
        speculate: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.classify = classify
        self.tokens = tokens
        self.speculate = speculate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        category = (
            self.classify(scope["method"], scope["path"])
            if scope["type"] == "http" and not unguarded(scope["path"])
            else None
        )
        if category is None or not self.limiter.covers(category):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        principal, ip = self._principal(scope), client[0] if client else "unknown"
        leased = self.limiter.spend_locally(category, principal, ip)
        if leased is not None:
            await self.app(scope, receive, with_headers(send, leased.raw_headers()))
            return
        spending = self.limiter.spend(category, principal, ip)
        if self.speculate is not None and self.speculate(scope["method"], scope["path"]):
            await self._speculate(asyncio.ensure_future(spending), category, scope, receive, send)
            return
        verdict = await spending
        if not verdict.spent:
            await self.app(scope, receive, send)
            return
        if not verdict.allowed:
            await self._refuse(verdict, category, scope, receive, send)
            return
        await self.app(scope, receive, with_headers(send, verdict.raw_headers()))

    async def _speculate(
        self,
        spending: asyncio.Future[Verdict],
        category: str,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        refused = False

        async def send_after_verdict(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start":
                verdict = await spending
                if not verdict.allowed:
                    refused = True
                    await self._refuse(verdict, category, scope, receive, send)
                    return
                if verdict.spent:
                    message["headers"] = [*message.get("headers", []), *verdict.raw_headers()]
            if not refused:
                await send(message)

        try:
            await self.app(scope, receive, send_after_verdict)
        finally:
            if not spending.done():
                spending.add_done_callback(_retrieve)

    async def _refuse(
        self, verdict: Verdict, category: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = problem_response(
            Request(scope),
            429,
            "rate-limited",
            "Too many requests",
            f"the {category} budget is spent; retry after {verdict.retry_after} s",
            headers={**verdict.headers(), "Retry-After": str(verdict.retry_after)},
            **{"violated-policies": verdict.violated},
        )
        await response(scope, receive, send)

    def _principal(self, scope: Scope) -> str | None:
        if not any(name == b"authorization" for name, _ in scope["headers"]):
            return None
        try:
            return str(principal_of(Request(scope), self.tokens).sub)
        except InvalidToken:
            return None
