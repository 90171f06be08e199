"""The projections this platform runs, and how each is wired to its logs, view and metrics.

A projector is one projection, the logs it follows and the view it writes, run as its own
worker process (`marketplace project NAME`). Adding a read model is one more entry in
PROJECTORS.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import psycopg
import structlog
from prometheus_client import start_http_server
from psycopg_pool import ConnectionPool

from commands.services import SINGLE_LOG
from infra.eventstore import eventsourcing_env
from infra.local.postgres import LocalPostgres
from infra.local.redis import LocalRedis
from infra.settings import Settings
from marketplace import catalog_search, order_views, redis_views
from marketplace.redis_views import close_redis_view
from marketplace.redis_views import redis_client as redis_client
from marketplace.redis_views import redis_prefix as redis_prefix
from projections.carts.projection import CartProjection
from projections.carts.redis_view import RedisCartView
from projections.catalog_search.opensearch_view import OpenSearchCatalogSearch
from projections.catalog_search.projection import CatalogSearchProjection
from projections.checkout.postgres_view import PostgresCheckoutBook
from projections.checkout.projection import CheckoutBookProjection
from projections.log import ContextLog
from projections.notifications.postgres_view import PostgresNotificationView
from projections.notifications.projection import NotificationProjection
from projections.orders.projection import OrderHistoryProjection
from projections.orders.view import OrderHistoryView
from projections.product_detail.projection import ProductDetailProjection
from projections.product_detail.redis_view import RedisProductDetailView
from projections.runtime import Projection, View, Worker
from projections.seller_sales.projection import SellerSalesProjection
from projections.versions import ViewVersions

log = structlog.get_logger()

MAX_BATCH_SIZE = 10_000
"""The largest batch a projector takes while far behind its logs' heads (a rebuild, a
catch-up): it takes its batch size at the head, and up to this much behind it (see
projections.runtime.Worker). A Redis view's batch holds Redis for its commit script (some
tens of milliseconds at this size), so larger is faster but stalls readers longer."""
REWRITING_MAX_BATCH_SIZE = 50_000
"""The same for the OpenSearch view and the order history, which read and rewrite each touched
document or order row whole once per batch: the fewer the batches, the fewer the rewrites of a
busy product or order. Neither holds readers up while it commits."""
LOG_POOL_SIZE = 1
"""A worker reads one batch at a time, so each log needs one connection (plus one spare)."""
LOG_CONNECT_TIMEOUT_SECONDS = 1
"""How long a log read waits for a connection before the library's own retries (ten) give up.

The library's default (30 s, ten times) would hold a worker inside one read for five minutes
of a PostgreSQL outage, deaf to SIGTERM; with this the worker's retry, which counts, logs and
honours a stop request, takes over within about twelve seconds.
"""


class UnknownProjection(LookupError):
    """No projection has the given name."""


@dataclass(frozen=True)
class Stores:
    """The addresses a projector reads from and writes to."""

    postgres_url: str
    redis_url: str


@dataclass(frozen=True)
class Projector:
    """One projection and how to build the view it writes on the configured stores."""

    name: str
    projection: Callable[[], Projection[Any]]
    view: Callable[[Settings, Stores], View[Any]]
    close_view: Callable[[View[Any]], None]
    versions: Callable[[Settings, Stores], ViewVersions]
    """The view's versions in its store, for `marketplace rebuild`."""


def product_detail_view(settings: Settings, stores: Stores) -> RedisProductDetailView:
    """The product-detail view in Redis under its own key prefix."""
    return redis_views.product_detail_view(settings, stores.redis_url)


def cart_view(settings: Settings, stores: Stores) -> RedisCartView:
    """The carts view in Redis under its own key prefix."""
    return redis_views.cart_view(settings, stores.redis_url)


def catalog_search_view(settings: Settings, stores: Stores) -> catalog_search.CatalogSearchView:
    """The catalog-search view: OpenSearch if configured, else the event store's PostgreSQL."""
    return catalog_search.projector_view(settings, stores.postgres_url)


