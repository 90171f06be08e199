"""What every Redis view shares: a batch's writes committed with the position by one script.

A view lives under a base key prefix, `<redis_prefix>:<projection>`. Version N >= 1 keeps
its keys under `<base>:v<N>`; version 0 is the unversioned layout under `<base>` itself.
Two pointer keys name versions: `<base>:current` the one readers use, `<base>:writing` the
one the live projector writes (a missing pointer is version 0). A view follows one of the
pointers, resolving it atomically with each read (inside the read's Lua script) and with
each commit (the commit script checks it with the positions), or is pinned to one version.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, Protocol, TypeVar

import redis

from projections.completeness import Completeness
from projections.runtime import PositionMoved, ViewVersionMoved
from projections.stores.redis.writes import COMMIT, HashWrites
from projections.versions import READERS, WRITERS

TRANSIENT: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.AskError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)
"""Redis unavailable for now: unreachable, loading its data, out of memory (maxmemory with no
eviction: writes are refused, and a commit script refused at its first write wrote nothing),
a read-only replica (a failover under way), a cluster slot moved (MOVED and ASK) or migrating
(TRYAGAIN), the cluster down."""
POINTERS = {READERS: "current", WRITERS: "writing"}

RESOLVE = """
local function prefix_of(base, pinned, pointer)
  local version = pinned
  if version == '' then version = redis.call('GET', pointer) or '0' end
  if version == '0' then return base, version end
  return base .. ':v' .. version, version
end
"""
"""A Lua prelude: the key prefix and version a view reads, from its pin or its pointer."""

COMPLETE = """
local function complete(prefix)
  return redis.call('EXISTS', prefix .. ':positions') == 1
    and redis.call('EXISTS', prefix .. ':target') == 0
end
"""
"""A Lua prelude: whether the version under prefix is complete (projections.completeness)."""

READ_COMPLETE = (
    RESOLVE
    + COMPLETE
    + """
local prefix = prefix_of(ARGV[1], ARGV[2], KEYS[1])
if not complete(prefix) then return -1 end
"""
)
"""How a read script starts: the prefix of the version it reads; -1 unless that is complete."""

POSITIONS = (
    RESOLVE
    + """
local prefix, version = prefix_of(ARGV[1], ARGV[2], KEYS[1])
return {version, redis.call('HGETALL', prefix .. ':positions'),
  redis.call('HGETALL', prefix .. ':target')}
"""
)

START_EMPTY = (
    RESOLVE
    + """
local prefix, version = prefix_of(ARGV[1], ARGV[2], KEYS[1])
local positions = prefix .. ':positions'
if redis.call('EXISTS', positions) == 0 then
  for i = 3, #ARGV, 2 do
    redis.call('HSET', positions, ARGV[i], '0')
    if tonumber(ARGV[i + 1]) > 0 then
      redis.call('HSET', prefix .. ':target', ARGV[i], ARGV[i + 1])
    end
  end
end
return {version, redis.call('HGETALL', positions), redis.call('HGETALL', prefix .. ':target')}
"""
)
"""Records a completeness target (ARGV[3..]: log, head pairs) in a version with no positions."""


class RedisUnit:
    """Hash writes collected for one batch (folded per key), and the position it reaches."""

    def __init__(self) -> None:
        self.writes = HashWrites()
        self.tracked: tuple[str, int, int] | None = None

    def track(self, log: str, after: int, position: int) -> None:
        """Move the log's position from after to position when the unit commits."""
        self.tracked = (log, after, position)


UnitT = TypeVar("UnitT", bound=RedisUnit)


class ScriptClient(Protocol):
    """An async Redis client that runs Lua scripts (redis.asyncio.Redis, or a leaner one)."""

    def register_script(self, script: str) -> Any:
        """A callable taking (keys, args) and awaiting the script's reply."""
        ...

    async def aclose(self) -> None:
        """Close the client's connections."""
        ...


