"""The image worker over real stores: variants recorded once per image, blobs before events,
corrupt or missing originals recorded as failed without stopping it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from PIL import Image

from domain.product import Product
from domain.product_images import VARIANTS
from infra.settings import Settings
from tests.images.shop import ImageShop, admin, image_settings, image_shop
from tests.support.images import FORMATS, encoded, picture
from workers.images.render import render_variants
from workers.images.worker import opened

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(postgres_url: str, tmp_path: Path) -> Settings:
    return image_settings(postgres_url, tmp_path)


@pytest.fixture
def shop(settings: Settings) -> Iterator[ImageShop]:
    with image_shop(settings) as shop:
        yield shop


def run_worker(settings: Settings, batch_size: int = 3) -> int:
    with opened(settings, batch_size) as worker:
        return worker.catch_up()


def expected_variants(data: bytes) -> dict[str, tuple[int, int, dict[str, str]]]:
    """What one clean rendering of the original records, by variant."""
    return {
        v.name: (v.width, v.height, {f: r.key for f, r in v.renditions.items()})
        for v in render_variants(data)
    }


def recorded(shop: ImageShop) -> dict[tuple[str, str], tuple[int, int, dict[str, str]]]:
    return {
        (str(e.image_id), e.variant): (e.width, e.height, e.renditions) for e in shop.variants()
    }


def test_every_supported_type_gets_its_variants_with_blobs(
    settings: Settings, shop: ImageShop
) -> None:
    originals = {kind: encoded(picture(700, 500), kind, orientation=1) for kind in FORMATS}
    ids = {kind: shop.add(data) for kind, data in originals.items()}

    run_worker(settings)

    got = recorded(shop)
    assert len(shop.variants()) == len(got) == len(FORMATS) * len(VARIANTS)
    for kind, data in originals.items():
        for name, expected in expected_variants(data).items():
            assert got[(str(ids[kind]), name)] == expected
            for key in expected[2].values():
                stored, content_type = shop.blobs.get(key)
                assert Image.open(io.BytesIO(stored)).size == expected[:2]
                assert content_type in ("image/webp", "image/jpeg")
    assert all(
        image.settled for image in shop.commands.catalog.gallery(shop.product_id).images.values()
    )


def test_a_second_run_and_a_rerun_from_the_start_record_nothing_more(
    settings: Settings, shop: ImageShop
) -> None:
    shop.add(encoded(picture(640, 480), "jpeg"))
    run_worker(settings)
    before = shop.events()

    run_worker(settings)
    with psycopg.connect(str(settings.postgres.url), autocommit=True) as conn:
        conn.execute("DELETE FROM projection_positions WHERE view = 'images'")
    assert run_worker(settings) > 0

    assert shop.events() == before


def test_a_corrupt_or_missing_original_is_recorded_as_failed_and_the_rest_rendered(
    settings: Settings, shop: ImageShop
) -> None:
    garbage = b"\xff\xd8\xff\xe0" + b"not really a jpeg" * 20
    corrupt = shop.add_unchecked(garbage, "image/jpeg", (10, 10))
    missing_data = encoded(picture(50, 50), "png")
    missing = shop.add(missing_data)
    shop.blobs.delete(
        next(e.blob_key for e in shop.events() if getattr(e, "image_id", None) == missing)
    )
    good = shop.add(encoded(picture(300, 300), "webp"))

    run_worker(settings, batch_size=10)

    failed = {e.image_id: e.reason for e in shop.events() if isinstance(e, Product.ImageFailed)}
    assert set(failed) == {corrupt, missing}
    assert "decode" in failed[corrupt]
    assert "missing" in failed[missing]
    assert {e.image_id for e in shop.variants()} == {good}


def test_an_image_removed_before_the_worker_reaches_it_is_not_rendered(
    settings: Settings, shop: ImageShop
) -> None:
    image = shop.add(encoded(picture(64, 64), "png"))
    shop.commands.catalog.remove_product_image(shop.product_id, image, admin(), None)

    run_worker(settings)

    assert shop.variants() == []
