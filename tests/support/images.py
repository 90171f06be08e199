"""Real images made with Pillow for the image tests: every supported type, EXIF with GPS and
an orientation, a decompression bomb, a truncated JPEG."""

from __future__ import annotations

import io
import zlib
from struct import pack

from PIL import Image, features

GPS_IFD = 0x8825
ORIENTATION = 0x0112
FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"} | (
    {"avif": "AVIF"} if features.check("avif") else {}
)
"""Every type the marketplace accepts that this Pillow can write."""


def picture(width: int, height: int, *, alpha: bool = False) -> Image.Image:
    """A picture whose top-left quarter is red and the rest blue (half transparent with alpha),
    so orientation shows."""
    mode = "RGBA" if alpha else "RGB"
    image = Image.new(mode, (width, height), (0, 0, 255, 128)[: len(mode)])
    image.paste((255, 0, 0, 255)[: len(mode)], (0, 0, width // 2, height // 2))
    return image


def with_exif(orientation: int = 1) -> Image.Exif:
    """EXIF with an orientation, a camera and a GPS position."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "TestCam"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)})
    return exif


def encoded(image: Image.Image, kind: str, *, orientation: int = 1) -> bytes:
    """The image in one of FORMATS, carrying EXIF with GPS and the orientation given."""
    buffer = io.BytesIO()
    image.save(buffer, FORMATS[kind], exif=with_exif(orientation).tobytes())
    return buffer.getvalue()


def png_bomb(side: int = 30_000) -> bytes:
    """A small PNG that declares side x side pixels of one colour: a decompression bomb."""
    row = b"\x00" + b"\x00" * side
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(200)) + compressor.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return pack(">I", len(body)) + kind + body + pack(">I", zlib.crc32(kind + body))

    header = pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    """A JPEG cut off halfway through its pixels."""
    whole = encoded(picture(400, 300), "jpeg")
    return whole[: len(whole) // 2]
