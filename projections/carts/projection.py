"""Turns cart events into cart-view changes."""

from __future__ import annotations

from typing import Any, ClassVar

from domain.cart import Cart
from domain.customer import Customer
from domain.fulfilment import Fulfilment
from domain.inventory import StockItem
from domain.order import Order
from domain.product import Product
from domain.seller import Seller
from projections.carts.redis_view import CartUnit
from projections.runtime import Projection


class CartProjection(Projection[CartUnit]):
    """The lines of every cart: product and quantity."""

    name = "carts"
    contexts: ClassVar[tuple[str, ...]] = ("carts",)
    ignored: ClassVar[tuple[type, ...]] = (
        Seller.Event,
        Product.Event,
        StockItem.Event,
        Customer.Event,
        Order.Event,
        Fulfilment.Event,
    )

    def handle(self, event: Any, unit: CartUnit) -> bool:
        """Apply one cart event; False for any other event."""
        cart = event.originator_id
        match event:
            case Cart.Created():
                unit.open_cart(cart, event.shopper_id, event.originator_version)
            case Cart.ItemAdded():
                unit.add_units(cart, event.product_id, event.quantity, event.originator_version)
            case Cart.QuantityChanged():
                unit.set_units(cart, event.product_id, event.quantity, event.originator_version)
            case Cart.ItemRemoved():
                unit.remove_line(cart, event.product_id, event.originator_version)
            case Cart.Cleared():
                unit.clear_cart(cart, event.originator_version)
            case _:
                return False
        return True
