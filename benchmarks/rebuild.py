"""Projection rebuild throughput per store, next to the raw rate of reading the same logs.

Each rebuild is a Worker on a fresh key prefix, schema or index prefix. With the large batch
it runs Worker.catch_up() to the logs' heads; with small batches (much slower) it steps
until the heads or a time budget, whichever comes first, and says which.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from opensearchpy import OpenSearch
from psycopg_pool import ConnectionPool

from infra.eventstore import with_search_path
from infra.settings import Settings
from marketplace.projectors import Stores, context_logs, product_detail_view, redis_client
from projections.catalog_search.opensearch_view import OpenSearchCatalogSearch
from projections.catalog_search.postgres_view import PostgresCatalogSearch
from projections.catalog_search.projection import CatalogSearchProjection
from projections.log import ContextLog
from projections.product_detail.projection import ProductDetailProjection
from projections.redis_unit import text
from projections.runtime import Projection, View, Worker


@dataclass(frozen=True)
class Rate:
    """Events handled in some seconds; complete when the logs' heads were reached."""

    label: str
    batch: int
    events: int
    seconds: float
    complete: bool

    @property
    def per_second(self) -> float:
        """Events per second."""
        return self.events / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Target:
    """Where a rebuild writes, for one batch size: the store's name and how to open its view."""

    store: str
    projection: Callable[[], Projection[Any]]
    view: Callable[[str], Iterator[View[Any]]]
    """A context manager factory: given a fresh name, yields the created, empty view."""


def heads(logs: Sequence[ContextLog]) -> dict[str, int]:
    """Each log's last position."""
    return {log.log_name: log.head() for log in logs}


def raw_read(logs: Sequence[ContextLog], batch: int, budget: float) -> Rate:
    """Read (and decode) every log from the start in batches, within the time budget."""
    events, started = 0, time.perf_counter()
    complete = True
    for log in logs:
        after = 0
        while True:
            if time.perf_counter() - started > budget:
                complete = False
                break
            items = log.read(after, batch)
            if not items:
                break
            events += len(items)
            after = items[-1].position
    return Rate("raw log read", batch, events, time.perf_counter() - started, complete)


def rebuild(worker: Worker[Any], label: str, budget: float | None) -> Rate:
    """Project from empty: catch_up() without a budget, else step until heads or budget."""
    started = time.perf_counter()
    if budget is None:
        events = worker.catch_up()
        return Rate(label, worker.batch_size, events, time.perf_counter() - started, True)
    target = heads(worker.logs)
    events = 0
    while any(worker.positions().get(name, 0) < head for name, head in target.items()):
        if time.perf_counter() - started > budget:
            return Rate(label, worker.batch_size, events, time.perf_counter() - started, False)
        events += worker.step()
    return Rate(label, worker.batch_size, events, time.perf_counter() - started, True)


class Rebuilds:
    """Opens fresh views on the benchmark's stores and times rebuilds into them."""

    def __init__(
        self, settings: Settings, server_url: str, stores: Stores, opensearch_url: str | None
    ) -> None:
        self.settings = settings
        self.server_url = server_url
        self.stores = stores
        self.opensearch_url = opensearch_url

    def targets(self) -> list[Target]:
        """Product detail in Redis, catalog search in PostgreSQL (and OpenSearch, if running)."""
        found = [
            Target("Redis: product-detail", ProductDetailProjection, self.redis_view),
            Target("PostgreSQL: catalog-search", CatalogSearchProjection, self.postgres_view),
        ]
        if self.opensearch_url:
            found.append(
                Target("OpenSearch: catalog-search", CatalogSearchProjection, self.opensearch_view)
            )
        return found

    @contextmanager
    def logs(self, projection: Projection[Any]) -> Iterator[list[ContextLog]]:
        """Fresh readers of the logs the projection follows."""
        opened = context_logs(projection, self.settings, self.stores)
        try:
            yield opened
        finally:
            for log in opened:
                log.close()

    def run(self, target: Target, name: str, batch: int, budget: float | None) -> Rate:
        """Rebuild target's projection into the view called name with this batch size."""
        projection = target.projection()
        with self.logs(projection) as logs, contextmanager(target.view)(name) as view:
            return rebuild(Worker(projection, view, logs, batch_size=batch), target.store, budget)

    def raw(self, batch: int, budget: float) -> Rate:
        """The raw read rate of the logs the projections follow (catalog and inventory)."""
        with self.logs(ProductDetailProjection()) as logs:
            return raw_read(logs, batch, budget)

    def redis_view(self, name: str) -> Iterator[View[Any]]:
        """The product-detail view under the Redis prefix name (the query API's if "bench")."""
        settings = self.settings.model_copy(update={"redis_prefix": name})
        view = product_detail_view(settings, self.stores)
        try:
            yield view
        finally:
            view.client.close()

    def postgres_view(self, name: str) -> Iterator[View[Any]]:
        """The catalog-search view on the PostgreSQL schema name (created if missing)."""
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{name}"')
        url = with_search_path(self.server_url, name)
        with ConnectionPool(url, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
            view = PostgresCatalogSearch(pool)
            view.create()
            yield view

    def opensearch_view(self, name: str) -> Iterator[View[Any]]:
        """The catalog-search view under the OpenSearch index prefix name."""
        client = OpenSearch(hosts=[self.opensearch_url], timeout=30)
        try:
            view = OpenSearchCatalogSearch(client, f"{name}-")
            view.create()
            yield view
        finally:
            client.close()


def redis_counts(stores: Stores, prefix: str) -> tuple[int, dict[str, int]]:
    """Products in the product-detail view under the Redis prefix, and its positions."""
    client = redis_client(stores.redis_url)
    try:
        keys = sum(1 for _ in client.scan_iter(match=f"{prefix}:product:*", count=1000))
        raw = client.hgetall(f"{prefix}:positions")
    finally:
        client.close()
    return keys, {text(k): int(v) for k, v in raw.items()}


def postgres_counts(server_url: str, schema: str) -> tuple[int, int, dict[str, int]]:
    """Products, units available and positions of the catalog-search view on schema."""
    with psycopg.connect(with_search_path(server_url, schema)) as conn:
        products = conn.execute("SELECT count(*) FROM catalog_search_products").fetchone()
        units = conn.execute("SELECT coalesce(sum(available), 0) FROM catalog_search_stock")
        available = units.fetchone()
        rows = conn.execute(
            "SELECT log, position FROM projection_positions WHERE view = 'catalog-search'"
        ).fetchall()
    assert products is not None and available is not None
    return int(products[0]), int(available[0]), {str(k): int(v) for k, v in rows}


def opensearch_counts(url: str, prefix: str) -> tuple[int, dict[str, int]]:
    """Product documents and positions of the catalog-search index under prefix."""
    client = OpenSearch(hosts=[url], timeout=30)
    try:
        view = OpenSearchCatalogSearch(client, f"{prefix}-")
        client.indices.refresh(index=view.index)
        found = client.count(index=view.index, body={"query": {"term": {"kind": "product"}}})
        return int(found["count"]), view.positions()
    finally:
        client.close()
