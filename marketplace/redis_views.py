"""The Redis views (product detail, carts) for their projectors, the query API and rebuilds.

Each view lives under its own base prefix, `<redis_prefix>:<projection>`; its versions and
the pointers naming the live ones are keys under that prefix (projections.stores.redis.unit).
"""

from __future__ import annotations

from typing import Any

import redis

from infra.settings import Settings
from projections.carts.projection import CartProjection
from projections.carts.redis_view import RedisCartView
from projections.product_detail.projection import ProductDetailProjection
from projections.product_detail.redis_view import RedisProductDetailView
from projections.runtime import View
from projections.stores.redis.policy import require_noeviction
from projections.stores.redis.versions import RedisVersions


def redis_client(url: str) -> redis.Redis:
    """A Redis client whose calls fail (and are retried by the worker) instead of hanging."""
    return redis.Redis.from_url(
        url, socket_timeout=5.0, socket_connect_timeout=2.0, health_check_interval=10
    )


def redis_prefix(settings: Settings, projection: str) -> str:
    """The key prefix of one projection's Redis view: each keeps its own positions."""
    return f"{settings.redis.prefix}:{projection}"


def product_detail_view(settings: Settings, redis_url: str) -> RedisProductDetailView:
    """The product-detail view the projector writes: the version the writers' pointer names.

    EvictingRedis if its Redis may evict keys (projections.stores.redis.policy).
    """
    client = redis_client(redis_url)
    require_noeviction(client, ProductDetailProjection.name)
    return RedisProductDetailView(client, redis_prefix(settings, ProductDetailProjection.name))


def cart_view(settings: Settings, redis_url: str) -> RedisCartView:
    """The carts view the projector writes: the version the writers' pointer names.

    EvictingRedis if its Redis may evict keys (projections.stores.redis.policy).
    """
    client = redis_client(redis_url)
    require_noeviction(client, CartProjection.name)
    return RedisCartView(client, redis_prefix(settings, CartProjection.name))


def product_detail_versions(settings: Settings, redis_url: str) -> RedisVersions:
    """The versions of the product-detail view, for a rebuild."""
    client = redis_client(redis_url)
    base = redis_prefix(settings, ProductDetailProjection.name)
    return RedisVersions(
        client, base, lambda version: RedisProductDetailView(client, base, version=version)
    )


def cart_versions(settings: Settings, redis_url: str) -> RedisVersions:
    """The versions of the carts view, for a rebuild."""
    client = redis_client(redis_url)
    base = redis_prefix(settings, CartProjection.name)
    return RedisVersions(client, base, lambda version: RedisCartView(client, base, version=version))


def close_redis_view(view: View[Any]) -> None:
    """Close the Redis client of a Redis-backed view."""
    client = getattr(view, "client", None)
    if isinstance(client, redis.Redis):
        client.close()
