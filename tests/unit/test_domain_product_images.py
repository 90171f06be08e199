"""Product images: adding within the limit, ordering, removing, variants and failures."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from domain.errors import InvalidValue, NotFound, RuleViolated
from domain.product import Product
from domain.product_images import TooManyImages
from tests.unit.domain_support import CTX, event, given, history, then, then_error, uid, when
from tests.unit.test_domain_product import DETAILS, PRICE, PRODUCT_ID, SELLER_ID

HASH = "a" * 64
FIRST, SECOND, THIRD = uid(0x1), uid(0x2), uid(0x3)
ORIGINAL = (HASH, "image/png", 800, 600, 12_345)
RENDITIONS = {"webp": "images/1.webp", "jpeg": "images/1.jpg"}


def with_images(*image_ids: UUID, steps: tuple[tuple[Any, ...], ...] = ()) -> Product:
    """A listed product given these images (and then these steps)."""
    adds = [(Product.add_image, i, f"originals/{i}", ORIGINAL, 5) for i in image_ids]
    product = Product.list(PRODUCT_ID, SELLER_ID, *DETAILS.values(), PRICE, CTX)
    return given(Product, *history(product, *adds, *steps))


def test_adding_an_image_records_its_original() -> None:
    product = with_images()
    outcome = when(product, Product.add_image, FIRST, "originals/x", ORIGINAL, 5)
    then(
        outcome,
        event(
            Product.ImageAdded,
            image_id=FIRST,
            blob_key="originals/x",
            content_hash=HASH,
            content_type="image/png",
            width=800,
            height=600,
            size_bytes=12_345,
            image_ids=[str(FIRST)],
        ),
    )


def test_the_same_image_again_changes_nothing() -> None:
    then(when(with_images(FIRST), Product.add_image, FIRST, "originals/x", ORIGINAL, 1))


def test_an_image_past_the_limit_is_refused() -> None:
    outcome = when(with_images(FIRST, SECOND), Product.add_image, THIRD, "k", ORIGINAL, 2)
    then_error(outcome, TooManyImages, "at most 2 images")


@pytest.mark.parametrize(
    "original",
    [
        ("A" * 64, "image/png", 1, 1, 1),
        (HASH, "image/gif", 1, 1, 1),
        (HASH, "image/png", 0, 1, 1),
    ],
)
def test_an_original_that_cannot_be_right_is_refused(original: tuple[Any, ...]) -> None:
    then_error(when(with_images(), Product.add_image, FIRST, "k", original, 5), InvalidValue)


def test_a_delisted_product_takes_no_image() -> None:
    product = with_images(steps=((Product.delist, "gone"),))
    then_error(when(product, Product.add_image, FIRST, "k", ORIGINAL, 5), RuleViolated)


def test_reordering_names_every_image_once() -> None:
    product = with_images(FIRST, SECOND)
    then(
        when(product, Product.reorder_images, [SECOND, FIRST]),
        event(Product.ImagesReordered, image_ids=[str(SECOND), str(FIRST)]),
    )
    then(when(with_images(FIRST, SECOND), Product.reorder_images, [FIRST, SECOND]))
    twice = when(with_images(FIRST, SECOND), Product.reorder_images, [FIRST, FIRST])
    then_error(twice, InvalidValue)
    for order in ([FIRST], [FIRST, THIRD]):
        then_error(when(with_images(FIRST, SECOND), Product.reorder_images, order), RuleViolated)


def test_removing_an_image_the_product_has() -> None:
    then(
        when(with_images(FIRST, SECOND), Product.remove_image, FIRST),
        event(Product.ImageRemoved, image_id=FIRST, image_ids=[str(SECOND)]),
    )
    then_error(when(with_images(FIRST), Product.remove_image, SECOND), NotFound)


def test_a_variant_is_recorded_once_and_only_for_an_image_the_product_has() -> None:
    product = with_images(FIRST)
    then(
        when(product, Product.record_variant, FIRST, "card", (600, 450), RENDITIONS),
        event(
            Product.ImageVariantRendered,
            image_id=FIRST,
            variant="card",
            width=600,
            height=450,
            renditions=RENDITIONS,
        ),
    )
    then(when(product, Product.record_variant, FIRST, "card", (600, 450), RENDITIONS))
    then(when(product, Product.record_variant, SECOND, "card", (600, 450), RENDITIONS))


@pytest.mark.parametrize(
    ("variant", "size", "renditions"),
    [
        ("poster", (10, 10), RENDITIONS),
        ("thumbnail", (201, 10), RENDITIONS),
        ("card", (600, 400), {"webp": "images/1.webp"}),
    ],
)
def test_a_variant_out_of_its_bounds_is_refused(
    variant: str, size: tuple[int, int], renditions: dict[str, str]
) -> None:
    outcome = when(with_images(FIRST), Product.record_variant, FIRST, variant, size, renditions)
    then_error(outcome, InvalidValue)


def test_a_failure_is_recorded_once_and_stops_the_variants() -> None:
    product = with_images(FIRST)
    then(
        when(product, Product.fail_image, FIRST, "cannot\n decode"),
        event(Product.ImageFailed, image_id=FIRST, reason="cannot decode"),
    )
    then(when(product, Product.fail_image, FIRST, "again"))
    then(when(product, Product.record_variant, FIRST, "card", (600, 450), RENDITIONS))
    assert product.gallery.images[FIRST].settled