def order_history_view(settings: Settings, stores: Stores) -> View[Any]:
    """The order-history view in the event store's PostgreSQL."""
    return order_views.order_history_view(stores.postgres_url)


def seller_sales_view(settings: Settings, stores: Stores) -> View[Any]:
    """The seller-sales view in the event store's PostgreSQL."""
    return order_views.seller_sales_view(stores.postgres_url)


PROJECTORS: dict[str, Projector] = {
    projector.name: projector
    for projector in [
        Projector(
            ProductDetailProjection.name,
            ProductDetailProjection,
            product_detail_view,
            close_redis_view,
            lambda settings, at: redis_views.product_detail_versions(settings, at.redis_url),
        ),
        Projector(
            CartProjection.name,
            CartProjection,
            cart_view,
            close_redis_view,
            lambda settings, at: redis_views.cart_versions(settings, at.redis_url),
        ),
        Projector(
            CatalogSearchProjection.name,
            CatalogSearchProjection,
            catalog_search_view,
            catalog_search.close_view,
            lambda settings, at: catalog_search.versions(settings, at.postgres_url),
        ),
        Projector(
            OrderHistoryProjection.name,
            OrderHistoryProjection,
            order_history_view,
            order_views.close_view,
            lambda settings, at: order_views.order_history_versions(at.postgres_url),
        ),
        Projector(
            SellerSalesProjection.name,
            SellerSalesProjection,
            seller_sales_view,
            order_views.close_view,
            lambda settings, at: order_views.seller_sales_versions(at.postgres_url),
        ),
    ]
}


def projector(name: str) -> Projector:
    """The projector of that name, or UnknownProjection naming the known ones."""
    try:
        return PROJECTORS[name]
    except KeyError:
        known = ", ".join(sorted(PROJECTORS))
        raise UnknownProjection(
            f"unknown projection {name!r}; known projections: {known}"
        ) from None


def stores(settings: Settings) -> Stores:
    """The configured store URLs; unset ones are the embedded servers `marketplace up` starts."""
    data_dir = settings.data_dir.resolve()
    postgres_url = settings.postgres_url or (
        LocalPostgres(data_dir / "postgres", settings.embedded_postgres_port).url
    )
    redis_url = (
        settings.redis_url or LocalRedis(data_dir / "redis", settings.embedded_redis_port).url
    )
    return Stores(postgres_url, redis_url)


def log_names(projection: Projection[Any], settings: Settings) -> tuple[str, ...]:
    """The logs a projection follows: one per context, or the single shared log."""
    return projection.contexts if settings.split_logs else (SINGLE_LOG,)


def context_logs(
    projection: Projection[Any], settings: Settings, where: Stores
) -> list[ContextLog]:
    """A reader for each log the projection follows, on small connection pools."""
    reader = settings.model_copy(
        update={
            "postgres_pool_size": LOG_POOL_SIZE,
            "postgres_max_overflow": 1,
            "postgres_connect_timeout_seconds": LOG_CONNECT_TIMEOUT_SECONDS,
        }
    )
    env = eventsourcing_env(reader, where.postgres_url)
    return [ContextLog(env, name) for name in log_names(projection, settings)]


def largest_batch(view: View[Any]) -> int:
    """The largest batch a worker writing view takes while behind (see MAX_BATCH_SIZE)."""
    if isinstance(view, OpenSearchCatalogSearch | OrderHistoryView):
        return REWRITING_MAX_BATCH_SIZE
    return MAX_BATCH_SIZE


