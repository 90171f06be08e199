"""Turns cart events into cart-view changes."""

from __future__ import annotations

from typing import ClassVar, Protocol
from uuid import UUID

from domain.cart import Cart
from projections.handlers import handles
from projections.runtime import Projection, Unit


class CartUnit(Unit, Protocol):
    """The writes of one batch of cart events, each recording the cart's version."""

    def open_cart(self, cart_id: UUID, shopper_id: UUID, version: int) -> None:
        """Record a new, empty cart and its shopper."""

    def add_units(self, cart_id: UUID, product_id: UUID, quantity: int, version: int) -> None:
        """Grow a line by quantity."""

    def set_units(self, cart_id: UUID, product_id: UUID, quantity: int, version: int) -> None:
        """Set a line's quantity."""

    def remove_line(self, cart_id: UUID, product_id: UUID, version: int) -> None:
        """Drop a line."""

    def clear_cart(self, cart_id: UUID, version: int) -> None:
        """Drop every line."""


class CartProjection(Projection[CartUnit]):
    """The lines of every cart: product and quantity."""

    name = "carts"
    contexts: ClassVar[tuple[str, ...]] = ("carts",)

    @handles(Cart.Created)
    def open_cart(self, event: Cart.Created, unit: CartUnit) -> None:
        """Start an empty cart for its shopper."""
        unit.open_cart(event.originator_id, event.shopper_id, event.originator_version)

    @handles(Cart.ItemAdded)
    def add_units(self, event: Cart.ItemAdded, unit: CartUnit) -> None:
        """Add units of a product to a cart."""
        unit.add_units(
            event.originator_id, event.product_id, event.quantity, event.originator_version
        )

    @handles(Cart.QuantityChanged)
    def set_units(self, event: Cart.QuantityChanged, unit: CartUnit) -> None:
        """Set how many units of a product a cart holds."""
        unit.set_units(
            event.originator_id, event.product_id, event.quantity, event.originator_version
        )

    @handles(Cart.ItemRemoved)
    def remove_line(self, event: Cart.ItemRemoved, unit: CartUnit) -> None:
        """Take a product's line out of a cart."""
        unit.remove_line(event.originator_id, event.product_id, event.originator_version)

    @handles(Cart.Cleared)
    def clear_cart(self, event: Cart.Cleared, unit: CartUnit) -> None:
        """Empty a cart."""
        unit.clear_cart(event.originator_id, event.originator_version)
