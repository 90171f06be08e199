"""A Redis that holds views must never evict a key.

An evicted product, stock or cart key is not an outage that shows: the view still has its
positions, so it answers 404 for a product that exists or 0 units for one in stock. With
`maxmemory-policy noeviction` a full Redis refuses writes instead (OutOfMemoryError, which the
projector retries) and keeps every key. So a projector refuses to start on a Redis configured
to evict, and says how to fix it; where the policy cannot be read (CONFIG disabled, as on some
managed services), it warns loudly and carries on.
"""

from __future__ import annotations

from typing import Any

import redis
import structlog

from projections.stores.redis.unit import TRANSIENT, text

log = structlog.get_logger()

POLICY = "maxmemory-policy"
REQUIRED = "noeviction"


class EvictingRedis(RuntimeError):
    """The Redis holding a view may evict its keys (maxmemory-policy is not noeviction)."""


def require_noeviction(client: redis.Redis, view: str) -> None:
    """Raise EvictingRedis unless the server's maxmemory-policy is noeviction.

    A policy that cannot be read (CONFIG refused, or the server unreachable for now) is
    logged as a warning, since the projector's retries cover an unreachable server.
    """
    unreadable: tuple[type[BaseException], ...] = (redis.ResponseError, *TRANSIENT)
    try:
        found: dict[Any, Any] = dict(client.config_get(POLICY))
    except unreadable as error:
        log.warning("redis_eviction_policy_unchecked", view=view, error=repr(error))
        return
    policy = next((text(value) for key, value in found.items() if text(key) == POLICY), "")
    if policy != REQUIRED:
        raise EvictingRedis(
            f"the Redis holding the {view} view has {POLICY} {policy or 'unset'}: it may evict "
            f"keys, and a view missing keys answers wrong (404, 0 units). Set {POLICY} "
            f"{REQUIRED} (CONFIG SET {POLICY} {REQUIRED}, or in its configuration)"
        )
