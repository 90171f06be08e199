"""Turns catalog and inventory events into catalog-search view changes, for either view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol
from uuid import UUID

from domain.cart import Cart
from domain.customer import Customer
from domain.fulfilment import Fulfilment
from domain.inventory import StockItem
from domain.order import Order
from domain.product import Product
from domain.seller import Seller
from projections.runtime import Projection, Unit


@dataclass(frozen=True)
class Listing:
    """A product as first listed."""

    product_id: UUID
    seller_id: UUID
    title: str
    description: str
    category: str
    price_minor: int
    currency: str
    listed_at: datetime


class CatalogSearchUnit(Unit, Protocol):
    """The writes of one batch, named for what they mean.

    version is the event's aggregate version: a view applies a change only if that
    aggregate's version in the view is lower, so applying an event twice changes nothing.
    """

    def name_seller(self, seller_id: UUID, name: str, version: int) -> None:
        """Record a seller's display name (shown on each of its products)."""

    def list_product(self, listing: Listing, version: int) -> None:
        """Make a product findable."""

    def describe_product(
        self, product_id: UUID, title: str, description: str, category: str, version: int
    ) -> None:
        """Replace a product's searchable details."""

    def reprice_product(
        self, product_id: UUID, price_minor: int, currency: str, version: int
    ) -> None:
        """Set a product's price."""

    def delist_product(self, product_id: UUID, version: int) -> None:
        """Stop finding a product."""

    def open_stock(self, stock_id: UUID, product_id: UUID, version: int) -> None:
        """Start counting a product's stock at zero."""

    def move_stock(
        self, stock_id: UUID, version: int, *, received: int = 0, reserved: int = 0, sold: int = 0
    ) -> None:
        """Add deltas to a stock item's received, reserved and sold counters."""


class CatalogSearchProjection(Projection[CatalogSearchUnit]):
    """Products with their seller's name and units available (received - reserved - sold)."""

    name = "catalog-search"
    contexts: ClassVar[tuple[str, ...]] = ("catalog", "inventory")
    ignored: ClassVar[tuple[type, ...]] = (
        Customer.Event,
        Cart.Event,
        Order.Event,
        Fulfilment.Event,
        StockItem.PurchaseLimitSet,
        Seller.Suspended,
        Seller.AddressSet,
    )

    def handle(self, event: Any, unit: CatalogSearchUnit) -> bool:
        """Apply one event; False if this projection does not know the event."""
        version = event.originator_version
        match event:
            case Seller.Registered() | Seller.ProfileUpdated():
                unit.name_seller(event.originator_id, event.name, version)
            case Product.Listed():
                unit.list_product(listing(event), version)
            case Product.DetailsUpdated():
                unit.describe_product(
                    event.originator_id, event.title, event.description, event.category, version
                )
            case Product.PriceChanged():
                unit.reprice_product(
                    event.originator_id, event.price_minor, event.currency, version
                )
            case Product.Delisted():
                unit.delist_product(event.originator_id, version)
            case StockItem.Opened():
                unit.open_stock(event.originator_id, event.product_id, version)
            case _:
                return self._move_stock(event, unit)
        return True

    @staticmethod
    def _move_stock(event: Any, unit: CatalogSearchUnit) -> bool:
        stock, version = event.originator_id, event.originator_version
        match event:
            case StockItem.StockReceived():
                unit.move_stock(stock, version, received=event.quantity)
            case StockItem.StockAdjusted():
                unit.move_stock(stock, version, received=event.delta)
            case StockItem.UnitsReserved():
                unit.move_stock(stock, version, reserved=event.quantity)
            case StockItem.ReservationReleased():
                unit.move_stock(stock, version, reserved=-event.quantity)
            case StockItem.ReservationCommitted():
                unit.move_stock(stock, version, reserved=-event.quantity, sold=event.quantity)
            case StockItem.SaleCancelled():
                unit.move_stock(stock, version, sold=-event.quantity)
            case _:
                return False
        return True


def listing(event: Product.Listed) -> Listing:
    """The listing a Listed event describes."""
    return Listing(
        product_id=event.originator_id,
        seller_id=event.seller_id,
        title=event.title,
        description=event.description,
        category=event.category,
        price_minor=event.price_minor,
        currency=event.currency,
        listed_at=event.timestamp,
    )
