"""Catalog context: sellers and the products they list."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from uuid import UUID, uuid5

from commands.access import require_owner
from commands.base import ContextApplication, Outcome
from domain.base import Context
from domain.errors import RuleViolated
from domain.money import Money
from domain.product import Product
from domain.product_images import Gallery
from domain.seller import Seller


class CatalogApplication(ContextApplication):
    """Registers sellers and lists, updates, reprices and delists their products."""

    name = "catalog"

    def register_seller(self, seller_id: UUID, name: str, email: str, ctx: Context) -> Outcome:
        """Register a seller; the actor registers itself unless an admin acts."""
        require_owner(ctx, seller_id)
        return self.create(Seller.register(seller_id, name, email, ctx))

    def update_seller_profile(
        self, seller_id: UUID, name: str, email: str, ctx: Context, expected_version: int | None
    ) -> Outcome:
        """Change a seller's name and email."""
        require_owner(ctx, seller_id)
        return self.change(
            seller_id, Seller, lambda s: s.update_profile(name, email, ctx), expected_version
        )

    def set_seller_address(
        self,
        seller_id: UUID,
        address: Mapping[str, str],
        ctx: Context,
        expected_version: int | None = None,
    ) -> Outcome:
        """Set the address a seller ships from."""
        require_owner(ctx, seller_id)
        return self.change(
            seller_id, Seller, lambda s: s.set_address(address, ctx), expected_version
        )

    def suspend_seller(self, seller_id: UUID, reason: str, ctx: Context) -> Outcome:
        """Suspend a seller (admin only, checked at the edge)."""
        return self.change(seller_id, Seller, lambda s: s.suspend(reason, ctx))

    def list_product(
        self,
        product_id: UUID,
        seller_id: UUID,
        title: str,
        description: str,
        category: str,
        attributes: dict[str, str],
        price: Money,
        ctx: Context,
    ) -> Outcome:
        """List a product for an active seller."""
        require_owner(ctx, seller_id)
        seller = self.load(seller_id, Seller)
        if seller.suspended:
            raise RuleViolated("a suspended seller cannot list products")
        product = Product.list(
            product_id, seller_id, title, description, category, attributes, price, ctx
        )
        return self.create(product)

    def update_product(
        self,
        product_id: UUID,
        title: str,
        description: str,
        category: str,
        attributes: dict[str, str],
        ctx: Context,
        expected_version: int | None,
    ) -> Outcome:
        """Replace a product's details."""
        return self._change_own_product(
            product_id,
            ctx,
            lambda p: p.update_details(title, description, category, attributes, ctx),
            expected_version,
        )

    def reprice_product(
        self, product_id: UUID, price: Money, ctx: Context, expected_version: int | None
    ) -> Outcome:
        """Set a product's price."""
        return self._change_own_product(
            product_id, ctx, lambda p: p.change_price(price, ctx), expected_version
        )

    def delist_product(
        self, product_id: UUID, reason: str, ctx: Context, expected_version: int | None
    ) -> Outcome:
        """Take a product off sale."""
        return self._change_own_product(
            product_id, ctx, lambda p: p.delist(reason, ctx), expected_version
        )

    def image_room(self, product_id: UUID, content_hash: str, limit: int, ctx: Context) -> UUID:
        """The id an upload of these bytes gets, once the actor may add it to the product and
        the product has room for it (checked again when it is added)."""
        product = self.product_owned_by_actor(product_id, ctx)
        image_id = product_image_id(product_id, content_hash)
        if product.delisted:
            raise RuleViolated("product is delisted")
        product.gallery.require_room(image_id, limit)
        return image_id

    def add_product_image(
        self,
        product_id: UUID,
        blob_key: str,
        original: tuple[str, str, int, int, int],
        limit: int,
        ctx: Context,
    ) -> Outcome:
        """Add an uploaded original (hash, type, width, height, bytes) stored at blob_key;
        the same bytes again change nothing."""
        image_id = product_image_id(product_id, original[0])
        return self._change_own_product(
            product_id, ctx, lambda p: p.add_image(image_id, blob_key, original, limit, ctx)
        )

    def reorder_product_images(
        self, product_id: UUID, image_ids: list[UUID], ctx: Context, expected_version: int | None
    ) -> Outcome:
        """Show a product's images in a new order."""
        return self._change_own_product(
            product_id, ctx, lambda p: p.reorder_images(image_ids, ctx), expected_version
        )

    def remove_product_image(
        self, product_id: UUID, image_id: UUID, ctx: Context, expected_version: int | None
    ) -> Outcome:
        """Remove one of a product's images."""
        return self._change_own_product(
            product_id, ctx, lambda p: p.remove_image(image_id, ctx), expected_version
        )

    def gallery(self, product_id: UUID) -> Gallery:
        """The product's images as the store has them now (for the image worker)."""
        return self.load(product_id, Product).gallery

    def record_image_variants(
        self,
        product_id: UUID,
        image_id: UUID,
        variants: Sequence[tuple[str, tuple[int, int], dict[str, str]]],
        ctx: Context,
    ) -> Outcome:
        """Record an image's rendered variants (name, size, rendition keys) in one append;
        those already recorded are left alone."""

        def record(product: Product) -> None:
            for name, size, renditions in variants:
                product.record_variant(image_id, name, size, renditions, ctx)

        return self.change(product_id, Product, record)

    def fail_product_image(
        self, product_id: UUID, image_id: UUID, reason: str, ctx: Context
    ) -> Outcome:
        """Record that an image cannot be rendered, and why; once."""
        return self.change(product_id, Product, lambda p: p.fail_image(image_id, reason, ctx))

    def product_owned_by_actor(self, product_id: UUID, ctx: Context) -> Product:
        """Load a product and check that the actor may change it."""
        product = self.recent(product_id, Product)
        require_owner(ctx, product.seller_id)
        return product

    def _change_own_product(
        self,
        product_id: UUID,
        ctx: Context,
        decide: Callable[[Product], None],
        expected_version: int | None = None,
    ) -> Outcome:
        """Apply decide() to a product the actor may change (product_owned_by_actor)."""
        self.product_owned_by_actor(product_id, ctx)
        return self.change(product_id, Product, decide, expected_version)

    def listed_product(self, product_id: UUID) -> Product:
        """A product that is on sale, as read at most RECENT_SECONDS ago.

        Carts check this on every change; a product delisted a moment ago may still be
        added for that long, and checkout checks again against the store.
        """
        product = self.recent(product_id, Product)
        if product.delisted:
            raise RuleViolated("product is delisted")
        return product

    def active_seller(self, seller_id: UUID) -> Seller:
        """A seller that is not suspended, as read at most RECENT_SECONDS ago."""
        seller = self.recent(seller_id, Seller)
        if seller.suspended:
            raise RuleViolated("the seller is suspended")
        return seller


IMAGE_ID_NAMESPACE = UUID("3b1f6c52-8d0e-4f7a-b2c9-5e4d6a7f8091")


def product_image_id(product_id: UUID, content_hash: str) -> UUID:
    """An image's id: the same bytes uploaded to the same product are the same image."""
    return uuid5(IMAGE_ID_NAMESPACE, f"{product_id}/{content_hash}")
