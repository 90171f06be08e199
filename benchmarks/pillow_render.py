"""Pillow's resize-and-encode of one original into the worker's variants: the benchmark's
raw baseline (what the image worker ran before it moved to libvips).

Orientation applied, decoded at a reduced scale (draft), each variant resized from the one
above it with LANCZOS, encoded as WebP (method 4) and JPEG (optimised, progressive) at the
worker's qualities, no metadata kept. Returns each variant's renditions' bytes.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

from domain.product_images import VARIANTS
from workers.images.render import BACKGROUND, QUALITY


def pillow_render(original: bytes) -> list[list[bytes]]:
    """The renditions (WebP, JPEG) of every variant, from the largest down."""
    with Image.open(io.BytesIO(original)) as opened:
        largest = max(VARIANTS.values())
        opened.draft("RGB", (largest, largest))
        upright = ImageOps.exif_transpose(opened)
    mode = "RGBA" if upright.mode in ("RGBA", "LA", "PA") else "RGB"
    source = upright.convert(mode)
    out = []
    for bound in sorted(VARIANTS.values(), reverse=True):
        if max(source.size) > bound:
            scale = bound / max(source.size)
            size = (max(1, round(source.width * scale)), max(1, round(source.height * scale)))
            source = source.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
        out.append([_encoded(source, "webp"), _encoded(source, "jpeg")])
    return out


def _encoded(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    if image_format == "jpeg":
        flat = image
        if image.mode == "RGBA":
            flat = Image.new("RGB", image.size, BACKGROUND)
            flat.paste(image, mask=image.getchannel("A"))
        flat.save(buffer, "JPEG", quality=QUALITY["jpeg"], optimize=True, progressive=True)
    else:
        image.save(buffer, "WEBP", quality=QUALITY["webp"], method=4)
    return buffer.getvalue()
