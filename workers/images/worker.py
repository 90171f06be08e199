"""The image worker: renders each added product image into its variants.

It follows the catalog log (or the single shared log) with the projection runtime, its
position kept in PostgreSQL as the view "images". For each Product.ImageAdded whose image
the product still has and that is not settled yet, it reads the original, renders every
variant (workers.images.render), puts each rendition under its content-addressed key and
then records the variants in one append. A blob is always written before the event that
names it, the same original renders the same keys, and a variant recorded already is not
recorded again: a crash before the position commits only makes the restart redo that
batch, without a duplicate event or an event naming a missing blob. An original that cannot
be decoded, or is missing, is recorded as failed with the reason; the worker goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import structlog
from prometheus_client import Counter

from commands.catalog import CatalogApplication
from domain.base import Cause
from domain.product import Product
from infra.blobs import BlobNotFound, BlobStore, BlobStoreUnavailable, blob_store
from infra.settings import Settings
from infra.stores import stores
from projections.failures import Policy
from projections.log import TRANSIENT as LOG_TRANSIENT
from projections.runtime import Projection, Worker
from projections.stores.postgres.deadletters import PostgresDeadLetters
from projections.stores.postgres.unit import PostgresUnit, PostgresView
from workers.images.render import UnreadableImage, Variant, render_variants
from workers.logs import followed_logs, run_until_stopped, worker_commands, worker_pool

log = structlog.get_logger()

ACTOR = "image-worker"
POOL_SIZE = 2
BATCH_SIZE = 20
RENDERED = Counter("images_rendered_total", "Product images rendered into their variants")
FAILED = Counter("images_failed_total", "Product images recorded as failed")


@dataclass(eq=False)
class ImageRenderer:
    """Renders, stores and records one added image's variants, or its failure."""

    blobs: BlobStore
    catalog: CatalogApplication
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def render(self, added: Product.ImageAdded) -> bool:
        """Make sure the image is rendered or failed; whether this call did the work."""
        product_id = added.originator_id
        image = self.catalog.gallery(product_id).images.get(added.image_id)
        if image is None or image.settled:
            return False
        ctx = Cause.of(added).context(self.clock(), ACTOR)
        try:
            variants = render_variants(self.blobs.get(added.blob_key)[0])
        except BlobNotFound:
            return self.fail(added, "the original is missing from the blob store")
        except UnreadableImage as error:
            return self.fail(added, str(error))
        self.store(variants)
        recorded = [(v.name, (v.width, v.height), renditions(v)) for v in variants]
        self.catalog.record_image_variants(product_id, added.image_id, recorded, ctx)
        RENDERED.inc()
        return True

    def store(self, variants: Sequence[Variant]) -> None:
        """Put every rendition under its key (the same key always holds the same bytes)."""
        for variant in variants:
            for rendition in variant.renditions.values():
                self.blobs.put(rendition.key, rendition.data, rendition.content_type)

    def fail(self, added: Product.ImageAdded, reason: str) -> bool:
        """Record the image as failed, with the reason."""
        ctx = Cause.of(added).context(self.clock(), ACTOR)
        self.catalog.fail_product_image(added.originator_id, added.image_id, reason, ctx)
        log.warning("image_failed", product_id=str(added.originator_id), reason=reason)
        FAILED.inc()
        return True


def renditions(variant: Variant) -> dict[str, str]:
    """A variant's blob keys by format, as its event records them."""
    return {fmt: rendition.key for fmt, rendition in variant.renditions.items()}


class ImageProjection(Projection[PostgresUnit]):
    """Variants for added images; no other event of the log is its business.

    The work is done in prepare, outside the transaction that records the position (a blob
    upload or a command never holds the view's connection).
    """

    name = "images"
    contexts: ClassVar[tuple[str, ...]] = ("catalog",)
    failure_policy = Policy.PARK
    """An image that cannot be handled for an unforeseen reason waits in the dead letters."""

    def __init__(self, renderer: ImageRenderer) -> None:
        self.renderer = renderer

    def prepare(self, events: Sequence[Any]) -> None:
        """Render, store and record the variants of each image added in the batch."""
        for event in events:
            if isinstance(event, Product.ImageAdded):
                self.renderer.render(event)


class ImageView(PostgresView):
    """Only the worker's position, in projection_positions under "images".

    A blob store or event store that is unavailable is retried like the view's own store.
    """

    transient_errors = (*PostgresView.transient_errors, BlobStoreUnavailable, *LOG_TRANSIENT)

    @contextmanager
    def unit_of_work(self) -> Iterator[PostgresUnit]:
        """A unit whose position commits when the block exits."""
        with self.transaction() as unit:
            yield unit


@contextmanager
def opened(settings: Settings, batch_size: int = BATCH_SIZE) -> Iterator[Worker[PostgresUnit]]:
    """The image worker on the configured stores; closed on exit."""
    where = stores(settings)
    with ExitStack() as resources:
        commands = worker_commands(settings, where, resources, POOL_SIZE)
        projection = ImageProjection(ImageRenderer(blob_store(settings), commands.catalog))
        logs = followed_logs(projection, settings, where, resources)
        pool = worker_pool(settings, where, resources, POOL_SIZE)
        view = ImageView(pool, ImageProjection.name)
        view.create()
        failures = PostgresDeadLetters(pool)
        failures.create()
        yield Worker(projection, view, logs, batch_size=batch_size, failures=failures)


def run(
    settings: Settings,
    stop: threading.Event,
    *,
    batch_size: int = BATCH_SIZE,
    metrics_port: int = 0,
) -> int:
    """Render images until stop is set, then return 0; a non-transient failure raises."""
    return run_until_stopped("images", opened(settings, batch_size), settings, stop, metrics_port)
