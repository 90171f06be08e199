"""The catalog-search view on the configured backend, for its projector and for the query API.

Settings choose the store: OpenSearch whenever `opensearch_url` is set, otherwise tables of
its own in the event store's PostgreSQL (the embedded default), tracked under the projection's
name in `projection_positions`.
"""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from opensearchpy import NotFoundError, OpenSearch
from psycopg_pool import ConnectionPool

from infra.settings import Settings
from projections.catalog_search.opensearch_view import OpenSearchCatalogSearch
from projections.catalog_search.postgres_view import PostgresCatalogSearch
from projections.catalog_search.projection import CatalogSearchProjection
from projections.catalog_search.search import (
    PRICE_BUCKETS,
    FacetBucket,
    Facets,
    SearchQuery,
    SearchResult,
)

log = structlog.get_logger()

CatalogSearchView = PostgresCatalogSearch | OpenSearchCatalogSearch
PROJECTOR_POOL_SIZE = 2
READ_POOL_SIZE = 10
OPENSEARCH_WRITE_TIMEOUT_SECONDS = 30
MIN_CONNECT_TIMEOUT_SECONDS = 2
"""libpq rounds a connect_timeout below two seconds up to two."""


def search_pool(postgres_url: str, max_size: int, timeout: float) -> ConnectionPool:
    """A pool on the event store's database; not autocommit, as searches set their snapshot."""
    connect_timeout = max(MIN_CONNECT_TIMEOUT_SECONDS, round(timeout))
    return ConnectionPool(
        postgres_url,
        min_size=1,
        max_size=max_size,
        timeout=timeout,
        kwargs={"connect_timeout": connect_timeout},
        open=True,
    )


def opensearch_client(url: str, timeout: float, *, retries: int) -> OpenSearch:
    """An OpenSearch client whose calls fail after timeout seconds."""
    return OpenSearch(hosts=[url], timeout=timeout, max_retries=retries)


def projector_view(settings: Settings, postgres_url: str) -> CatalogSearchView:
    """The view the catalog-search projector writes, created (tables or index) if missing."""
    view: CatalogSearchView
    if settings.opensearch_url:
        client = opensearch_client(
            settings.opensearch_url, OPENSEARCH_WRITE_TIMEOUT_SECONDS, retries=3
        )
        view = OpenSearchCatalogSearch(client, settings.opensearch_index_prefix)
    else:
        view = PostgresCatalogSearch(
            search_pool(postgres_url, PROJECTOR_POOL_SIZE, 30.0), CatalogSearchProjection.name
        )
    view.create()
    return view


def close_view(view: Any) -> None:
    """Release the view's pool or client."""
    if isinstance(view, PostgresCatalogSearch):
        view.pool.close()
    elif isinstance(view, OpenSearchCatalogSearch):
        view.client.close()


class EmptyUntilCreated:
    """A view read before its projector has created it: no positions, no matches (not a 500)."""

    def __init__(self, view: CatalogSearchView, missing: tuple[type[Exception], ...]) -> None:
        self.view = view
        self.missing = missing
        self.transient_errors = view.transient_errors

    def positions(self) -> dict[str, int]:
        """The view's positions, or none while it does not exist."""
        try:
            return self.view.positions()
        except self.missing as error:
            log.info("catalog_search_not_created", error=repr(error))
            return {}

    def search(self, query: SearchQuery) -> SearchResult:
        """The view's answer, or an empty one while it does not exist."""
        try:
            return self.view.search(query)
        except self.missing as error:
            log.info("catalog_search_not_created", error=repr(error))
            prices = tuple(FacetBucket(bucket.key, 0) for bucket in PRICE_BUCKETS)
            return SearchResult(hits=(), total=0, facets=Facets((), (), prices))

    def close(self) -> None:
        """Release the view's pool or client."""
        close_view(self.view)


def reader_view(settings: Settings, postgres_url: str) -> EmptyUntilCreated:
    """The view the query API reads: each call to the store fails within the read timeout."""
    timeout = settings.read_store_timeout_seconds
    if settings.opensearch_url:
        client = opensearch_client(settings.opensearch_url, timeout, retries=0)
        view = OpenSearchCatalogSearch(client, settings.opensearch_index_prefix)
        return EmptyUntilCreated(view, (NotFoundError,))
    pool = search_pool(postgres_url, READ_POOL_SIZE, timeout)
    postgres = PostgresCatalogSearch(pool, CatalogSearchProjection.name)
    return EmptyUntilCreated(postgres, (psycopg.errors.UndefinedTable,))