class RedisView(ABC, Generic[UnitT]):
    """A view whose keys share a prefix and whose positions live in one hash beside them.

    follows names the pointer the view resolves (WRITERS for a projector, READERS for the
    query API); version pins it to one version instead (a rebuild writing a new one).
    """

    transient_errors = TRANSIENT

    def __init__(
        self,
        client: redis.Redis,
        base: str,
        *,
        follows: str = WRITERS,
        version: int | None = None,
    ) -> None:
        self.client = client
        self.base = base
        self.pinned = version
        self.pointer = pointer_key(base, follows)
        self._positions = client.register_script(POSITIONS)
        self._start_empty = client.register_script(START_EMPTY)
        self._commit = client.register_script(COMMIT)
        self._place(version or 0)

    @abstractmethod
    def new_unit(self) -> UnitT:
        """A fresh unit of this view's kind, writing under self.prefix."""

    def _place(self, version: int) -> None:
        self.version = version
        self.prefix = version_prefix(self.base, version)
        self.positions_key = positions_key(self.prefix)
        self.target_key = target_key(self.prefix)

    def resolve_args(self) -> list[str]:
        """ARGV[1..2] of a script opening with RESOLVE: the base and the pinned version."""
        return [self.base, "" if self.pinned is None else str(self.pinned)]

    def positions(self) -> dict[str, int]:
        """The last projected position of each log, in the version the view resolves now."""
        return self.completeness().positions

    def completeness(self) -> Completeness:
        """The positions and the target left, in the version the view resolves now."""
        reply = self._positions(keys=[self.pointer], args=self.resolve_args())
        return self._completeness(reply)

    def start_empty(self, target: dict[str, int]) -> dict[str, int]:
        """Record target and a position of 0 per log, if the version has no positions."""
        pairs = [item for log, head in target.items() for item in (log, head)]
        reply = self._start_empty(keys=[self.pointer], args=[*self.resolve_args(), *pairs])
        return self._completeness(reply).positions

    def _completeness(self, reply: list[Any]) -> Completeness:
        version, flat, target = reply
        self._place(int(version))
        return Completeness(_numbers(flat), _numbers(target))

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitT]:
        """Collect a batch's writes, then apply them and the position in one Lua script.

        The script writes nothing and the unit raises PositionMoved unless the log's stored
        position is where the batch starts; a view that follows a pointer also checks that
        it still names the batch's version, else ViewVersionMoved.
        """
        version = self.version
        unit = self.new_unit()
        yield unit
        if unit.tracked is None:
            raise ValueError("a unit of work must track the position it reaches")
        log, after, position = unit.tracked
        following = "1" if self.pinned is None else "0"
        args = [log, after, position, following, version, *unit.writes.args()]
        keys = [self.positions_key, self.pointer, self.target_key]
        outcome, found = self._commit(keys=keys, args=args)
        if text(outcome) == "version":
            raise ViewVersionMoved(f"{self.pointer} names v{text(found)}, not v{version}")
        if text(outcome) == "position":
            raise PositionMoved(f"{log} is at {text(found)} in the view, not {after}")

    def clear(self) -> None:
        """Delete every key of this view: all its versions and pointers (tests and resets)."""
        delete_matching(self.client, f"{self.base}:*")


def version_prefix(base: str, version: int) -> str:
    """The key prefix of one version of the view under base."""
    return base if version == 0 else f"{base}:v{version}"


def pointer_key(base: str, follows: str) -> str:
    """The key naming the version that readers (READERS) or writers (WRITERS) use."""
    return f"{base}:{POINTERS[follows]}"


def positions_key(prefix: str) -> str:
    """The hash holding a view's log positions, beside its data under the same prefix."""
    return f"{prefix}:positions"


def target_key(prefix: str) -> str:
    """The hash holding what is left of a view's completeness target, beside its positions."""
    return f"{prefix}:target"


def delete_matching(
    client: redis.Redis, pattern: str, keep: Callable[[str], bool] = lambda key: False
) -> int:
    """Unlink every key matching pattern that keep does not claim; how many."""
    deleted = 0
    batch: list[str] = []
    for key in client.scan_iter(match=pattern, count=1000):
        name = text(key)
        if keep(name):
            continue
        batch.append(name)
        if len(batch) == 500:
            deleted += int(client.unlink(*batch))
            batch = []
    if batch:
        deleted += int(client.unlink(*batch))
    return deleted


def _numbers(flat: list[Any]) -> dict[str, int]:
    return {text(k): int(v) for k, v in zip(flat[::2], flat[1::2], strict=True)}


def text(value: bytes | str) -> str:
    """A Redis reply as text."""
    return value.decode() if isinstance(value, bytes) else value
