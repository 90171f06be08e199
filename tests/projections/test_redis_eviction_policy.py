"""The Redis holding views never evicts: the embedded one is started so, another is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from infra.local.redis import LocalRedis
from infra.settings import PostgresSettings, RedisSettings, Settings
from marketplace.projectors import opened
from projections.stores.redis.policy import EvictingRedis, require_noeviction
from tests.conftest import free_port

pytestmark = pytest.mark.postgres


@pytest.fixture
def own_redis(services_dir: Path) -> Iterator[LocalRedis]:
    """A Valkey for this test alone, started as `marketplace up` starts it."""
    port = free_port()
    server = LocalRedis(services_dir / f"redis-policy-{port}", port, durable=False)
    server.start()
    yield server
    server.stop()


def test_the_embedded_redis_never_evicts(own_redis: LocalRedis) -> None:
    client = redis.Redis.from_url(own_redis.url, decode_responses=True)

    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    require_noeviction(client, "product-detail")
    client.close()


@pytest.mark.parametrize("projection", ["product-detail", "carts"])
@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl"])
def test_a_projector_refuses_a_redis_that_may_evict(
    own_redis: LocalRedis, postgres_url: str, projection: str, policy: str
) -> None:
    client = redis.Redis.from_url(own_redis.url)
    client.config_set("maxmemory-policy", policy)
    settings = Settings(
        postgres=PostgresSettings(url=postgres_url), redis=RedisSettings(url=own_redis.url)
    )

    refused = f"{projection} view has maxmemory-policy {policy}"
    with pytest.raises(EvictingRedis, match=refused), opened(projection, settings, failures=False):
        pass

    client.config_set("maxmemory-policy", "noeviction")
    with opened(projection, settings, failures=False) as worker:
        assert worker.view.positions() == {}
    client.close()
