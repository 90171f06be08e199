"""A read store that is down: reads answer 503 with Retry-After; liveness still answers."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from commands.services import Commands
from infra.local.redis import LocalRedis
from tests.conftest import free_port
from tests.readapi.conftest import Reader, open_reader, read_settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def own_redis(services_dir: Path) -> LocalRedis:
    """A Redis server for one test only, which the test may stop."""
    port = free_port()
    return LocalRedis(services_dir / f"redis-{port}", port, durable=False)


@pytest.fixture
async def reader_on_own_redis(
    postgres_url: str, own_redis: LocalRedis, commands: Commands
) -> AsyncIterator[Reader]:
    """A query API on its own Redis, whose calls time out after 0.3 s."""
    own_redis.start()
    settings = read_settings(
        postgres_url, own_redis.url, deadlines={"read_store_timeout_seconds": 0.3}
    )
    try:
        async with open_reader(settings, commands) as built:
            yield built
    finally:
        if own_redis.pid is not None:
            os.kill(own_redis.pid, signal.SIGCONT)
        own_redis.stop()


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "2"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:marketplace:problem:store-unavailable"


async def test_a_stopped_redis_makes_reads_503_until_it_is_back(
    reader_on_own_redis: Reader, own_redis: LocalRedis
) -> None:
    reader = reader_on_own_redis
    _, product = reader.stocked_product()
    reader.project()
    path = f"/v1/products/{product}"
    assert (await reader.client.get(path)).status_code == 200
    assert (await reader.client.get("/health/ready")).status_code == 200

    own_redis.stop()
    started = time.monotonic()
    down = await reader.client.get(path)
    waited = time.monotonic() - started
    waiting = await reader.client.get(path, headers={"X-Min-Position": "inventory:1"})
    ready = await reader.client.get("/health/ready")
    live = await reader.client.get("/health/live")

    assert_unavailable(down)
    assert waited < 1.0
    assert_unavailable(waiting)
    assert_unavailable(ready)
    assert (live.status_code, live.json()) == (200, {"status": "ok"})

    own_redis.start()
    back = await reader.client.get("/health/ready")
    assert back.status_code == 200
    views = (
        "product-detail",
        "catalog-search",
        "carts",
        "orders",
        "seller-sales",
        "marketplace-figures",
    )
    lost = {"complete": False, "positions": {}, "target": {}}
    assert back.json() == {
        "status": "ready",
        "views": {view: {} for view in views},
        "completeness": {view: lost for view in views},
    }


async def test_a_view_on_a_closed_port_answers_503_and_stays_live(
    postgres_url: str, commands: Commands
) -> None:
    settings = read_settings(postgres_url, f"redis://127.0.0.1:{free_port()}/0")
    async with open_reader(settings, commands) as reader:
        started = time.monotonic()
        product = await reader.client.get(f"/v1/products/{reader.stocked_product()[1]}")
        waited = time.monotonic() - started
        live = await reader.client.get("/health/live")

        assert_unavailable(product)
        assert waited < 1.0
        assert live.status_code == 200


async def test_a_redis_restart_between_requests_goes_unnoticed(
    reader_on_own_redis: Reader, own_redis: LocalRedis
) -> None:
    reader = reader_on_own_redis
    assert (await reader.client.get("/health/ready")).status_code == 200

    own_redis.stop()
    own_redis.start()

    assert (await reader.client.get("/health/ready")).status_code == 200


async def test_a_hung_redis_makes_reads_503_after_the_store_timeout(
    reader_on_own_redis: Reader, own_redis: LocalRedis
) -> None:
    reader = reader_on_own_redis
    _, product = reader.stocked_product()
    reader.project()
    assert (await reader.client.get(f"/v1/products/{product}")).status_code == 200
    assert own_redis.pid is not None

    os.kill(own_redis.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        hung = await reader.client.get(f"/v1/products/{product}")
        waited = time.monotonic() - started
        live = await reader.client.get("/health/live")
    finally:
        os.kill(own_redis.pid, signal.SIGCONT)

    assert_unavailable(hung)
    assert 0.3 <= waited < 0.9
    assert live.status_code == 200
    assert (await reader.client.get(f"/v1/products/{product}")).status_code == 200
