"""The carts view in Redis: one hash of product -> quantity per cart, and its owner."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from projections.redis_unit import RedisUnit, RedisView, text


@dataclass(frozen=True)
class CartLines:
    """A cart as projected: its shopper, its lines and the version it reflects."""

    cart_id: UUID
    shopper_id: UUID
    version: int
    lines: dict[UUID, int]


class CartUnit(RedisUnit):
    """The Redis writes of one batch of cart events."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def open_cart(self, cart_id: UUID, shopper_id: UUID, version: int) -> None:
        """Record a new, empty cart and its shopper."""
        meta = _meta(self.prefix, cart_id)
        mapping = {"shopper_id": str(shopper_id), "version": str(version)}
        self.ops.append(lambda p: p.hset(meta, mapping=mapping))

    def add_units(self, cart_id: UUID, product_id: UUID, quantity: int, version: int) -> None:
        """Grow a line by quantity."""
        lines = _lines(self.prefix, cart_id)
        self.ops.append(lambda p: p.hincrby(lines, str(product_id), quantity))
        self._version(cart_id, version)

    def set_units(self, cart_id: UUID, product_id: UUID, quantity: int, version: int) -> None:
        """Set a line's quantity."""
        lines = _lines(self.prefix, cart_id)
        self.ops.append(lambda p: p.hset(lines, str(product_id), quantity))
        self._version(cart_id, version)

    def remove_line(self, cart_id: UUID, product_id: UUID, version: int) -> None:
        """Drop a line."""
        lines = _lines(self.prefix, cart_id)
        self.ops.append(lambda p: p.hdel(lines, str(product_id)))
        self._version(cart_id, version)

    def clear_cart(self, cart_id: UUID, version: int) -> None:
        """Drop every line."""
        lines = _lines(self.prefix, cart_id)
        self.ops.append(lambda p: p.delete(lines))
        self._version(cart_id, version)

    def _version(self, cart_id: UUID, version: int) -> None:
        meta = _meta(self.prefix, cart_id)
        self.ops.append(lambda p: p.hset(meta, "version", str(version)))


class RedisCartView(RedisView[CartUnit]):
    """Writes and reads the carts view under one key prefix."""

    def new_unit(self) -> CartUnit:
        """A unit for one batch of cart writes."""
        return CartUnit(self.prefix)

    def cart(self, cart_id: UUID) -> CartLines | None:
        """A cart's shopper and lines, or None if the view has no such cart."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(_meta(self.prefix, cart_id))
            pipe.hgetall(_lines(self.prefix, cart_id))
            meta, lines = pipe.execute()
        if not meta:
            return None
        fields = {text(k): text(v) for k, v in meta.items()}
        return CartLines(
            cart_id=cart_id,
            shopper_id=UUID(fields["shopper_id"]),
            version=int(fields["version"]),
            lines={UUID(text(k)): int(v) for k, v in lines.items()},
        )


def _meta(prefix: str, cart_id: UUID) -> str:
    return f"{prefix}:cart:{cart_id}"


def _lines(prefix: str, cart_id: UUID) -> str:
    return f"{prefix}:cart-lines:{cart_id}"
