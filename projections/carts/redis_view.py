"""The carts view in Redis: one hash of product -> quantity per cart, and its owner."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any
from uuid import UUID

import redis

from projections.carts.projection import CartProjection, CartUnit
from projections.completeness import ViewIncomplete
from projections.stores.redis.unit import READ_COMPLETE, RedisUnit, RedisView, ScriptClient, text
from projections.versions import WRITERS


@dataclass(frozen=True)
class CartLines:
    """A cart as projected: its shopper, its lines and the version it reflects."""

    cart_id: UUID
    shopper_id: UUID
    version: int
    lines: dict[UUID, int]


class RedisCartUnit(RedisUnit, CartUnit):
    """The Redis writes of one batch of cart events (a CartUnit)."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def open_cart(self, cart_id: UUID, shopper_id: UUID, version: int) -> None:
        """Record a new, empty cart and its shopper."""
        mapping = {"shopper_id": str(shopper_id), "version": str(version)}
        self.writes.hset(_meta(self.prefix, cart_id), mapping)

    def add_units(self, cart_id: UUID, product_id: UUID, quantity: int, version: int) -> None:
        """Grow a line by quantity."""
        self.writes.hincrby(_lines(self.prefix, cart_id), str(product_id), quantity)
        self._version(cart_id, version)

    def set_units(self, cart_id: UUID, product_id: UUID, quantity: int, version: int) -> None:
        """Set a line's quantity."""
        self.writes.hset(_lines(self.prefix, cart_id), {str(product_id): quantity})
        self._version(cart_id, version)

    def remove_line(self, cart_id: UUID, product_id: UUID, version: int) -> None:
        """Drop a line."""
        self.writes.hdel(_lines(self.prefix, cart_id), str(product_id))
        self._version(cart_id, version)

    def clear_cart(self, cart_id: UUID, version: int) -> None:
        """Drop every line."""
        self.writes.delete(_lines(self.prefix, cart_id))
        self._version(cart_id, version)

    def _version(self, cart_id: UUID, version: int) -> None:
        self.writes.hset(_meta(self.prefix, cart_id), {"version": str(version)})


class RedisCartView(RedisView[RedisCartUnit]):
    """Writes and reads the carts view under one key prefix (cart_async: on async_client)."""

    def __init__(
        self,
        client: redis.Redis,
        base: str,
        async_client: ScriptClient | None = None,
        *,
        follows: str = WRITERS,
        version: int | None = None,
    ) -> None:
        super().__init__(client, base, follows=follows, version=version)
        self._read_async = None if async_client is None else async_client.register_script(READ_CART)

    @cached_property
    def _read(self) -> Any:
        return self.client.register_script(READ_CART)

    def new_unit(self) -> RedisCartUnit:
        """A unit for one batch of cart writes."""
        return RedisCartUnit(self.prefix)

    def cart(self, cart_id: UUID) -> CartLines | None:
        """A cart's shopper and lines, or None if the view has no such cart.

        ViewIncomplete if the version read is not complete (projections.completeness).
        """
        return self._lines(cart_id, self._read(keys=[self.pointer], args=self._args(cart_id)))

    async def cart_async(self, cart_id: UUID) -> CartLines | None:
        """As cart(), on the async client: the event loop waits, no thread does."""
        if self._read_async is None:
            raise RuntimeError("this view was built without an async client")
        return self._lines(
            cart_id, await self._read_async(keys=[self.pointer], args=self._args(cart_id))
        )

    def _args(self, cart_id: UUID) -> list[str]:
        return [*self.resolve_args(), str(cart_id)]

    def _lines(self, cart_id: UUID, reply: Any) -> CartLines | None:
        if isinstance(reply, int):
            raise ViewIncomplete(CartProjection.name)
        flat_meta, flat_lines = reply
        meta = dict(zip(flat_meta[::2], flat_meta[1::2], strict=True))
        lines = dict(zip(flat_lines[::2], flat_lines[1::2], strict=True))
        if not meta:
            return None
        fields = {text(k): text(v) for k, v in meta.items()}
        return CartLines(
            cart_id=cart_id,
            shopper_id=UUID(fields["shopper_id"]),
            version=int(fields["version"]),
            lines={UUID(text(k)): int(v) for k, v in lines.items()},
        )


# The version's prefix (from the pin or the pointer), then the cart's meta and lines hashes,
# in one atomic script (the data keys depend on the pointer, so they are not in KEYS).
READ_CART = (
    READ_COMPLETE
    + """
return {
  redis.call('HGETALL', prefix .. ':cart:' .. ARGV[3]),
  redis.call('HGETALL', prefix .. ':cart-lines:' .. ARGV[3]),
}
"""
)


def _meta(prefix: str, cart_id: UUID) -> str:
    return f"{prefix}:cart:{cart_id}"


def _lines(prefix: str, cart_id: UUID) -> str:
    return f"{prefix}:cart-lines:{cart_id}"
