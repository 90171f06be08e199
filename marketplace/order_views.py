"""The order-history and seller-sales views in the event store's PostgreSQL.

Each projector writes its view through a small pool of its own, creating the tables first;
the query API reads both through one pool whose calls fail within the read timeout (a 503).
"""

from __future__ import annotations

from typing import Any

from infra.settings import Settings
from marketplace.catalog_search import search_pool
from projections.orders.postgres_view import PostgresOrderHistoryView
from projections.orders.projection import OrderHistoryProjection
from projections.seller_sales.postgres_view import PostgresSellerSalesView
from projections.seller_sales.projection import SellerSalesProjection
from projections.stores.postgres.reads import PostgresReadView
from projections.stores.postgres.versions import PostgresVersions
from projections.versions import READERS

PROJECTOR_POOL_SIZE = 2
READ_POOL_SIZE = 10
PROJECTOR_POOL_TIMEOUT_SECONDS = 30.0


def order_history_view(postgres_url: str) -> PostgresOrderHistoryView:
    """The view the orders projector writes, its tables created if missing."""
    pool = search_pool(postgres_url, PROJECTOR_POOL_SIZE, PROJECTOR_POOL_TIMEOUT_SECONDS)
    view = PostgresOrderHistoryView(pool, OrderHistoryProjection.name)
    view.create()
    return view


def seller_sales_view(postgres_url: str) -> PostgresSellerSalesView:
    """The view the seller-sales projector writes, its tables created if missing."""
    pool = search_pool(postgres_url, PROJECTOR_POOL_SIZE, PROJECTOR_POOL_TIMEOUT_SECONDS)
    view = PostgresSellerSalesView(pool, SellerSalesProjection.name)
    view.create()
    return view


def order_history_versions(postgres_url: str) -> PostgresVersions:
    """The versions of the order-history view, for a rebuild."""
    pool = search_pool(postgres_url, PROJECTOR_POOL_SIZE, PROJECTOR_POOL_TIMEOUT_SECONDS)
    name = OrderHistoryProjection.name
    return PostgresVersions(
        pool,
        name,
        PostgresOrderHistoryView.tables,
        lambda version: PostgresOrderHistoryView(pool, name, version=version, owns_pool=False),
    )


def seller_sales_versions(postgres_url: str) -> PostgresVersions:
    """The versions of the seller-sales view, for a rebuild."""
    pool = search_pool(postgres_url, PROJECTOR_POOL_SIZE, PROJECTOR_POOL_TIMEOUT_SECONDS)
    name = SellerSalesProjection.name
    return PostgresVersions(
        pool,
        name,
        PostgresSellerSalesView.tables,
        lambda version: PostgresSellerSalesView(pool, name, version=version, owns_pool=False),
    )


def close_view(view: Any) -> None:
    """Release a view's pool."""
    if isinstance(view, PostgresReadView):
        view.close()


def reader_views(
    settings: Settings, postgres_url: str
) -> tuple[PostgresOrderHistoryView, PostgresSellerSalesView]:
    """Both views for the query API, on one pool; each statement ends within the read timeout
    (the server's statement_timeout, and the client's own bound if the server hangs).

    They read the versions the readers' pointers name. The order-history view owns the pool
    (closing it closes both).
    """
    timeout = settings.deadlines.read_store_timeout_seconds
    pool = search_pool(postgres_url, READ_POOL_SIZE, timeout, call_timeout=timeout)
    statement_ms = max(int(timeout * 1000), 1)
    history = PostgresOrderHistoryView(
        pool, OrderHistoryProjection.name, statement_timeout_ms=statement_ms, follows=READERS
    )
    sales = PostgresSellerSalesView(
        pool,
        SellerSalesProjection.name,
        statement_timeout_ms=statement_ms,
        owns_pool=False,
        follows=READERS,
    )
    return history, sales
