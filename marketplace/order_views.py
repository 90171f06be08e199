"""The order-history, seller-sales and marketplace-figures views in the event store's PostgreSQL.

Each projector writes its view through a small pool of its own, creating the tables first;
the query API reads them through one pool whose calls fail within the read timeout (a 503).
"""

from __future__ import annotations

from typing import Any, TypeVar

from infra.settings import Settings
from marketplace.catalog_search import search_pool
from projections.marketplace_figures.postgres_view import PostgresMarketplaceFiguresView
from projections.marketplace_figures.projection import MarketplaceFiguresProjection
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


V = TypeVar("V", PostgresOrderHistoryView, PostgresSellerSalesView, PostgresMarketplaceFiguresView)


def projector_view(view_type: type[V], name: str, postgres_url: str) -> V:
    """The view a projector writes, on a small pool of its own, its tables created if missing."""
    pool = search_pool(postgres_url, PROJECTOR_POOL_SIZE, PROJECTOR_POOL_TIMEOUT_SECONDS)
    view = view_type(pool, name)
    view.create()
    return view


def view_versions(view_type: type[V], name: str, postgres_url: str) -> PostgresVersions:
    """The versions of a view, for a rebuild: each version's view shares one small pool."""
    pool = search_pool(postgres_url, PROJECTOR_POOL_SIZE, PROJECTOR_POOL_TIMEOUT_SECONDS)
    return PostgresVersions(
        pool,
        name,
        view_type.tables,
        lambda version: view_type(pool, name, version=version, owns_pool=False),
    )


def order_history_view(postgres_url: str) -> PostgresOrderHistoryView:
    """The view the orders projector writes, its tables created if missing."""
    return projector_view(PostgresOrderHistoryView, OrderHistoryProjection.name, postgres_url)


def seller_sales_view(postgres_url: str) -> PostgresSellerSalesView:
    """The view the seller-sales projector writes, its tables created if missing."""
    return projector_view(PostgresSellerSalesView, SellerSalesProjection.name, postgres_url)


def marketplace_figures_view(postgres_url: str) -> PostgresMarketplaceFiguresView:
    """The view the marketplace-figures projector writes, its tables created if missing."""
    return projector_view(
        PostgresMarketplaceFiguresView, MarketplaceFiguresProjection.name, postgres_url
    )


def close_view(view: Any) -> None:
    """Release a view's pool."""
    if isinstance(view, PostgresReadView):
        view.close()


def reader_views(
    settings: Settings, postgres_url: str
) -> tuple[PostgresOrderHistoryView, PostgresSellerSalesView, PostgresMarketplaceFiguresView]:
    """The three views for the query API, on one pool; each statement ends within the read timeout
    (the server's statement_timeout, and the client's own bound if the server hangs).

    They read the versions the readers' pointers name. The order-history view owns the pool
    (closing it closes all three).
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
    figures = PostgresMarketplaceFiguresView(
        pool,
        MarketplaceFiguresProjection.name,
        statement_timeout_ms=statement_ms,
        owns_pool=False,
        follows=READERS,
    )
    return history, sales, figures
