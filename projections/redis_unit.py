"""What every Redis view shares: queued writes committed with the position under WATCH.

A view lives under a base key prefix, `<redis_prefix>:<projection>`. Version N >= 1 keeps
its keys under `<base>:v<N>`; version 0 is the unversioned layout under `<base>` itself.
Two pointer keys name versions: `<base>:current` the one readers use, `<base>:writing` the
one the live projector writes (a missing pointer is version 0). A view follows one of the
pointers, resolving it atomically with each read (inside the read's Lua script) and with
each commit (the pointer is watched with the positions), or is pinned to one version.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import redis

from projections.runtime import PositionMoved, ViewVersionMoved
from projections.versions import READERS, WRITERS

Op = Callable[[Any], Any]
TRANSIENT: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
)
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

POSITIONS = (
    RESOLVE
    + """
local prefix, version = prefix_of(ARGV[1], ARGV[2], KEYS[1])
return {version, redis.call('HGETALL', prefix .. ':positions')}
"""
)


class RedisUnit:
    """Writes queued for one batch, and the position the batch reaches."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.tracked: tuple[str, int, int] | None = None

    def track(self, log: str, after: int, position: int) -> None:
        """Move the log's position from after to position when the unit commits."""
        self.tracked = (log, after, position)


UnitT = TypeVar("UnitT", bound=RedisUnit)


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
        self._place(version or 0)

    @abstractmethod
    def new_unit(self) -> UnitT:
        """A fresh unit of this view's kind, writing under self.prefix."""

    def _place(self, version: int) -> None:
        self.version = version
        self.prefix = version_prefix(self.base, version)
        self.positions_key = positions_key(self.prefix)

    def resolve_args(self) -> list[str]:
        """ARGV[1..2] of a script opening with RESOLVE: the base and the pinned version."""
        return [self.base, "" if self.pinned is None else str(self.pinned)]

    def positions(self) -> dict[str, int]:
        """The last projected position of each log, in the version the view resolves now."""
        version, flat = self._positions(keys=[self.pointer], args=self.resolve_args())
        self._place(int(version))
        return {text(k): int(v) for k, v in zip(flat[::2], flat[1::2], strict=True)}

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitT]:
        """Collect a batch's writes, then apply them and the position in one MULTI/EXEC.

        A view that follows a pointer watches it too: a batch whose version is no longer
        the one the pointer names writes nothing and raises ViewVersionMoved.
        """
        version = self.version
        unit = self.new_unit()
        yield unit
        if unit.tracked is None:
            raise ValueError("a unit of work must track the position it reaches")
        log, after, position = unit.tracked
        following = self.pinned is None
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(self.positions_key, *([self.pointer] if following else []))
                if following:
                    now = int(pipe.get(self.pointer) or 0)
                    if now != version:
                        raise ViewVersionMoved(f"{self.pointer} names v{now}, not v{version}")
                stored = int(pipe.hget(self.positions_key, log) or 0)
                if stored != after:
                    raise PositionMoved(f"{log} is at {stored} in the view, not {after}")
                pipe.multi()
                for op in unit.ops:
                    op(pipe)
                pipe.hset(self.positions_key, log, position)
                pipe.execute()
            except redis.WatchError:
                raise PositionMoved(f"{log} position changed during the batch") from None

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


def text(value: bytes | str) -> str:
    """A Redis reply as text."""
    return value.decode() if isinstance(value, bytes) else value
