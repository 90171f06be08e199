"""Rendering an original into its variants: orientation applied, metadata dropped, resized,
encoded as WebP and JPEG, each under a key named by the SHA-256 of its bytes.

The same original always renders the same bytes, so a repeated rendering writes the same
keys. Nothing of the original's metadata is carried over: EXIF (GPS included), XMP, ICC
profiles and comments are dropped after the orientation is applied.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

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
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _render(original)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise UnreadableImage(f"too many pixels: {error}") from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            raise UnreadableImage(f"cannot decode the image: {error}") from None


def _render(original: bytes) -> list[Variant]:
    with Image.open(io.BytesIO(original)) as opened:
        largest = max(VARIANTS.values())
        opened.draft("RGB", (largest, largest))
        upright = ImageOps.exif_transpose(opened)
    source = _plain(upright)
    variants = []
    for name, bound in sorted(VARIANTS.items(), key=lambda item: -item[1]):
        source = _fitted(source, bound)
        renditions = {fmt: _encoded(source, fmt) for fmt in QUALITY}
        variants.append(Variant(name, source.width, source.height, renditions))
    return variants


def _plain(image: Image.Image) -> Image.Image:
    """The pixels only, in RGB or RGBA, with no metadata left to leak into a rendition."""
    mode = "RGBA" if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info else "RGB"
    plain = image.convert(mode)
    plain.info = {}
    return plain


def _fitted(image: Image.Image, bound: int) -> Image.Image:
    """The image scaled to fit bound x bound, never enlarged."""
    if max(image.size) <= bound:
        return image
    scale = bound / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    fitted = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    fitted.info = {}
    return fitted


def _encoded(image: Image.Image, image_format: str) -> Rendition:
    buffer = io.BytesIO()
    if image_format == "jpeg":
        flat = image
        if image.mode == "RGBA":
            flat = Image.new("RGB", image.size, BACKGROUND)
            flat.paste(image, mask=image.getchannel("A"))
        flat.save(buffer, "JPEG", quality=QUALITY["jpeg"], optimize=True, progressive=True)
    else:
        image.save(buffer, "WEBP", quality=QUALITY["webp"], method=4)
    data = buffer.getvalue()
    return Rendition(image_key(data, image_format), CONTENT_TYPES[image_format], data)
