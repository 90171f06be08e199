"""Product: an item a seller lists, with its details and price."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from domain.base import Context, MarketplaceAggregate
from domain.errors import InvalidValue, RuleViolated
from domain.money import Money
from domain.product_images import (
    Gallery,
    GalleryImage,
    checked_original,
    checked_variant,
)
from domain.text import bounded

MAX_ATTRIBUTES = 30


class Product(MarketplaceAggregate):
    """A listed product; once delisted it cannot change again.

    Its gallery holds at most the limit the command names; the image worker's variants and
    failures are recorded whatever the product's state, and each at most once.
    """

    class Listed(MarketplaceAggregate.Created):
        seller_id: UUID
        title: str
        description: str
        category: str
        attributes: dict[str, str]
        price_minor: int
        currency: str

    class DetailsUpdated(MarketplaceAggregate.Event):
        title: str
        description: str
        category: str
        attributes: dict[str, str]

        def apply(self, product: Product) -> None:
            product.title = self.title
            product.description = self.description
            product.category = self.category
            product.attributes = dict(self.attributes)

    class PriceChanged(MarketplaceAggregate.Event):
        price_minor: int
        currency: str

        def apply(self, product: Product) -> None:
            product.price = Money(self.price_minor, self.currency)

    class Delisted(MarketplaceAggregate.Event):
        reason: str

        def apply(self, product: Product) -> None:
            product.delisted = True

    class ImageAdded(MarketplaceAggregate.Event):
        image_id: UUID
        blob_key: str
        content_hash: str
        content_type: str
        width: int
        height: int
        size_bytes: int
        image_ids: list[str]
        """The product's images after it, in display order (this one last)."""

        def apply(self, product: Product) -> None:
            product.gallery.images[self.image_id] = GalleryImage(self.content_hash)

    class ImagesReordered(MarketplaceAggregate.Event):
        image_ids: list[str]

        def apply(self, product: Product) -> None:
            product.gallery.reorder(self.image_ids)

    class ImageRemoved(MarketplaceAggregate.Event):
        image_id: UUID
        image_ids: list[str]
        """The product's images after it, in display order."""

        def apply(self, product: Product) -> None:
            product.gallery.images.pop(self.image_id, None)

    class ImageVariantRendered(MarketplaceAggregate.Event):
        image_id: UUID
        variant: str
        width: int
        height: int
        renditions: dict[str, str]
        """The blob key of each format's rendition, by format."""

        def apply(self, product: Product) -> None:
            product.gallery.images[self.image_id].variants.add(self.variant)

    class ImageFailed(MarketplaceAggregate.Event):
        image_id: UUID
        reason: str

        def apply(self, product: Product) -> None:
            product.gallery.images[self.image_id].failure = self.reason

    def __init__(
        self,
        seller_id: UUID,
        title: str,
        description: str,
        category: str,
        attributes: dict[str, str],
        price_minor: int,
        currency: str,
    ) -> None:
        self.seller_id = seller_id
        self.title = title
        self.description = description
        self.category = category
        self.attributes = dict(attributes)
        self.price = Money(price_minor, currency)
        self.delisted = False
        self.gallery = Gallery()

    @classmethod
    def list(
        cls,
        product_id: UUID,
        seller_id: UUID,
        title: str,
        description: str,
        category: str,
        attributes: dict[str, str],
        price: Money,
        ctx: Context,
    ) -> Product:
        """List a new product for a seller at a positive price."""
        _require_positive(price)
        return cls._start(
            cls.Listed,
            product_id,
            ctx,
            seller_id=seller_id,
            price_minor=price.minor,
            currency=price.currency,
            **_details(title, description, category, attributes),
        )

    def update_details(
        self, title: str, description: str, category: str, attributes: dict[str, str], ctx: Context
    ) -> None:
        """Replace the product's descriptive details."""
        self._require_listed()
        self._emit(self.DetailsUpdated, ctx, **_details(title, description, category, attributes))

    def change_price(self, price: Money, ctx: Context) -> None:
        """Set a new positive price; the same price changes nothing."""
        self._require_listed()
        _require_positive(price)
        if price != self.price:
            self._emit(self.PriceChanged, ctx, price_minor=price.minor, currency=price.currency)

    def delist(self, reason: str, ctx: Context) -> None:
        """Take the product off sale; delisting twice changes nothing."""
        if not self.delisted:
            self._emit(self.Delisted, ctx, reason=bounded("reason", reason, 500, allow_empty=True))

    def add_image(
        self,
        image_id: UUID,
        blob_key: str,
        original: tuple[str, str, int, int, int],
        limit: int,
        ctx: Context,
    ) -> None:
        """Add an image (original: hash, type, width, height, bytes) unless the product has
        it already; at most limit images."""
        self._require_listed()
        content_hash, content_type, width, height, size_bytes = original
        checked_original(content_hash, content_type, width, height)
        if image_id in self.gallery.images:
            return
        self.gallery.require_room(image_id, limit)
        self._emit(
            self.ImageAdded,
            ctx,
            image_id=image_id,
            blob_key=blob_key,
            content_hash=content_hash,
            content_type=content_type,
            width=width,
            height=height,
            size_bytes=size_bytes,
            image_ids=[*map(str, self.gallery.images), str(image_id)],
        )

    def reorder_images(self, image_ids: Sequence[UUID], ctx: Context) -> None:
        """Show the images in this order, which names each exactly once; the same order is
        no change."""
        self._require_listed()
        order = self.gallery.checked_order(image_ids)
        if order != [str(image_id) for image_id in self.gallery.images]:
            self._emit(self.ImagesReordered, ctx, image_ids=order)

    def remove_image(self, image_id: UUID, ctx: Context) -> None:
        """Remove one of the product's images."""
        self._require_listed()
        self.gallery.require(image_id)
        rest = [str(other) for other in self.gallery.images if other != image_id]
        self._emit(self.ImageRemoved, ctx, image_id=image_id, image_ids=rest)

    def record_variant(
        self,
        image_id: UUID,
        variant: str,
        size: tuple[int, int],
        renditions: dict[str, str],
        ctx: Context,
    ) -> None:
        """Record a rendered variant of an image the product still has; once per variant."""
        checked_variant(variant, *size, renditions)
        image = self.gallery.images.get(image_id)
        if image is None or image.failure is not None or variant in image.variants:
            return
        width, height = size
        self._emit(
            self.ImageVariantRendered,
            ctx,
            image_id=image_id,
            variant=variant,
            width=width,
            height=height,
            renditions=dict(renditions),
        )

    def fail_image(self, image_id: UUID, reason: str, ctx: Context) -> None:
        """Record that an image the product still has cannot be rendered; once."""
        image = self.gallery.images.get(image_id)
        if image is None or image.settled:
            return
        self._emit(self.ImageFailed, ctx, image_id=image_id, reason=_reason(reason))

    def _require_listed(self) -> None:
        if self.delisted:
            raise RuleViolated("product is delisted")


def _reason(reason: str) -> str:
    return " ".join(reason.split())[:500] or "unreadable image"


def _require_positive(price: Money) -> None:
    if price.minor <= 0:
        raise InvalidValue("price must be positive")


def _details(
    title: str, description: str, category: str, attributes: dict[str, str]
) -> dict[str, object]:
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidValue(f"a product has at most {MAX_ATTRIBUTES} attributes")
    return {
        "title": bounded("title", title, 200),
        "description": bounded("description", description, 5000, allow_empty=True, multiline=True),
        "category": bounded("category", category, 80),
        "attributes": {
            bounded("attribute name", k, 50): bounded("attribute value", v, 200)
            for k, v in attributes.items()
        },
    }
