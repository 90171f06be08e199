"""A product's gallery: its images in display order, each processing, rendered or failed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from uuid import UUID

from domain.errors import InvalidValue, NotFound, RuleViolated

VARIANTS: dict[str, int] = {"thumbnail": 200, "card": 600, "zoom": 1600}
"""The variants the image worker renders, by name, with the longest side each may have."""
FORMATS = ("webp", "jpeg")
"""Each variant's renditions: WebP, with a JPEG for clients without WebP."""
CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/avif")


class TooManyImages(RuleViolated):
    """The product already has as many images as it may have."""


@dataclass
class GalleryImage:
    """One image of a product: its original, the variants recorded so far, or its failure."""

    content_hash: str
    variants: set[str] = field(default_factory=set)
    failure: str | None = None

    @property
    def settled(self) -> bool:
        """Whether the worker is done with it: every variant rendered, or failed."""
        return self.failure is not None or self.variants >= set(VARIANTS)


@dataclass
class Gallery:
    """A product's images in display order; the rules on adding, ordering and removing."""

    images: dict[UUID, GalleryImage] = field(default_factory=dict)

    def require_room(self, image_id: UUID, limit: int) -> None:
        """Refuse a new image past the limit (an image the product has needs no room)."""
        if image_id not in self.images and len(self.images) >= limit:
            raise TooManyImages(f"a product has at most {limit} images")

    def require(self, image_id: UUID) -> GalleryImage:
        """The image, or NotFound."""
        image = self.images.get(image_id)
        if image is None:
            raise NotFound(f"image {image_id} is not one of the product's")
        return image

    def checked_order(self, image_ids: Sequence[UUID]) -> list[str]:
        """The new order as stored, if it names every image exactly once."""
        if len(set(image_ids)) != len(image_ids):
            raise InvalidValue("a new order names each image once")
        if sorted(image_ids) != sorted(self.images):
            raise RuleViolated("a new order names exactly the product's images")
        return [str(image_id) for image_id in image_ids]

    def reorder(self, image_ids: list[str]) -> None:
        """Put the images in this order."""
        self.images = {UUID(i): self.images[UUID(i)] for i in image_ids}


def checked_variant(variant: str, width: int, height: int, renditions: dict[str, str]) -> None:
    """Refuse a variant that is not one of VARIANTS, out of its bound, or missing a format."""
    bound = VARIANTS.get(variant)
    if bound is None:
        raise InvalidValue(f"unknown image variant {variant!r}")
    if not (0 < width <= bound and 0 < height <= bound):
        raise InvalidValue(f"a {variant} is at most {bound} pixels a side")
    if set(renditions) != set(FORMATS):
        raise InvalidValue(f"a variant has exactly the renditions {', '.join(FORMATS)}")


def checked_original(content_hash: str, content_type: str, width: int, height: int) -> None:
    """Refuse an original whose hash, type or size cannot be right."""
    if len(content_hash) != 64 or any(c not in "0123456789abcdef" for c in content_hash):
        raise InvalidValue("an image's content hash is 64 lowercase hex digits of SHA-256")
    if content_type not in CONTENT_TYPES:
        raise InvalidValue(f"images are one of {', '.join(CONTENT_TYPES)}")
    if width <= 0 or height <= 0:
        raise InvalidValue("an image has a positive width and height")
