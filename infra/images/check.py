"""What an uploaded file really is: its type sniffed from its bytes, its size, its pixels.

Nothing here trusts a file name or a declared content type: the type is read from the bytes,
and a name or content type that claims another image type (a PNG renamed `.jpg`) is refused,
as a renamed file is no honest upload. Pillow's decompression-bomb
guard stays on (its warning is an error here), and the declared dimensions are bounded
before a single pixel is decoded; then the image is decoded once (JPEG at an eighth of its
scale) so that a truncated or corrupt file is refused too.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError, features

CHUNK = 1024 * 1024


class ImageRefused(Exception):
    """The upload is not an image the marketplace accepts; status says which HTTP answer."""

    status = 422
    slug = "invalid-image"
    title = "Invalid image"


class ImageTooLarge(ImageRefused):
    """More bytes than the upload limit."""

    status = 413
    slug = "image-too-large"
    title = "Image too large"


class UnsupportedImageType(ImageRefused):
    """The bytes are no supported image type, whatever the name or content type claims."""

    status = 415
    slug = "unsupported-image-type"
    title = "Unsupported image type"


class MisnamedImage(UnsupportedImageType):
    """The file's name or declared content type claims another image type than its bytes."""

    slug = "image-type-mismatch"
    title = "Image type mismatch"


class TooManyPixels(ImageRefused):
    """More pixels than allowed, or a decompression bomb."""

    slug = "too-many-pixels"
    title = "Too many pixels"


@dataclass(frozen=True)
class CheckedImage:
    """An upload that passed every check: its SHA-256, type, size in bytes and pixels."""

    content_hash: str
    content_type: str
    size_bytes: int
    width: int
    height: int


def sniffed_type(head: bytes) -> str:
    """The image type the first bytes show, or UnsupportedImageType."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:12] in (b"ftypavif", b"ftypavis") and features.check("avif"):
        return "image/avif"
    raise UnsupportedImageType("the file is no JPEG, PNG, WebP or AVIF image")


PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP", "image/avif": "AVIF"}
EXTENSIONS = {
    **{ext: "image/jpeg" for ext in ("jpg", "jpeg", "jpe", "jfif")},
    **{ext: f"image/{ext}" for ext in ("png", "webp", "avif", "gif", "bmp", "tiff", "heic")},
}
"""The image type a file name's extension claims; other extensions claim none."""
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg"}


def claimed_types(filename: str | None, declared_type: str | None) -> set[str]:
    """The image types an upload's name and declared content type claim (`.bin` or
    `application/octet-stream` claim none)."""
    claims = set()
    if filename and "." in filename:
        claims.add(EXTENSIONS.get(filename.rsplit(".", 1)[1].lower()))
    if declared_type:
        declared = declared_type.split(";", 1)[0].strip().lower()
        claims.add(ALIASES.get(declared, declared))
    return {claim for claim in claims if claim and claim.startswith("image/")}


def checked_image(
    file: BinaryIO,
    max_bytes: int,
    max_pixels: int,
    filename: str | None = None,
    declared_type: str | None = None,
) -> CheckedImage:
    """Check an upload read from file (left at its start), or raise an ImageRefused."""
    digest, size = _digest(file, max_bytes)
    content_type = sniffed_type(file.read(32))
    file.seek(0)
    width, height = _decoded_size(file, content_type, max_pixels)
    file.seek(0)
    if claims := claimed_types(filename, declared_type) - {content_type}:
        raise MisnamedImage(f"the file claims {', '.join(sorted(claims))} but is {content_type}")
    return CheckedImage(digest, content_type, size, width, height)


def _digest(file: BinaryIO, max_bytes: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := file.read(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise ImageTooLarge(f"an image is at most {max_bytes} bytes")
        digest.update(chunk)
    if size == 0:
        raise UnsupportedImageType("the file is empty")
    file.seek(0)
    return digest.hexdigest(), size


def _decoded_size(file: BinaryIO, content_type: str, max_pixels: int) -> tuple[int, int]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(file, formats=[PIL_FORMATS[content_type]]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise TooManyPixels(f"an image has at most {max_pixels} pixels")
                if content_type == "image/jpeg":
                    image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise TooManyPixels(str(error)) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise ImageRefused(f"the image cannot be read: {error}") from None
    return width, height
