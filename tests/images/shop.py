"""A catalog with product images, set up through the commands as the command API would."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from commands.services import Commands
from domain.base import Context
from domain.money import Money
from domain.product import Product
from infra.blobs import BlobStore, blob_store
from infra.eventstore import eventsourcing_env
from infra.images.check import checked_image
from infra.settings import BlobSettings, Settings

LIMIT = 100


def admin() -> Context:
    """An admin's audit context, now."""
    return Context(datetime.now(UTC), str(uuid.uuid4()), "admin", "setup", "setup", "setup")


def image_settings(postgres_url: str, data: Path, blobs: BlobSettings | None = None) -> Settings:
    """Settings for the image worker on this PostgreSQL and blob store."""
    return Settings(
        environment="test",
        data_dir=data,
        postgres={"url": postgres_url},
        blobs=blobs or BlobSettings(local_dir=data / "blobs"),
    )


@dataclass
class ImageShop:
    """A seller's product and the blob store its originals go to."""

    commands: Commands
    blobs: BlobStore
    product_id: uuid.UUID

    def add(self, data: bytes, product_id: uuid.UUID | None = None) -> uuid.UUID:
        """Store an original and record it as the upload route does; its image id."""
        product = product_id or self.product_id
        checked = checked_image(io.BytesIO(data), 10 * 1024 * 1024, 40_000_000)
        return self.add_unchecked(
            data, checked.content_type, (checked.width, checked.height), product
        )

    def add_unchecked(
        self,
        data: bytes,
        content_type: str,
        size: tuple[int, int],
        product_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Record bytes as an image without checking them (as if they slipped past)."""
        product = product_id or self.product_id
        digest = hashlib.sha256(data).hexdigest()
        key = f"originals/{product}/{digest}"
        self.blobs.put(key, data, content_type)
        original = (digest, content_type, *size, len(data))
        catalog = self.commands.catalog
        catalog.add_product_image(product, key, original, LIMIT, admin())
        return next(reversed(catalog.gallery(product).images))

    def new_product(self) -> uuid.UUID:
        """Another product of the same seller."""
        seller = self.commands.catalog.load(self.product_id, Product).seller_id
        product_id = uuid.uuid4()
        self.commands.catalog.list_product(
            product_id, seller, "Mug", "", "kitchen", {}, Money(900, "EUR"), admin()
        )
        return product_id

    def events(self, product_id: uuid.UUID | None = None) -> list[Any]:
        """The product's events, in order."""
        store = self.commands.catalog.repository.event_store
        return list(store.get(product_id or self.product_id))

    def variants(self, product_id: uuid.UUID | None = None) -> list[Product.ImageVariantRendered]:
        return [e for e in self.events(product_id) if isinstance(e, Product.ImageVariantRendered)]


@contextmanager
def image_shop(settings: Settings) -> Iterator[ImageShop]:
    """A registered seller with one listed product, on these settings' stores."""
    commands = Commands(eventsourcing_env(settings, str(settings.postgres.url)))
    try:
        seller, product = uuid.uuid4(), uuid.uuid4()
        commands.catalog.register_seller(seller, "Acme", "acme@example.com", admin())
        commands.catalog.list_product(
            product, seller, "Teapot", "", "kitchen", {}, Money(1999, "EUR"), admin()
        )
        yield ImageShop(commands, blob_store(settings), product)
    finally:
        commands.close()
