"""The label worker: renders each opened fulfilment's shipping label and attaches it.

It follows the orders log (or the single shared log) with the projection runtime, its
position kept in PostgreSQL as the view "labels". For each Fulfilment.Opened it renders the
PDF, puts it at `labels/<fulfilment_id>.pdf` and records Fulfilment.LabelAttached through
the orders application. Each step is idempotent: a fulfilment that already has its label is
left alone, a repeated put writes the same key, and attaching the same label again appends
nothing. So a crash before the position commits only makes the restart redo that work.

It follows the customers log for erasures: it notes whose each fulfilment is (label_owners,
with its position), and when a customer is erased it deletes the labels of their fulfilments,
which print their name and address.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

import structlog
from prometheus_client import Counter

from commands.catalog import CatalogApplication
from commands.orders import OrdersApplication
from domain.base import Cause
from domain.customer import Customer
from domain.fulfilment import Fulfilment
from domain.seller import Seller
from infra.blobs import BlobStore, BlobStoreUnavailable, blob_store
from infra.labels import LabelContent, address_lines, render_label
from infra.settings import Settings
from infra.stores import stores
from projections.failures import Policy
from projections.handlers import handles
from projections.log import TRANSIENT as LOG_TRANSIENT
from projections.runtime import Projection, Worker
from projections.stores.postgres.deadletters import PostgresDeadLetters
from projections.stores.postgres.unit import PostgresUnit, PostgresView
from workers.logs import followed_logs, run_until_stopped, worker_commands, worker_pool

log = structlog.get_logger()

PDF = "application/pdf"
ACTOR = "label-worker"
POOL_SIZE = 2
LABELS = Counter("labels_rendered_total", "Shipping labels rendered and attached")


OWNERS = """
CREATE TABLE IF NOT EXISTS label_owners (
    fulfilment_id uuid PRIMARY KEY,
    customer_id uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS label_owners_customer ON label_owners (customer_id);
"""


def label_key(fulfilment_id: UUID) -> str:
    """The blob key of a fulfilment's label."""
    return f"labels/{fulfilment_id}.pdf"


@dataclass(eq=False)
class Labeller:
    """Renders, stores and attaches one fulfilment's label."""

    blobs: BlobStore
    orders: OrdersApplication
    catalog: CatalogApplication
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def label(self, opened: Fulfilment.Opened) -> str:
        """Make sure the fulfilment has its label; return the label's blob key."""
        key = label_key(opened.originator_id)
        if self.orders.fulfilment(opened.order_id, opened.seller_id).label == (key, PDF):
            return key
        self.blobs.put(key, render_label(self.content(opened)), PDF)
        ctx = Cause.of(opened).context(self.clock(), ACTOR)
        self.orders.attach_label(opened.order_id, opened.seller_id, key, PDF, ctx)
        LABELS.inc()
        return key

    def content(self, opened: Fulfilment.Opened) -> LabelContent:
        """What the label shows: the seller's address, else its name, and the shopper's."""
        if opened.ship_from:
            ship_from = address_lines(opened.ship_from)
        else:
            ship_from = (self.catalog.load(opened.seller_id, Seller).name,)
        lines = tuple((str(line["title"]), int(line["quantity"])) for line in opened.lines)
        return LabelContent(str(opened.order_id), ship_from, address_lines(opened.ship_to), lines)


class LabelProjection(Projection[PostgresUnit]):
    """Labels for opened fulfilments; no other event of the log is its business.

    The label is rendered, stored and attached before the batch's position commits, outside
    its transaction (a blob upload or a command never holds the view's connection). A crash
    in between labels the batch again: attaching the same label twice changes nothing.
    """

    name = "labels"
    contexts: ClassVar[tuple[str, ...]] = ("orders", "customers")
    failure_policy = Policy.PARK
    """A label that cannot be made waits in the dead letters; the others are still made."""

    def __init__(self, labeller: Labeller, owned_by: Callable[[UUID], list[UUID]]) -> None:
        self.labeller = labeller
        self.owned_by = owned_by
        """The fulfilments of a customer, as label_owners holds them."""

    def prepare(self, events: Sequence[Any]) -> None:
        """Render, store and attach the label of each opened fulfilment of the batch; delete
        the labels of each erased customer's fulfilments."""
        for event in events:
            if isinstance(event, Fulfilment.Opened):
                self.labeller.label(event)
            elif isinstance(event, Customer.Erased):
                for fulfilment_id in self.owned_by(event.originator_id):
                    self.labeller.blobs.delete(label_key(fulfilment_id))

    @handles(Fulfilment.Opened)
    def note_owner(self, event: Fulfilment.Opened, unit: PostgresUnit) -> None:
        """Note whose the fulfilment is, for an erasure later."""
        unit.cursor.execute(
            "INSERT INTO label_owners (fulfilment_id, customer_id) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING",
            (event.originator_id, event.customer_id),
        )


class LabelView(PostgresView):
    """The worker's position, in projection_positions under "labels", and label_owners.

    A blob store or event store that is unavailable is retried like the view's own store.
    """

    transient_errors = (*PostgresView.transient_errors, BlobStoreUnavailable, *LOG_TRANSIENT)
    create_statements = (OWNERS,)

    def owned_by(self, customer_id: UUID) -> list[UUID]:
        """The fulfilments noted as the customer's."""
        with self.pool.connection() as conn:
            rows = conn.execute(
                "SELECT fulfilment_id FROM label_owners WHERE customer_id = %s", (customer_id,)
            ).fetchall()
        return [row[0] for row in rows]

    @contextmanager
    def unit_of_work(self) -> Iterator[PostgresUnit]:
        """A unit whose position commits when the block exits."""
        with self.transaction() as unit:
            yield unit


@contextmanager
def opened(settings: Settings, batch_size: int = 50) -> Iterator[Worker[PostgresUnit]]:
    """The label worker on the configured stores; closed on exit."""
    where = stores(settings)
    with ExitStack() as resources:
        commands = worker_commands(settings, where, resources, POOL_SIZE)
        labeller = Labeller(blob_store(settings), commands.orders, commands.catalog)
        pool = worker_pool(settings, where, resources, POOL_SIZE)
        view = LabelView(pool, LabelProjection.name)
        view.create()
        projection = LabelProjection(labeller, view.owned_by)
        logs = followed_logs(projection, settings, where, resources)
        failures = PostgresDeadLetters(pool)
        failures.create()
        yield Worker(projection, view, logs, batch_size=batch_size, failures=failures)


def run(
    settings: Settings, stop: threading.Event, *, batch_size: int = 50, metrics_port: int = 0
) -> int:
    """Label fulfilments until stop is set, then return 0; a non-transient failure raises."""
    return run_until_stopped("labels", opened(settings, batch_size), settings, stop, metrics_port)
