"""Image worker throughput against Pillow's raw resize-and-encode of the same images.

    python -m benchmarks.images                 # 40 photos of 2400 x 1800, one run
    python -m benchmarks.images --images 20 --side 3000

One run starts its own PostgreSQL in a temporary folder, makes the photos (a gradient with
noise and shapes, so the encoders have real work), records them as uploaded product images,
then measures, one after the other in this process:

* raw Pillow and raw libvips, before and after the worker (each ratio takes the mean of the
  two, so a change of machine load during the run weighs on both sides), each in a bare loop
  with no blob store, no log and no events: raw Pillow is benchmarks.pillow_render (orientation
  applied, decoded at a reduced scale, resized to 1600, 600 and 200 px with LANCZOS, each
  encoded as WebP and JPEG: what the worker ran before libvips); raw libvips is the worker's
  own workers.images.render.render_variants (shrink-on-load per variant, the same sizes,
  qualities and formats);
* naive Pillow, for scale: each variant resized with `thumbnail` from the fully decoded
  original, encoded at the same qualities;
* the worker: the image worker (workers.images.worker) catching up on the catalog log, as
  one `marketplace images` process runs it: reading each original from the local blob
  store, rendering, writing six blobs and appending three events per image.

libvips runs its pipelines on VIPS_CONCURRENCY threads (by default one per core); set
VIPS_CONCURRENCY=1 for a one-thread figure. The quality line compares libvips' renditions of
the first photo with Pillow's: sizes, PSNR and bytes.

It prints images per second for each and the ratios worker / raw Pillow (goal: at least
0.8), raw libvips / raw Pillow and worker / raw libvips. It never asserts a time; it exits 1
if the worker did not record every variant of every image.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import math
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pyvips
from PIL import Image, ImageChops, ImageDraw, ImageOps, ImageStat

from benchmarks import fixtures
from benchmarks.pillow_render import pillow_render
from benchmarks.servers import free_port
from commands.services import Commands
from domain.base import Context
from domain.money import Money
from domain.product import Product
from domain.product_images import VARIANTS
from infra.blobs import LocalBlobStore
from infra.eventstore import eventsourcing_env
from infra.local.postgres import LocalPostgres
from infra.logging import configure_logging
from infra.settings import BlobSettings, Settings
from workers.images.render import QUALITY, render_variants
from workers.images.worker import opened

GOAL = 0.8


def photo(side: int, seed: int) -> bytes:
    """A JPEG photo-like picture: a gradient, shapes and noise, 4:3."""
    rng = random.Random(seed)
    width, height = side, side * 3 // 4
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.merge("RGB", (gradient, gradient.rotate(90).resize((width, height)), gradient))
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(20, side // 6)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    image = Image.blend(image, noise, 0.15)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def naive_pillow(original: bytes) -> list[bytes]:
    """Pillow as most code uses it: every variant from the fully decoded original."""
    with Image.open(io.BytesIO(original)) as opened_image:
        upright = ImageOps.exif_transpose(opened_image).convert("RGB")
    out = []
    for bound in VARIANTS.values():
        copy = upright.copy()
        copy.thumbnail((bound, bound), Image.Resampling.LANCZOS)
        for fmt, options in (
            ("WEBP", {"quality": QUALITY["webp"], "method": 4}),
            ("JPEG", {"quality": QUALITY["jpeg"], "optimize": True, "progressive": True}),
        ):
            buffer = io.BytesIO()
            copy.save(buffer, fmt, **options)
            out.append(buffer.getvalue())
    return out


def psnr(a: bytes, b: bytes) -> float:
    """Peak signal-to-noise ratio of two renditions of one size, in dB."""
    first = Image.open(io.BytesIO(a)).convert("RGB")
    second = Image.open(io.BytesIO(b)).convert("RGB").resize(first.size)
    stat = ImageStat.Stat(ImageChops.difference(first, second))
    mse = sum(stat.sum2) / (3 * first.width * first.height)
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


def rate(label: str, count: int, seconds: float) -> float:
    per_second = count / seconds
    print(f"{label:<34} {count:>4} images in {seconds:7.2f} s  {per_second:7.2f} images/s")
    return per_second


def record_uploads(settings: Settings, originals: Sequence[bytes]) -> uuid.UUID:
    """One product with every original recorded as an upload is; its id."""
    now = datetime.now(UTC)
    ctx = Context(now, "bench", "admin", "bench", "bench", "bench")
    blobs = LocalBlobStore(settings.blobs.local_dir or settings.data_dir / "blobs")
    commands = Commands(eventsourcing_env(settings, str(settings.postgres.url)))
    try:
        seller, product = uuid.uuid4(), uuid.uuid4()
        commands.catalog.register_seller(seller, "Bench", "bench@example.com", ctx)
        commands.catalog.list_product(
            product, seller, "Camera", "", "photo", {}, Money(100, "EUR"), ctx
        )
        for data in originals:
            digest = hashlib.sha256(data).hexdigest()
            key = f"originals/{product}/{digest}"
            blobs.put(key, data, "image/jpeg")
            with Image.open(io.BytesIO(data)) as image:
                size = image.size
            original = (digest, "image/jpeg", *size, len(data))
            commands.catalog.add_product_image(product, key, original, len(originals), ctx)
        return product
    finally:
        commands.close()


def rendered_variants(settings: Settings, product: uuid.UUID) -> int:
    commands = Commands(eventsourcing_env(settings, str(settings.postgres.url)))
    try:
        events = commands.catalog.repository.event_store.get(product)
        return sum(isinstance(e, Product.ImageVariantRendered) for e in events)
    finally:
        commands.close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--side", type=int, default=2400, help="the photos' longer side")
    parser.add_argument("--batch-size", type=int, default=20)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when the worker recorded every variant of every image."""
    args = parse_args(argv)
    configure_logging("WARNING")
    originals = [photo(args.side, seed) for seed in range(args.images)]
    megapixels = args.side * args.side * 3 / 4 / 1e6
    print(f"{args.images} JPEG photos of {megapixels:.1f} MP; variants {dict(VARIANTS)}")
    started = time.perf_counter()
    for data in originals:
        naive_pillow(data)
    rate("naive Pillow (one process)", args.images, time.perf_counter() - started)
    before = raw_rates(originals)
    with tempfile.TemporaryDirectory(prefix="bench-images-") as tmp:
        postgres = LocalPostgres(Path(tmp) / "postgres", free_port(), durable=True)
        try:
            url = fixtures.create_schema(postgres.start(), "bench")
            settings = fixtures.settings_for(url, split_logs=True).updated(
                data_dir=Path(tmp), blobs=BlobSettings(local_dir=Path(tmp) / "blobs")
            )
            product = record_uploads(settings, originals)
            started = time.perf_counter()
            with opened(settings, args.batch_size) as worker:
                worker.catch_up()
            ours = rate("image worker (one process)", args.images, time.perf_counter() - started)
            complete = rendered_variants(settings, product) == args.images * len(VARIANTS)
        finally:
            postgres.stop()
    after = raw_rates(originals)
    pillow, vips = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
    verdict = "meets" if ours / pillow >= GOAL else "misses"
    print(
        f"worker / raw Pillow (means of both): {ours / pillow:.2f} ({verdict} the goal of {GOAL})"
    )
    print(f"raw libvips / raw Pillow: {vips / pillow:.2f}; worker / raw libvips: {ours / vips:.2f}")
    print(quality(originals[0]))
    if not complete:
        print("FAILED: the worker did not record every variant of every image")
    return 0 if complete else 1