@contextmanager
def opened(
    name: str,
    settings: Settings,
    batch_size: int = 1000,
    max_batch_size: int | None = None,
) -> Iterator[Worker[Any]]:
    """A worker for the named projection on the configured stores; closed on exit.

    Its batches grow to max_batch_size while behind, largest_batch(view) if None.
    """
    spec = projector(name)
    where = stores(settings)
    with ExitStack() as resources:
        projection = spec.projection()
        logs = context_logs(projection, settings, where)
        for context_log in logs:
            resources.callback(context_log.close)
        view = spec.view(settings, where)
        resources.callback(spec.close_view, view)
        largest = max_batch_size or largest_batch(view)
        yield Worker(projection, view, logs, batch_size=batch_size, max_batch_size=largest)


@dataclass(frozen=True)
class Lag:
    """How far one projection's view is behind one log."""

    projection: str
    log: str
    head: int
    position: int
    seconds: float

    @property
    def events(self) -> int:
        """Events in the log not yet in the view."""
        return max(self.head - self.position, 0)


def lag_of(worker: Worker[Any], now: datetime | None = None) -> list[Lag]:
    """Each log's head, the view's position in it, and the age of the next unprojected event."""
    return lag_rows(worker.projection.name, worker.view.positions(), worker.logs, now)


def lag_rows(
    name: str, positions: dict[str, int], logs: Sequence[ContextLog], now: datetime | None = None
) -> list[Lag]:
    """lag_of for these positions in these logs, under the name given."""
    now = now or datetime.now(UTC)
    rows = []
    for context_log in logs:
        position = positions.get(context_log.log_name, 0)
        head = context_log.head()
        seconds = 0.0
        if head > position:
            following = context_log.read(position, 1)
            if following:
                seconds = max((now - following[0].event.timestamp).total_seconds(), 0.0)
        rows.append(Lag(name, context_log.log_name, head, position, seconds))
    return rows


def status(settings: Settings) -> list[Lag]:
    """The lag of every known projection, then of the process managers that keep their
    position the same way (the checkout book, the mail outbox), read from the stores (no
    worker need run)."""
    rows: list[Lag] = []
    for name in sorted(PROJECTORS):
        with opened(name, settings) as worker:
            rows.extend(lag_of(worker))
    where = stores(settings)
    connect = {"connect_timeout": settings.postgres_connect_timeout_seconds}
    with ConnectionPool(
        where.postgres_url, min_size=1, max_size=1, timeout=10, kwargs=connect, open=True
    ) as pool:
        books: list[tuple[Projection[Any], PostgresCheckoutBook | PostgresNotificationView]] = [
            (CheckoutBookProjection(), PostgresCheckoutBook(pool)),
            (NotificationProjection(), PostgresNotificationView(pool)),
        ]
        for projection, book in books:
            try:
                positions = book.positions()
            except psycopg.errors.UndefinedTable:  # its worker never ran
                positions = {}
            logs = context_logs(projection, settings, where)
            try:
                rows.extend(lag_rows(projection.name, positions, logs))
            finally:
                for context_log in logs:
                    context_log.close()
    return rows


def lag_table(rows: Sequence[Lag]) -> str:
    """The rows as an aligned text table with a header."""
    header = ("projection", "log", "head", "position", "behind", "seconds behind")
    cells = [header] + [
        (r.projection, r.log, str(r.head), str(r.position), str(r.events), f"{r.seconds:.1f}")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for row in cells:
        left = [row[i].ljust(widths[i]) for i in range(2)]
        right = [row[i].rjust(widths[i]) for i in range(2, len(header))]
        lines.append("  ".join(left + right).rstrip())
    return "\n".join(lines)


def run(name: str, settings: Settings, *, batch_size: int = 1000, metrics_port: int = 0) -> int:
    """Run the named projector until SIGTERM or SIGINT, then return 0.

    With a metrics port, Prometheus metrics (lag per log, events, failures) are served there.
    """
    spec = projector(name)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if metrics_port:
            start_http_server(metrics_port, addr=settings.host)
        with opened(spec.name, settings, batch_size) as worker:
            log.info(
                "projector_started",
                projection=spec.name,
                logs=log_names(worker.projection, settings),
            )
            worker.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("projector_stopped", projection=spec.name)
    return 0
