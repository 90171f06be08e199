"""The read models this platform projects, and how each is wired to its logs and view.

A projector is one projection, the logs it follows and the view it writes, run as its own
worker process (`marketplace project NAME`, one entry of marketplace.registry). Adding a read
model is one more entry in PROJECTORS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from infra.settings import Settings
from infra.stores import Stores, stores
from marketplace import catalog_search, order_views, redis_views
from marketplace.order_views import V
from marketplace.redis_views import close_redis_view
from marketplace.redis_views import redis_client as redis_client
from marketplace.redis_views import redis_prefix as redis_prefix
from projections.carts.projection import CartProjection
from projections.carts.redis_view import RedisCartView
from projections.catalog_search.opensearch_view import OpenSearchCatalogSearchView
from projections.catalog_search.projection import CatalogSearchProjection
from projections.marketplace_figures.postgres_view import PostgresMarketplaceFiguresView
from projections.marketplace_figures.projection import MarketplaceFiguresProjection
from projections.orders.postgres_view import PostgresOrderHistoryView
from projections.orders.projection import OrderHistoryProjection
from projections.product_detail.projection import ProductDetailProjection
from projections.product_detail.redis_view import RedisProductDetailView
from projections.runtime import Projection, View, Worker
from projections.seller_sales.postgres_view import PostgresSellerSalesView
from projections.seller_sales.projection import SellerSalesProjection
from projections.stores.postgres.deadletters import dead_letters_at
from projections.versions import ViewVersions
from workers.logs import followed_logs

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


class UnknownProjection(LookupError):
    """No projection has the given name."""


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


def postgres_projector(projection: type[Projection[Any]], view_type: type[V]) -> Projector:
    """A projector whose view is in the event store's PostgreSQL (see marketplace.order_views)."""
    name = projection.name
    return Projector(
        name,
        projection,
        lambda settings, at: order_views.projector_view(view_type, name, at.postgres_url),
        order_views.close_view,
        lambda settings, at: order_views.view_versions(view_type, name, at.postgres_url),
    )


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
        postgres_projector(OrderHistoryProjection, PostgresOrderHistoryView),
        postgres_projector(SellerSalesProjection, PostgresSellerSalesView),
        postgres_projector(MarketplaceFiguresProjection, PostgresMarketplaceFiguresView),
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


def largest_batch(view: View[Any]) -> int:
    """The largest batch a worker writing view takes while behind (see MAX_BATCH_SIZE)."""
    if isinstance(view, OpenSearchCatalogSearchView | PostgresOrderHistoryView):
        return REWRITING_MAX_BATCH_SIZE
    return MAX_BATCH_SIZE


@contextmanager
def opened(
    name: str,
    settings: Settings,
    batch_size: int = 1000,
    max_batch_size: int | None = None,
    *,
    failures: bool = True,
) -> Iterator[Worker[Any]]:
    """A worker for the named projection on the configured stores; closed on exit.

    Its batches grow to max_batch_size while behind, largest_batch(view) if None. It records
    its failures in the dead letters unless failures is False (a reader of positions).
    """
    spec = projector(name)
    where = stores(settings)
    with ExitStack() as resources:
        book = None
        if failures:
            timeout = settings.postgres.connect_timeout_seconds
            book = resources.enter_context(dead_letters_at(where.postgres_url, timeout))
        projection = spec.projection()
        logs = followed_logs(projection, settings, where, resources)
        view = spec.view(settings, where)
        resources.callback(spec.close_view, view)
        largest = max_batch_size or largest_batch(view)
        yield Worker(
            projection, view, logs, batch_size=batch_size, max_batch_size=largest, failures=book
        )
