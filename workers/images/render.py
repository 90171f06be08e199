"""Rendering an original into its variants with libvips (pyvips): orientation applied,
metadata dropped, resized, encoded as WebP and JPEG, each under a key named by the SHA-256 of
its bytes.

libvips rather than Pillow: benchmarks/images.py measures both on the same photos, and
libvips renders the same variants (sizes equal, PSNR against Pillow's over 40 dB, bytes within
a few per cent) faster in one process (figures in benchmarks/README.md). Each variant is
decoded from the original with shrink-on-load, so a thumbnail never decodes the full pixels.

The same original always renders the same bytes, so a repeated rendering writes the same
keys. Nothing of the original's metadata is carried over: EXIF (GPS included), XMP, ICC
profiles and comments are dropped after the orientation is applied. An original of more
pixels than Pillow's decompression-bomb bound (PIL.Image.MAX_IMAGE_PIXELS, which the upload
checks also apply) is refused before any pixel is decoded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pyvips
from PIL import Image

from domain.product_images import VARIANTS

QUALITY = {"webp": 80, "jpeg": 85}
EXTENSIONS = {"webp": "webp", "jpeg": "jpg"}
CONTENT_TYPES = {"webp": "image/webp", "jpeg": "image/jpeg"}
BACKGROUND = (255, 255, 255)
"""What shows through a transparent original in the JPEG rendition."""


class UnreadableImage(Exception):
    """The original cannot be decoded; the reason says why."""


@dataclass(frozen=True)
class Rendition:
    """One encoded file of a variant."""

    key: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Variant:
    """One named variant: its size and its renditions by format."""

    name: str
    width: int
    height: int
    renditions: dict[str, Rendition]


def image_key(data: bytes, image_format: str) -> str:
    """The content-addressed blob key of a rendition."""
    return f"images/{hashlib.sha256(data).hexdigest()}.{EXTENSIONS[image_format]}"


def render_variants(original: bytes) -> list[Variant]:
    """Every variant of VARIANTS, from the largest down, or UnreadableImage."""
    try:
        return _render(original)
    except pyvips.Error as error:
        reason = " ".join(str(error).split())[:300]
        raise UnreadableImage(f"cannot decode the image: {reason}") from None


def upright_size(original: bytes) -> tuple[int, int]:
    """The original's width and height once its orientation is applied (header only)."""
    header = pyvips.Image.new_from_buffer(original, "")
    orientation = header.get("orientation") if header.get_typeof("orientation") else 1
    if orientation in (5, 6, 7, 8):
        return header.height, header.width
    return header.width, header.height


def fitted(size: tuple[int, int], bound: int) -> tuple[int, int]:
    """size scaled to fit bound x bound, never enlarged."""
    width, height = size
    if max(size) <= bound:
        return size
    scale = bound / max(size)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _render(original: bytes) -> list[Variant]:
    size = upright_size(original)
    limit = Image.MAX_IMAGE_PIXELS
    if limit and size[0] * size[1] > limit:
        raise UnreadableImage(f"too many pixels: {size[0]} x {size[1]}")
    variants = []
    for name, bound in sorted(VARIANTS.items(), key=lambda item: -item[1]):
        width, height = fitted(size, bound)
        image = pyvips.Image.thumbnail_buffer(
            original, width, height=height, size="force", option_string="fail_on=truncated"
        )
        image = _plain(image)
        renditions = {fmt: _encoded(image, fmt) for fmt in QUALITY}
        variants.append(Variant(name, image.width, image.height, renditions))
    return variants


def _plain(image: pyvips.Image) -> pyvips.Image:
    """sRGB (a grey, 16-bit or CMYK original converted), with its alpha if it has one, decoded
    into memory once for both savers."""
    if image.interpretation != "srgb":
        image = image.colourspace("srgb")
    return image.copy_memory()


def _encoded(image: pyvips.Image, image_format: str) -> Rendition:
    if image_format == "jpeg":
        flat = image.flatten(background=list(BACKGROUND)) if image.hasalpha() else image
        data = flat.jpegsave_buffer(
            Q=QUALITY["jpeg"], optimize_coding=True, interlace=True, keep="none"
        )
    else:
        data = image.webpsave_buffer(Q=QUALITY["webp"], effort=4, keep="none")
    return Rendition(image_key(data, image_format), CONTENT_TYPES[image_format], data)
