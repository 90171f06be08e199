"""Turns catalog and inventory events into product-detail view changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol
from uuid import UUID

from domain.inventory import StockItem
from domain.product import Product
from domain.product_images import VARIANTS
from domain.seller import Seller
from projections.handlers import handles
from projections.stock import StockCountersUnit, StockCounting


def units_available(received: int, reserved: int, sold: int) -> int:
    """Units a product's stock item can still sell: received - reserved - sold.

    Every read model computes it here (the Redis read script too: a test pins it to this).
    """
    return received - reserved - sold


def image_url(key: str) -> str:
    """The query API's path of a rendition's blob key (images/<sha256>.<ext>)."""
    return f"/{key}"


def variant_field(image_id: UUID | str, name: str) -> str:
    """The product field holding one variant of an image (or `failed`, its failure)."""
    return f"image:{image_id}:{name}"


def gallery(fields: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A product's images as its document shows them, from its fields: in order, each
    processing, ready (every variant rendered) or failed, with the variants rendered so far.

    The Redis read script renders the same (READ_PRODUCT_JSON; a test pins the two).
    """
    images = []
    for image_id in fields.get("images", []):
        variants = {
            name: fields[variant_field(image_id, name)]
            for name in VARIANTS
            if variant_field(image_id, name) in fields
        }
        status = "ready" if len(variants) == len(VARIANTS) else "processing"
        if variant_field(image_id, "failed") in fields:
            status = "failed"
        images.append({"id": image_id, "status": status, "variants": variants})
    return images


ImageEvent = (
    Product.ImageAdded
    | Product.ImageRemoved
    | Product.ImagesReordered
    | Product.ImageVariantRendered
    | Product.ImageFailed
)
IMAGE_EVENTS = (
    Product.ImageAdded,
    Product.ImageRemoved,
    Product.ImagesReordered,
    Product.ImageVariantRendered,
    Product.ImageFailed,
)
"""The events that change what gallery() shows."""


def gallery_fields(event: ImageEvent) -> dict[str, Any]:
    """The product fields an image event sets, each replacing its previous value, from which
    gallery() renders the images: every view that shows images stores these."""
    if isinstance(event, Product.ImageVariantRendered):
        urls = {fmt: image_url(key) for fmt, key in sorted(event.renditions.items())}
        return {
            variant_field(event.image_id, event.variant): {
                "width": event.width,
                "height": event.height,
                **urls,
            }
        }
    if isinstance(event, Product.ImageFailed):
        return {variant_field(event.image_id, "failed"): event.reason}
    return {"images": list(event.image_ids)}


class ProductDetailUnit(StockCountersUnit, Protocol):
    """The writes of one batch, named for what they mean.

    version is the event's aggregate version, recorded with the product or stock item.
    """

    def name_seller(self, seller_id: UUID, name: str) -> None:
        """Record a seller's display name."""

    def suspend_seller(self, seller_id: UUID) -> None:
        """Mark a seller suspended."""

    def list_product(self, product_id: UUID, fields: dict[str, Any], version: int) -> None:
        """Create a product's document."""

    def update_product(self, product_id: UUID, fields: dict[str, Any], version: int) -> None:
        """Overwrite some fields of a product's document."""

    def settle_claim(self, stock_id: UUID, order_id: UUID) -> None:
        """Drop the checkout claim that the order's reservation, now counted, replaces."""


class ProductDetailProjection(StockCounting[ProductDetailUnit]):
    """Product details with seller name and units available (received - reserved - sold)."""

    name = "product-detail"
    contexts: ClassVar[tuple[str, ...]] = ("catalog", "inventory")

    @handles(Seller.Registered, Seller.ProfileUpdated)
    def name_seller(
        self, event: Seller.Registered | Seller.ProfileUpdated, unit: ProductDetailUnit
    ) -> None:
        """Show a seller's (new) name on its products."""
        unit.name_seller(event.originator_id, event.name)

    @handles(Seller.Suspended)
    def suspend_seller(self, event: Seller.Suspended, unit: ProductDetailUnit) -> None:
        """Mark a seller suspended."""
        unit.suspend_seller(event.originator_id)

    @handles(StockItem.UnitsReserved)
    def reserve_units(self, event: StockItem.UnitsReserved, unit: ProductDetailUnit) -> None:
        """Count the reserved units, and settle the order's checkout claim on them in the
        same batch, so that they never count twice (projections.product_detail.claims)."""
        self.move_stock(event, unit)
        unit.settle_claim(event.originator_id, event.order_id)

    @handles(Product.Listed)
    def list_product(self, event: Product.Listed, unit: ProductDetailUnit) -> None:
        """Show a listed product."""
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

    @handles(Product.DetailsUpdated)
    def describe_product(self, event: Product.DetailsUpdated, unit: ProductDetailUnit) -> None:
        """Replace a product's details."""
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

    @handles(Product.PriceChanged)
    def reprice_product(self, event: Product.PriceChanged, unit: ProductDetailUnit) -> None:
        """Set a product's price."""
        unit.update_product(
            event.originator_id,
            {"price_minor": event.price_minor, "currency": event.currency},
            event.originator_version,
        )

    @handles(Product.Delisted)
    def delist_product(self, event: Product.Delisted, unit: ProductDetailUnit) -> None:
        """Mark a product as delisted."""
        unit.update_product(event.originator_id, {"delisted": True}, event.originator_version)

    @handles(*IMAGE_EVENTS)
    def show_images(self, event: ImageEvent, unit: ProductDetailUnit) -> None:
        """Show the product's images in their order (a new one as processing), each rendered
        variant's size and URLs, or an image's failure."""
        unit.update_product(event.originator_id, gallery_fields(event), event.originator_version)
