"""Rendering variants of real images of every supported type: sizes, types, no EXIF or GPS,
the orientation applied, the same bytes every time."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from domain.product_images import VARIANTS
from tests.support.images import FORMATS, encoded, picture
from workers.images.render import EXTENSIONS, UnreadableImage, render_variants

PIL_NAMES = {"webp": "WEBP", "jpeg": "JPEG"}


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_each_type_renders_every_variant_in_webp_and_jpeg(kind: str) -> None:
    variants = render_variants(encoded(picture(1700, 1275), kind))

    assert {v.name: (v.width, v.height) for v in variants} == {
        "zoom": (1600, 1200),
        "card": (600, 450),
        "thumbnail": (200, 150),
    }
    for variant in variants:
        assert set(variant.renditions) == {"webp", "jpeg"}
        for fmt, rendition in variant.renditions.items():
            image = opened(rendition.data)
            assert image.format == PIL_NAMES[fmt]
            assert image.size == (variant.width, variant.height)
            digest = hashlib.sha256(rendition.data).hexdigest()
            assert rendition.key == f"images/{digest}.{EXTENSIONS[fmt]}"
            assert rendition.content_type == f"image/{fmt}"


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_exif_and_gps_are_gone_from_every_rendition(kind: str) -> None:
    original = encoded(picture(300, 200), kind)
    assert opened(original).getexif().get_ifd(0x8825), "the original carries GPS"

    for variant in render_variants(original):
        for rendition in variant.renditions.values():
            image = opened(rendition.data)
            assert not image.getexif()
            assert not {"exif", "xmp", "XML:com.adobe.xmp", "icc_profile"} & set(image.info)
            assert b"TestCam" not in rendition.data


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_the_orientation_is_applied_first(kind: str) -> None:
    # Orientation 6: the camera was turned; a viewer rotates the stored pixels 90° clockwise.
    variants = render_variants(encoded(picture(400, 200), kind, orientation=6))

    thumbnail = next(v for v in variants if v.name == "thumbnail")
    assert (thumbnail.width, thumbnail.height) == (100, 200)
    image = opened(thumbnail.renditions["webp"].data).convert("RGB")
    red_corner = image.getpixel((image.width - 10, 10))
    other_corner = image.getpixel((10, 10))
    assert red_corner[0] > 200 and red_corner[2] < 60
    assert other_corner[2] > 200 and other_corner[0] < 60


def test_a_small_image_is_never_enlarged_and_transparency_becomes_white_in_jpeg() -> None:
    variants = render_variants(encoded(picture(120, 90, alpha=True), "png"))

    assert {(v.width, v.height) for v in variants} == {(120, 90)}
    assert opened(variants[0].renditions["webp"].data).mode == "RGBA"
    assert opened(variants[0].renditions["jpeg"].data).mode == "RGB"


def test_the_same_original_renders_the_same_keys() -> None:
    original = encoded(picture(900, 700), "jpeg")
    keys = [[r.key for v in render_variants(original) for r in v.renditions.values()]]
    keys.append([r.key for v in render_variants(original) for r in v.renditions.values()])
    assert keys[0] == keys[1]
    assert len(set(keys[0])) == 2 * len(VARIANTS)


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", encoded(picture(400, 300), "jpeg")[:300]],
    ids=["empty", "text", "truncated"],
)
def test_a_corrupt_original_is_unreadable(data: bytes) -> None:
    with pytest.raises(UnreadableImage):
        render_variants(data)
