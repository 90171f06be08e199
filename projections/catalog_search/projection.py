"""Turns catalog and inventory events into catalog-search view changes, for either view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol
from uuid import UUID

from domain.product import Product
from domain.seller import Seller
from projections.failures import Policy
from projections.handlers import handles
from projections.product_detail.projection import IMAGE_EVENTS, ImageEvent, gallery_fields
from projections.stock import StockCountersUnit, StockCounting


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


class CatalogSearchUnit(StockCountersUnit, Protocol):
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

    def show_images(self, product_id: UUID, fields: dict[str, Any], version: int) -> None:
        """Merge gallery fields (product_detail.projection.gallery_fields) into a product's."""


class CatalogSearchProjection(StockCounting[CatalogSearchUnit]):
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

    @handles(*IMAGE_EVENTS)
    def show_images(self, event: ImageEvent, unit: CatalogSearchUnit) -> None:
        """Show a product's images in hits as product detail does: in order, each processing,
        ready or failed, with its rendered variants' sizes and URLs."""
        unit.show_images(event.originator_id, gallery_fields(event), event.originator_version)


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
