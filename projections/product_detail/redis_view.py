"""The product-detail view in Redis: hashes per product, seller and stock item, plus positions.

Each batch is one MULTI/EXEC under WATCH of the positions hash, so data and position
change together or not at all, and a view that lost its data (or was written by another
worker) is noticed before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import redis

from domain.inventory import stock_item_id
from projections.runtime import PositionMoved

Op = Callable[[Any], Any]
TRANSIENT: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
)


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix and view version."""

    prefix: str

    @property
    def positions(self) -> str:
        return f"{self.prefix}:positions"

    def product(self, product_id: UUID | str) -> str:
        return f"{self.prefix}:product:{product_id}"

    def seller(self, seller_id: UUID | str) -> str:
        return f"{self.prefix}:seller:{seller_id}"

    def stock(self, stock_id: UUID | str) -> str:
        return f"{self.prefix}:stock:{stock_id}"


class ProductDetailUnit:
    """The Redis writes of one batch, named for what they mean."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.ops: list[Op] = []
        self.tracked: tuple[str, int, int] | None = None

    def name_seller(self, seller_id: UUID, name: str) -> None:
        """Record a seller's display name."""
        key = self.keys.seller(seller_id)
        self.ops.append(lambda p: p.hset(key, "name", name))

    def suspend_seller(self, seller_id: UUID) -> None:
        """Mark a seller suspended."""
        key = self.keys.seller(seller_id)
        self.ops.append(lambda p: p.hset(key, "suspended", "1"))

    def list_product(self, product_id: UUID, fields: dict[str, Any], version: int) -> None:
        """Create a product's document."""
        self.update_product(product_id, {**fields, "delisted": False}, version)

    def update_product(self, product_id: UUID, fields: dict[str, Any], version: int) -> None:
        """Overwrite some fields of a product's document."""
        key = self.keys.product(product_id)
        mapping = {name: _encode(value) for name, value in fields.items()}
        mapping["version"] = str(version)
        self.ops.append(lambda p: p.hset(key, mapping=mapping))

    def move_stock(self, product_id: UUID, stock_id: UUID, version: int) -> None:
        """Open a product's stock counters at zero."""
        key = self.keys.stock(stock_id)
        mapping = {"product_id": str(product_id), "version": str(version)}
        self.ops.append(lambda p: p.hset(key, mapping=mapping))

    def move_stock_of(
        self, stock_id: UUID, version: int, *, received: int = 0, reserved: int = 0, sold: int = 0
    ) -> None:
        """Add to a stock item's received, reserved and sold counters."""
        key = self.keys.stock(stock_id)
        for name, delta in (("received", received), ("reserved", reserved), ("sold", sold)):
            if delta:
                self.ops.append(_increment(key, name, delta))
        self.ops.append(lambda p: p.hset(key, "version", str(version)))

    def track(self, log: str, after: int, position: int) -> None:
        """Move the log's position from after to position when the unit commits."""
        self.tracked = (log, after, position)


class RedisProductDetailView:
    """Writes and reads the product-detail view under one key prefix."""

    transient_errors = TRANSIENT

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = Keys(prefix)

    def positions(self) -> dict[str, int]:
        """The last projected position of each log."""
        stored = self.client.hgetall(self.keys.positions)
        return {_text(k): int(v) for k, v in stored.items()}

    @contextmanager
    def unit_of_work(self) -> Iterator[ProductDetailUnit]:
        """Collect a batch's writes, then apply them and the position in one transaction."""
        unit = ProductDetailUnit(self.keys)
        yield unit
        if unit.tracked is None:
            raise ValueError("a unit of work must track the position it reaches")
        log, after, position = unit.tracked
        with self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(self.keys.positions)
                stored = int(pipe.hget(self.keys.positions, log) or 0)
                if stored != after:
                    raise PositionMoved(f"{log} is at {stored} in the view, not {after}")
                pipe.multi()
                for op in unit.ops:
                    op(pipe)
                pipe.hset(self.keys.positions, log, position)
                pipe.execute()
            except redis.WatchError:
                raise PositionMoved(f"{log} position changed during the batch") from None

    def product(self, product_id: UUID) -> dict[str, Any] | None:
        """A product's document with its seller's name and units available, or None."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.product(product_id))
            pipe.hgetall(self.keys.stock(stock_item_id(product_id)))
            raw, stock = pipe.execute()
        if not raw:
            return None
        doc = {_text(k): _decode(_text(k), _text(v)) for k, v in raw.items()}
        seller_name = self.client.hget(self.keys.seller(doc["seller_id"]), "name")
        counts = {_text(k): _text(v) for k, v in stock.items()}
        received, reserved, sold = (int(counts.get(n, 0)) for n in ("received", "reserved", "sold"))
        doc["id"] = str(product_id)
        doc["seller_name"] = _text(seller_name) if seller_name is not None else None
        doc["units_available"] = received - reserved - sold
        return doc

    def clear(self) -> None:
        """Delete every key of this view (tests and rebuilds)."""
        for key in self.client.scan_iter(match=f"{self.keys.prefix}:*", count=1000):
            self.client.delete(key)


INTEGER_FIELDS = {"price_minor", "version"}


def _increment(key: str, field: str, delta: int) -> Op:
    return lambda pipe: pipe.hincrby(key, field, delta)


def _encode(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _decode(name: str, value: str) -> Any:
    if name in INTEGER_FIELDS:
        return int(value)
    if name == "delisted":
        return value == "1"
    if name == "attributes":
        return json.loads(value)
    return value


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
