"""Turns cart events into cart-view changes."""

from __future__ import annotations

from typing import ClassVar

from domain.cart import Cart
from projections.carts.redis_view import CartUnit
from projections.handlers import handles
from projections.runtime import Projection


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
