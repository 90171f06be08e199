"""The product-detail view in Redis: hashes per product, seller and stock item, plus positions.

Each batch is one MULTI/EXEC under WATCH of the positions hash (see projections.redis_unit),
so data and position change together or not at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import redis

from domain.inventory import stock_item_id
from projections.redis_unit import Op, RedisUnit, RedisView, text


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


class ProductDetailUnit(RedisUnit):
    """The Redis writes of one batch, named for what they mean."""

    def __init__(self, keys: Keys) -> None:
        super().__init__()
        self.keys = keys

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


class RedisProductDetailView(RedisView[ProductDetailUnit]):
    """Writes and reads the product-detail view under one key prefix."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        super().__init__(client, prefix)
        self.keys = Keys(prefix)

    def new_unit(self) -> ProductDetailUnit:
        """A unit for one batch of product-detail writes."""
        return ProductDetailUnit(self.keys)

    def product(self, product_id: UUID) -> dict[str, Any] | None:
        """A product's document with its seller's name and units available, or None."""
        with self.client.pipeline(transaction=False) as pipe:
            pipe.hgetall(self.keys.product(product_id))
            pipe.hgetall(self.keys.stock(stock_item_id(product_id)))
            raw, stock = pipe.execute()
        if not raw:
            return None
        doc = {text(k): _decode(text(k), text(v)) for k, v in raw.items()}
        seller_name = self.client.hget(self.keys.seller(doc["seller_id"]), "name")
        counts = {text(k): text(v) for k, v in stock.items()}
        received, reserved, sold = (int(counts.get(n, 0)) for n in ("received", "reserved", "sold"))
        doc["id"] = str(product_id)
        doc["seller_name"] = text(seller_name) if seller_name is not None else None
        doc["units_available"] = received - reserved - sold
        return doc


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