def raw_rates(originals: Sequence[bytes]) -> tuple[float, float]:
    """Images per second of raw Pillow and raw libvips over the originals."""
    started = time.perf_counter()
    for data in originals:
        pillow_render(data)
    pillow = rate("raw Pillow (one process)", len(originals), time.perf_counter() - started)
    started = time.perf_counter()
    for data in originals:
        render_variants(data)
    vips = rate("raw libvips (one process)", len(originals), time.perf_counter() - started)
    return pillow, vips


def quality(original: bytes) -> str:
    """How libvips' renditions of original compare with Pillow's: sizes, PSNR and bytes."""
    pillow = [data for variant in pillow_render(original) for data in variant]
    vips = [r.data for v in render_variants(original) for r in v.renditions.values()]
    same = all(
        Image.open(io.BytesIO(p)).size == Image.open(io.BytesIO(v)).size
        for p, v in zip(pillow, vips, strict=True)
    )
    scores = [psnr(p, v) for p, v in zip(pillow, vips, strict=True)]
    size = sum(map(len, vips)) / sum(map(len, pillow))
    return (
        f"libvips against Pillow: sizes {'equal' if same else 'DIFFER'}; PSNR "
        f"{min(scores):.1f}-{max(scores):.1f} dB; bytes {size:.2f}x; "
        f"libvips threads {pyvips.concurrency_get()}"
    )


if __name__ == "__main__":
    sys.exit(main())
