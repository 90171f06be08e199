"""The shared store in Redis: the SPEND script and the `limits` storage on the same server.

With the sliding-window-counter and fixed-window strategies SPEND checks and counts all of
a request's budgets in one round trip and returns what the RateLimit fields need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio
from limits import RateLimitItem
from limits.aio.storage import RedisStorage
from limits.errors import StorageError
from redis.exceptions import RedisError

STORE_ERRORS = (RedisError, OSError, TimeoutError, StorageError)
"""What a shared store that does not answer raises (the limiter then decides alone)."""

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

SCRIPTED = {"sliding-window-counter": "sliding", "fixed-window": "fixed"}
"""The strategies SPEND implements, by its ARGV[1]."""


class ScriptClient(Protocol):
    """An async Redis client that runs Lua scripts (redis.asyncio.Redis, or a leaner one)."""

    def register_script(self, script: str) -> Any:
        """A callable taking (keys, args) and awaiting the script's reply."""
        ...


@dataclass(frozen=True)
class Grant:
    """SPEND's answer for one budget."""

    granted: int
    remaining: int
    reset_seconds: int


class SpendScript:
    """SPEND on a client, for one strategy: many budgets checked and counted in one trip."""

    def __init__(self, client: redis.asyncio.Redis | ScriptClient, strategy: str) -> None:
        self._run = client.register_script(SPEND)
        self._mode = SCRIPTED[strategy]

    async def __call__(self, asked: Sequence[tuple[str, RateLimitItem, int]]) -> list[Grant]:
        """Ask each budget (its base key, its limit, the units wanted) for units, in one trip."""
        args: list[str | int] = [self._mode]
        for _, limit, wanted in asked:
            args += [limit.amount, limit.get_expiry(), wanted]
        reply = await self._run(keys=[key for key, _, _ in asked], args=args)
        grants = []
        for i in range(len(asked)):
            granted, remaining, reset = (int(x) for x in reply[3 * i : 3 * i + 3])
            grants.append(Grant(granted, remaining, reset))
        return grants


def redis_storage(client: redis.asyncio.Redis, url: str, key_prefix: str) -> RedisStorage:
    """A `limits` store on client's connections (client carries the timeouts, no retries)."""
    return RedisStorage(
        f"async+{url}",
        implementation="redispy",
        key_prefix=key_prefix,
        connection_pool=client.connection_pool,  # type: ignore[arg-type]
    )
