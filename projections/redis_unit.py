"""What every Redis view shares: queued writes committed with the position under WATCH."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import redis

from projections.runtime import PositionMoved

Op = Callable[[Any], Any]
TRANSIENT: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
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
    """A view whose keys share a prefix and whose positions live in one hash beside them."""

    transient_errors = TRANSIENT

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.positions_key = positions_key(prefix)

    @abstractmethod
    def new_unit(self) -> UnitT:
        """A fresh unit of this view's kind."""

    def positions(self) -> dict[str, int]:
        """The last projected position of each log."""
        stored = self.client.hgetall(self.positions_key)
        return {text(k): int(v) for k, v in stored.items()}

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitT]:
        """Collect a batch's writes, then apply them and the position in one MULTI/EXEC."""
        unit = self.new_unit()
        yield unit
        if unit.tracked is None:
            raise ValueError("a unit of work must track the position it reaches")
        log, after, position = unit.tracked
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(self.positions_key)
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
        """Delete every key of this view (tests and rebuilds)."""
        for key in self.client.scan_iter(match=f"{self.prefix}:*", count=1000):
            self.client.delete(key)


def positions_key(prefix: str) -> str:
    """The hash holding a view's log positions, beside its data under the same prefix."""
    return f"{prefix}:positions"


def text(value: bytes | str) -> str:
    """A Redis reply as text."""
    return value.decode() if isinstance(value, bytes) else value
