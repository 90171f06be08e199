"""A read store frozen (SIGSTOP) under the query API, for longer than the store deadline.

The reads that need it are answered 503 problem+json with Retry-After within their bound,
readiness answers within its own bound naming that store, reads from the other store keep
serving, and everything answers again once the store continues.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import pytest

from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.local.postgres import LocalPostgres
from infra.local.redis import LocalRedis
from infra.settings import Settings
from marketplace.projectors import opened
from tests.conftest import free_port
from tests.readapi.conftest import Reader, open_reader, read_settings
from tests.support.freeze import frozen, process_tree

pytestmark = pytest.mark.postgres

DEADLINE = 1.0
"""The documented default store deadline, which these tests hold the API to."""
FREEZE_SECONDS = 6.0
SLACK_SECONDS = 3.0
"""Margin over a documented bound, for a loaded machine."""
RECOVERY_SECONDS = 60.0


@dataclass
class Stores:
    """A query API on a PostgreSQL and a Redis of its own, which a test may freeze."""

    reader: Reader
    postgres: LocalPostgres
    redis: LocalRedis
    product: UUID
    shopper: dict[str, str]

    @property
    def bound(self) -> float:
        return 2 * self.reader.settings.deadlines.read_store_timeout_seconds

    def product_detail(self) -> Awaitable[httpx.Response]:
        return self.reader.client.get(f"/v1/products/{self.product}")

    def search(self) -> Awaitable[httpx.Response]:
        return self.reader.client.get("/v1/search", params={"q": "lamp"})

    def orders(self) -> Awaitable[httpx.Response]:
        return self.reader.client.get("/v1/me/orders", headers=self.shopper)

    def ready(self) -> Awaitable[httpx.Response]:
        return self.reader.client.get("/health/ready")


@pytest.fixture
async def stores(services_dir: Path) -> AsyncIterator[Stores]:
    postgres = LocalPostgres(services_dir / f"frozen-{uuid4().hex[:6]}", free_port(), durable=False)
    redis_port = free_port()
    redis = LocalRedis(services_dir / f"redis-{redis_port}", redis_port, durable=False)
    postgres.start()
    redis.start()
    commands = Commands(eventsourcing_env(Settings(), postgres.url))
    try:
        async with open_reader(
            read_settings(
                postgres.url, redis.url, deadlines={"read_store_timeout_seconds": DEADLINE}
            ),
            commands,
        ) as reader:
            _, product = reader.stocked_product()
            reader.project()
            for name in ("catalog-search", "orders"):
                with opened(name, reader.settings, failures=False) as worker:
                    worker.catch_up()
            shopper = reader.auth(uuid4(), "shopper")
            yield Stores(reader, postgres, redis, product, shopper)
    finally:
        commands.close()
        redis.stop()
        postgres.stop()


async def timed(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = await call
    return answer, time.monotonic() - started


async def answered(read: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """Call read() until it answers 200, for a bounded time; its last answer."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        answer = await read()
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.5)


def assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:marketplace:problem:store-unavailable"
    assert int(answer.headers["retry-after"]) >= 1


async def all_ok(stores: Stores) -> None:
    for read in (stores.product_detail, stores.search, stores.orders, stores.ready):
        answer = await answered(read)
        assert answer.status_code == 200, answer.text


async def test_a_frozen_postgres_fails_its_reads_promptly_and_redis_reads_keep_serving(
    stores: Stores,
) -> None:
    await all_ok(stores)
    pid = stores.postgres.pid()
    assert pid is not None

    with frozen(process_tree(pid)):
        began = time.monotonic()
        search, search_took = await timed(stores.search())
        orders, orders_took = await timed(stores.orders())
        ready, ready_took = await timed(stores.ready())
        product, product_took = await timed(stores.product_detail())
        await asyncio.sleep(max(0.0, began + FREEZE_SECONDS - time.monotonic()))

    for answer in (search, orders, ready):
        assert_unavailable(answer)
    assert max(search_took, orders_took, ready_took) < stores.bound + SLACK_SECONDS
    assert set(ready.json()["down"]) == {"postgres"}
    assert product.status_code == 200, product.text
    assert product_took < SLACK_SECONDS
    await all_ok(stores)


async def test_a_frozen_redis_fails_its_reads_promptly_and_postgres_reads_keep_serving(
    stores: Stores,
) -> None:
    await all_ok(stores)
    pid = stores.redis.pid
    assert pid is not None

    with frozen([pid]):
        began = time.monotonic()
        product, product_took = await timed(stores.product_detail())
        ready, ready_took = await timed(stores.ready())
        search, search_took = await timed(stores.search())
        orders = await stores.orders()
        await asyncio.sleep(max(0.0, began + FREEZE_SECONDS - time.monotonic()))

    for answer in (product, ready):
        assert_unavailable(answer)
    assert max(product_took, ready_took) < stores.bound + SLACK_SECONDS
    assert set(ready.json()["down"]) == {"redis"}
    assert (search.status_code, orders.status_code) == (200, 200), (search.text, orders.text)
    assert search_took < SLACK_SECONDS
    await all_ok(stores)
