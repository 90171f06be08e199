"""Turns catalog and inventory events into catalog-search view changes, for either view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol
from uuid import UUID

from domain.inventory import StockItem
from domain.product import Product
from domain.seller import Seller
from projections.failures import Policy
from projections.handlers import handles
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
    failure_policy = Policy.PARK
    """A product missing from search until its event is retried beats a search that stops."""

    @handles(Seller.Registered, Seller.ProfileUpdated)
    def name_seller(
        self, event: Seller.Registered | Seller.ProfileUpdated, unit: CatalogSearchUnit
    ) -> None:
        """Show a seller's (new) name on its products."""
        unit.name_seller(event.originator_id, event.name, event.originator_version)

    @handles(Product.Listed)
    def list_product(self, event: Product.Listed, unit: CatalogSearchUnit) -> None:
        """Make a listed product findable."""
        unit.list_product(listing(event), event.originator_version)

    @handles(Product.DetailsUpdated)
    def describe_product(self, event: Product.DetailsUpdated, unit: CatalogSearchUnit) -> None:
        """Replace a product's searchable details."""
        unit.describe_product(
            event.originator_id,
            event.title,
            event.description,
            event.category,
            event.originator_version,
        )

    @handles(Product.PriceChanged)
    def reprice_product(self, event: Product.PriceChanged, unit: CatalogSearchUnit) -> None:
        """Set a product's price."""
        unit.reprice_product(
            event.originator_id, event.price_minor, event.currency, event.originator_version
        )

    @handles(Product.Delisted)
    def delist_product(self, event: Product.Delisted, unit: CatalogSearchUnit) -> None:
        """Stop finding a delisted product."""
        unit.delist_product(event.originator_id, event.originator_version)

    @handles(StockItem.Opened)
    def open_stock(self, event: StockItem.Opened, unit: CatalogSearchUnit) -> None:
        """Start counting a product's stock at zero."""
        unit.open_stock(event.originator_id, event.product_id, event.originator_version)

    @handles(StockItem.StockReceived)
    def receive_stock(self, event: StockItem.StockReceived, unit: CatalogSearchUnit) -> None:
        """Count received units."""
        unit.move_stock(event.originator_id, event.originator_version, received=event.quantity)

    @handles(StockItem.StockAdjusted)
    def adjust_stock(self, event: StockItem.StockAdjusted, unit: CatalogSearchUnit) -> None:
        """Correct the received count by the adjustment."""
        unit.move_stock(event.originator_id, event.originator_version, received=event.delta)

    @handles(StockItem.UnitsReserved)
    def reserve_units(self, event: StockItem.UnitsReserved, unit: CatalogSearchUnit) -> None:
        """Count reserved units."""
        unit.move_stock(event.originator_id, event.originator_version, reserved=event.quantity)

    @handles(StockItem.ReservationReleased)
    def release_units(self, event: StockItem.ReservationReleased, unit: CatalogSearchUnit) -> None:
        """Uncount units whose reservation was released."""
        unit.move_stock(event.originator_id, event.originator_version, reserved=-event.quantity)

    @handles(StockItem.ReservationCommitted)
    def sell_units(self, event: StockItem.ReservationCommitted, unit: CatalogSearchUnit) -> None:
        """Move committed units from reserved to sold."""
        unit.move_stock(
            event.originator_id,
            event.originator_version,
            reserved=-event.quantity,
            sold=event.quantity,
        )

    @handles(StockItem.SaleCancelled)
    def unsell_units(self, event: StockItem.SaleCancelled, unit: CatalogSearchUnit) -> None:
        """Uncount units whose sale was cancelled."""
        unit.move_stock(event.originator_id, event.originator_version, sold=-event.quantity)


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
