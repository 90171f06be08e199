"""The catalog-search view on the configured backend, for its projector and for the query API.

Settings choose the store: OpenSearch whenever `opensearch.url` is set, otherwise tables of
its own in the event store's PostgreSQL (the embedded default), tracked under the projection's
name in `projection_positions`.
"""

from __future__ import annotations

from typing import Any

import psycopg
from opensearchpy import NotFoundError
from psycopg_pool import ConnectionPool

from infra.opensearch import opensearch_client
from infra.postgres_pool import postgres_pool
from infra.settings import Settings
from projections.catalog_search.opensearch_view import OpenSearchCatalogSearchView
from projections.catalog_search.postgres_view import PostgresCatalogSearchView
from projections.catalog_search.projection import CatalogSearchProjection
from projections.catalog_search.reads import EmptyUntilCreated
from projections.stores.opensearch.versions import VIEW_VERSION, OpenSearchVersions
from projections.stores.postgres.versions import PostgresVersions
from projections.versions import READERS, ViewVersions

CatalogSearchView = PostgresCatalogSearchView | OpenSearchCatalogSearchView
PROJECTOR_POOL_SIZE = 2
READ_POOL_SIZE = 10
OPENSEARCH_WRITE_TIMEOUT_SECONDS = 30
PROJECTOR_VERIFY_SECONDS = 1.0
"""How often an idle projector rereads its positions (Worker.run), resolving its alias."""


def search_pool(
    postgres_url: str, max_size: int, timeout: float, call_timeout: float | None = None
) -> ConnectionPool:
    """A pool on the event store's database; not autocommit, as searches set their snapshot.

    A caller waits timeout seconds at most for a connection, and with call_timeout each call
    ends within it (the query API's reads; projectors leave it unset)."""
    return postgres_pool(
        postgres_url,
        max_size=max_size,
        timeout=timeout,
        connect_timeout=timeout,
        autocommit=False,
        call_timeout=call_timeout,
    )


def projector_view(settings: Settings, postgres_url: str) -> CatalogSearchView:
    """The view the catalog-search projector writes, created (tables or index) if missing."""
    view: CatalogSearchView
    if settings.opensearch.url:
        client = opensearch_client(
            settings.opensearch.url, OPENSEARCH_WRITE_TIMEOUT_SECONDS, retries=3
        )
        view = OpenSearchCatalogSearchView(client, settings.opensearch.index_prefix)
    else:
        view = PostgresCatalogSearchView(
            search_pool(postgres_url, PROJECTOR_POOL_SIZE, 30.0), CatalogSearchProjection.name
        )
    view.create()
    return view


def versions(settings: Settings, postgres_url: str) -> ViewVersions:
    """The versions of the catalog-search view on the configured backend, for a rebuild.

    An old OpenSearch index is deleted after the longest search the query API lets run and
    an idle projector's verify interval (when it resolves the writers' alias again).
    """
    if settings.opensearch.url:
        client = opensearch_client(
            settings.opensearch.url, OPENSEARCH_WRITE_TIMEOUT_SECONDS, retries=3
        )
        prefix = settings.opensearch.index_prefix
        grace = settings.deadlines.read_store_timeout_seconds + PROJECTOR_VERIFY_SECONDS
        return OpenSearchVersions(
            client,
            prefix,
            lambda version: OpenSearchCatalogSearchView(client, prefix, version=version),
            grace,
        )
    pool = search_pool(postgres_url, PROJECTOR_POOL_SIZE, 30.0)
    name = CatalogSearchProjection.name
    return PostgresVersions(
        pool,
        name,
        PostgresCatalogSearchView.tables,
        lambda version: PostgresCatalogSearchView(pool, name, version=version),
    )


def close_view(view: Any) -> None:
    """Release the view's pool or client."""
    if isinstance(view, PostgresCatalogSearchView):
        view.pool.close()
    elif isinstance(view, OpenSearchCatalogSearchView):
        view.client.close()


def reader_view(settings: Settings, postgres_url: str) -> EmptyUntilCreated:
    """The view the query API reads (the readers' version): each call fails within the timeout."""
    timeout = settings.deadlines.read_store_timeout_seconds
    if settings.opensearch.url:
        client = opensearch_client(settings.opensearch.url, timeout, retries=0)
        prefix = settings.opensearch.index_prefix
        view = OpenSearchCatalogSearchView(client, prefix, follows=READERS)
        earlier = OpenSearchCatalogSearchView(client, prefix, version=VIEW_VERSION)
        return EmptyUntilCreated(view, (NotFoundError,), client.close, earlier)
    pool = search_pool(postgres_url, READ_POOL_SIZE, timeout, call_timeout=timeout)
    postgres = PostgresCatalogSearchView(pool, CatalogSearchProjection.name, follows=READERS)
    return EmptyUntilCreated(postgres, (psycopg.errors.UndefinedTable,), pool.close)
