"""Large budgets are leased in blocks: fewer Redis trips, never exceeded across processes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import redis.asyncio
from prometheus_client import CollectorRegistry

from infra.ratelimit.leases import LEASE_MAX, lease_size
from infra.ratelimit.limiter import RateLimiter
from infra.ratelimit.metrics import RateLimitMetrics
from infra.ratelimit.policies import policies
from infra.ratelimit.redis_store import redis_storage

pytestmark = pytest.mark.postgres


class CountingScripts:
    """A script client that counts the trips its scripts make to Redis."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client
        self.trips = 0

    def register_script(self, script: str) -> Any:
        run = self.client.register_script(script)

        async def counted(keys: list[str], args: list[Any]) -> Any:
            self.trips += 1
            return await run(keys=keys, args=args)

        return counted


@asynccontextmanager
async def process(
    redis_url: str, prefix: str, budget: str
) -> AsyncIterator[tuple[RateLimiter, CountingScripts]]:
    """One API process's limiter on the shared Redis, with its trips counted."""
    client = redis.asyncio.Redis.from_url(redis_url)
    scripts = CountingScripts(client)
    limiter = RateLimiter(
        redis_storage(client, redis_url, prefix),
        {"browse": policies("browse", "", budget)},
        metrics=RateLimitMetrics.on(CollectorRegistry()),
        close=client.aclose,
        client=scripts,
        key_prefix=prefix,
    )
    try:
        yield limiter, scripts
    finally:
        await limiter.aclose()


async def test_two_processes_never_exceed_a_leased_budget_and_rarely_ask_redis(
    redis_server: str,
) -> None:
    prefix = f"rl{uuid.uuid4().hex[:10]}"
    async with (
        process(redis_server, prefix, "1000/minute") as (first, one),
        process(redis_server, prefix, "1000/minute") as (second, two),
    ):
        allowed = 0
        for n in range(1200):
            verdict = await (first if n % 2 else second).spend("browse", None, "10.0.0.1")
            allowed += verdict.allowed
            if n == 899:
                trips_while_room = one.trips + two.trips
    lease = lease_size(policies("browse", "", "1000/minute")[0].limit)
    assert lease == 10
    assert 1000 - 2 * lease <= allowed <= 1000
    assert trips_while_room <= 900 / lease + 2


async def test_small_budgets_are_spent_one_unit_per_trip_exactly(redis_server: str) -> None:
    prefix = f"rl{uuid.uuid4().hex[:10]}"
    async with (
        process(redis_server, prefix, "50/minute") as (first, one),
        process(redis_server, prefix, "50/minute") as (second, two),
    ):
        verdicts = [
            await (first if n % 2 else second).spend("browse", None, "10.0.0.2") for n in range(60)
        ]
    assert [v.allowed for v in verdicts] == [True] * 50 + [False] * 10
    assert [v.spent[0].remaining for v in verdicts[:3]] == [49, 48, 47]
    assert one.trips + two.trips == 60


async def test_the_lease_is_capped_and_the_remaining_count_stays_plausible(
    redis_server: str,
) -> None:
    prefix = f"rl{uuid.uuid4().hex[:10]}"
    async with process(redis_server, prefix, "1000000/minute") as (limiter, scripts):
        remaining = [
            (await limiter.spend("browse", None, "10.0.0.3")).spent[0].remaining for _ in range(250)
        ]
    assert scripts.trips == 3
    assert lease_size(policies("browse", "", "1000000/minute")[0].limit) == LEASE_MAX
    assert remaining == sorted(remaining, reverse=True)
    assert remaining[0] == 1_000_000 - 1


async def test_units_in_hand_are_spent_without_a_trip(redis_server: str) -> None:
    prefix = f"rl{uuid.uuid4().hex[:10]}"
    async with process(redis_server, prefix, "1000/minute") as (limiter, scripts):
        assert limiter.spend_locally("browse", None, "10.0.0.4") is None
        first = await limiter.spend("browse", None, "10.0.0.4")
        local = [limiter.spend_locally("browse", None, "10.0.0.4") for _ in range(10)]
    assert scripts.trips == 1
    assert first.allowed and [v is not None and v.allowed for v in local] == [True] * 9 + [False]
    assert [v.spent[0].remaining for v in local[:9] if v] == list(range(998, 989, -1))


async def test_requests_that_find_the_lease_empty_together_share_one_trip(
    redis_server: str,
) -> None:
    prefix = f"rl{uuid.uuid4().hex[:10]}"
    async with process(redis_server, prefix, "1000000/minute") as (limiter, scripts):
        verdicts = await asyncio.gather(
            *(limiter.spend("browse", None, "10.0.0.5") for _ in range(LEASE_MAX))
        )
        assert scripts.trips == 1
        assert all(v.allowed for v in verdicts)
        remaining = sorted((v.spent[0].remaining for v in verdicts), reverse=True)
        assert remaining == list(range(1_000_000 - 1, 1_000_000 - LEASE_MAX - 1, -1))
        more = await asyncio.gather(*(limiter.spend("browse", None, "10.0.0.5") for _ in range(3)))
    assert scripts.trips == 2 and all(v.allowed for v in more)


async def test_the_next_block_is_fetched_ahead_so_requests_keep_spending_locally(
    redis_server: str,
) -> None:
    prefix = f"rl{uuid.uuid4().hex[:10]}"
    async with process(redis_server, prefix, "100000/minute") as (limiter, scripts):
        lease = lease_size(policies("browse", "", "100000/minute")[0].limit)
        waited = 0
        remaining = []
        for _ in range(10 * lease):
            verdict = limiter.spend_locally("browse", None, "10.0.0.6")
            if verdict is None:
                waited += 1
                verdict = await limiter.spend("browse", None, "10.0.0.6")
            remaining.append(verdict.spent[0].remaining)
            await asyncio.sleep(0.002)  # the time between two requests
    assert lease == LEASE_MAX
    assert waited == 1  # only the very first request, before any block was leased
    assert 10 <= scripts.trips <= 11
    assert remaining == sorted(remaining, reverse=True)
    assert remaining[-1] >= 100_000 - scripts.trips * lease


async def test_closing_while_a_block_is_fetched_ahead_leaves_no_request_waiting(
    redis_server: str,
) -> None:
    prefix = f"rl{uuid.uuid4().hex[:10]}"
    async with process(redis_server, prefix, "1000/minute") as (limiter, scripts):
        await limiter.spend("browse", None, "10.0.0.7")
        assert limiter._scripted is not None
        refills = limiter._scripted._refills
        while limiter.spend_locally("browse", None, "10.0.0.7") is not None:
            if refills:  # a fetch ahead was started and has not run yet
                break
        assert refills
        waiting = list(refills.values())
    assert all(refill.done() for refill in waiting)
    assert not refills
    assert scripts.trips == 1
