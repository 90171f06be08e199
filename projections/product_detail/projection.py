"""Turns catalog and inventory events into product-detail view changes."""

from __future__ import annotations

from typing import Any, ClassVar

from domain.cart import Cart
from domain.customer import Customer
from domain.fulfilment import Fulfilment
from domain.inventory import StockItem
from domain.order import Order
from domain.product import Product
from domain.seller import Seller
from projections.product_detail.redis_view import ProductDetailUnit
from projections.runtime import Projection


class ProductDetailProjection(Projection[ProductDetailUnit]):
    """Product details with seller name and units available (received - reserved - sold)."""

    name = "product-detail"
    contexts: ClassVar[tuple[str, ...]] = ("catalog", "inventory")
    ignored: ClassVar[tuple[type, ...]] = (
        Customer.Event,
        Cart.Event,
        Order.Event,
        Fulfilment.Event,
        StockItem.PurchaseLimitSet,
        Seller.AddressSet,
    )
    """Other contexts' events, met when every context shares one log (split_logs off)."""

    def handle(self, event: Any, unit: ProductDetailUnit) -> bool:
        """Apply one event; False if this projection does not know the event."""
        match event:
            case Seller.Registered() | Seller.ProfileUpdated():
                unit.name_seller(event.originator_id, event.name)
            case Seller.Suspended():
                unit.suspend_seller(event.originator_id)
            case Product.Listed():
                unit.list_product(
                    event.originator_id,
                    {
                        "seller_id": str(event.seller_id),
                        "title": event.title,
                        "description": event.description,
                        "category": event.category,
                        "attributes": event.attributes,
                        "price_minor": event.price_minor,
                        "currency": event.currency,
                        "listed_at": event.timestamp.isoformat(),
                    },
                    event.originator_version,
                )
            case Product.DetailsUpdated():
                unit.update_product(
                    event.originator_id,
                    {
                        "title": event.title,
                        "description": event.description,
                        "category": event.category,
                        "attributes": event.attributes,
                    },
                    event.originator_version,
                )
            case Product.PriceChanged():
                unit.update_product(
                    event.originator_id,
                    {"price_minor": event.price_minor, "currency": event.currency},
                    event.originator_version,
                )
            case Product.Delisted():
                unit.update_product(
                    event.originator_id, {"delisted": True}, event.originator_version
                )
            case StockItem.Opened():
                unit.move_stock(event.product_id, event.originator_id, event.originator_version)
            case StockItem.StockReceived():
                unit.move_stock_of(
                    event.originator_id, event.originator_version, received=event.quantity
                )
            case StockItem.StockAdjusted():
                unit.move_stock_of(
                    event.originator_id, event.originator_version, received=event.delta
                )
            case StockItem.UnitsReserved():
                unit.move_stock_of(
                    event.originator_id, event.originator_version, reserved=event.quantity
                )
            case StockItem.ReservationReleased():
                unit.move_stock_of(
                    event.originator_id, event.originator_version, reserved=-event.quantity
                )
            case StockItem.ReservationCommitted():
                unit.move_stock_of(
                    event.originator_id,
                    event.originator_version,
                    reserved=-event.quantity,
                    sold=event.quantity,
                )
            case StockItem.SaleCancelled():
                unit.move_stock_of(
                    event.originator_id, event.originator_version, sold=-event.quantity
                )
            case _:
                return False
        return True
