"""Projection rebuild throughput per store, next to the raw rate of reading the same logs.

python -m benchmarks.rebuild [--runs 2] [--warmup 1] [--products 3000] [--carts 5000]
    [--orders 6000] [--rounds 8] [--batch-size N] [--max-batch-size N] [--no-opensearch]
    [--only STORE:VIEW]

Starts its own durable PostgreSQL and Valkey (and an OpenSearch node if java is on PATH) in a
temporary directory; it reads no store from the settings. It appends a seeded workload
straight through the applications (benchmarks.rebuild_workload: about 140,000 events over the
catalog, inventory, carts and orders logs with the defaults), then for each read model on
each store (product detail and carts in Redis; catalog search, orders and seller sales in
PostgreSQL; catalog search in OpenSearch) creates the live view as `marketplace project`
would, rebuilds it --warmup times untimed (servers warm up: a fresh OpenSearch node indexes
at half speed), then, --runs times: reads its logs raw (decoded events, pages of 1000) and runs
`marketplace rebuild` in process (marketplace.rebuild.rebuild: a new version beside the live
one, projected from the start, both pointers switched, the old one dropped; timed from its
start to the readers' switch). Prints events/s, the ratio to the raw read and whether the
20,000 events/s goal is met, per run and as medians; exit status 1 if a rebuild projected
fewer events than its logs hold.

Rebuilds and Rate are also used by the read-path benchmark (benchmarks.read_path): each
rebuild there is a Worker on a fresh key prefix, schema or index prefix.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import psycopg
from opensearchpy import OpenSearch
from psycopg_pool import ConnectionPool

from benchmarks import fixtures
from benchmarks.rebuild_workload import load
from benchmarks.servers import free_port
from infra.eventstore import with_search_path
from infra.local.postgres import LocalPostgres
from infra.local.redis import LocalRedis
from infra.logging import configure_logging
from infra.settings import Settings
from infra.stores import Stores
from marketplace.projectors import product_detail_view, projector, redis_client
from marketplace.rebuild import rebuild as rebuild_view
from projections.catalog_search.opensearch_view import OpenSearchCatalogSearchView
from projections.catalog_search.postgres_view import PostgresCatalogSearchView
from projections.catalog_search.projection import CatalogSearchProjection
from projections.log import ContextLog
from projections.product_detail.projection import ProductDetailProjection
from projections.runtime import Projection, View, Worker
from projections.stores.redis.unit import text
from tests.support.opensearch import LocalOpenSearch, find_java_home
from workers.logs import context_logs

REBUILD_GOAL = 20_000
"""Events per second the issue asks of a rebuild."""
RAW_PAGE = 1000
"""The page size of the raw log read (the ceiling a rebuild is compared with)."""
VIEWS = (
    ("Redis", "product-detail"),
    ("Redis", "carts"),
    ("PostgreSQL", "catalog-search"),
    ("PostgreSQL", "orders"),
    ("PostgreSQL", "seller-sales"),
    ("OpenSearch", "catalog-search"),
)
"""Each read model on each store it supports: catalog search on OpenSearch when it runs."""


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
        settings = self.settings.updated(redis={"prefix": name})
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
            view = PostgresCatalogSearchView(pool)
            view.create()
            yield view

    def opensearch_view(self, name: str) -> Iterator[View[Any]]:
        """The catalog-search view under the OpenSearch index prefix name."""
        client = OpenSearch(hosts=[self.opensearch_url], timeout=30)
        try:
            view = OpenSearchCatalogSearchView(client, f"{name}-")
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
        view = OpenSearchCatalogSearchView(client, f"{prefix}-")
        client.indices.refresh(index=view.index)
        found = client.count(index=view.index, body={"query": {"term": {"kind": "product"}}})
        return int(found["count"]), view.positions()
    finally:
        client.close()


def raw_rate(settings: Settings, name: str) -> Rate:
    """The raw read rate of the logs the named projection follows."""
    where = Stores(settings.postgres.url or "", settings.redis.url or "")
    logs = context_logs(projector(name).projection(), settings, where)
    try:
        return raw_read(logs, RAW_PAGE, 600.0)
    finally:
        for log in logs:
            log.close()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rebuild", description=__doc__)
    parser.add_argument("--products", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=8, help="rounds of stock and cart moves")
    parser.add_argument("--carts", type=int, default=5000)
    parser.add_argument("--orders", type=int, default=6000)
    parser.add_argument("--runs", type=int, default=2, help="timed rebuilds of each view")
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed rebuilds of each view first (a cold OpenSearch node indexes at half speed)",
    )
    parser.add_argument("--batch-size", type=int, default=None, help="rebuild()'s default")
    parser.add_argument(
        "--max-batch-size", type=int, default=None, help="rebuild()'s default: the view's own"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-opensearch", action="store_true")
    parser.add_argument("--only", action="append", help="store:view to run (repeatable)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every rebuild projected every event of its logs."""
    args = parse_args(argv)
    configure_logging("WARNING")
    logging.getLogger("opensearch").setLevel(logging.ERROR)  # a missing alias is expected
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as tmp, ThreadPoolExecutor(1) as bg:
        postgres = LocalPostgres(Path(tmp) / "postgres", free_port(), durable=True)
        valkey = LocalRedis(Path(tmp) / "valkey", free_port())
        node = None
        if not args.no_opensearch and find_java_home() is not None:
            node = LocalOpenSearch(Path(tmp) / "opensearch", free_port())
        opensearch = bg.submit(node.start) if node is not None else None
        try:
            url = fixtures.create_schema(postgres.start(), "bench")
            settings = fixtures.settings_for(url, split_logs=True).updated(
                redis={"url": valkey.start(), "prefix": "bench"}
            )
            events = load(
                settings,
                products=args.products,
                rounds=args.rounds,
                carts=args.carts,
                orders=args.orders,
                seed=args.seed,
            )
            note(f"workload appended: {events} events", started)
            opensearch_url = opensearch.result() if opensearch is not None else None
            passed = measure(settings, opensearch_url, args, started)
        finally:
            if node is not None:
                node.stop()
            valkey.stop()
            postgres.stop()
    return 0 if passed else 1


def note(message: str, started: float) -> None:
    """A progress line on stderr."""
    print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


def measure(
    settings: Settings, opensearch_url: str | None, args: argparse.Namespace, started: float
) -> bool:
    """Raw reads and rebuilds of every view, --runs times; print them; True if all complete."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Rebuilds, {os.cpu_count()} CPUs (load average now {load}); events/s of")
    print("`marketplace rebuild` (setup to readers' switch) and of the raw read of its logs")
    header = f"{'store':<11}{'view':<16}{'run':>4}{'events':>9}{'seconds':>9}{'events/s':>10}"
    header += f"{'raw read/s':>12}{'/ raw':>7}  goal"
    print(header)
    print("-" * (len(header) + 6))
    passed, url = True, settings.postgres.url or ""
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for store, name in VIEWS:
        if args.only and f"{store}:{name}" not in args.only:
            continue
        if store == "OpenSearch" and not opensearch_url:
            print(f"{store:<11}{name:<16} not run: no OpenSearch")
            continue
        search = {"url": opensearch_url, "index_prefix": "bench-"}
        at = settings.updated(opensearch=search) if store == "OpenSearch" else settings
        spec = projector(name)
        # the live view, as `marketplace project` makes it: the rebuild builds the next version
        spec.close_view(spec.view(at, Stores(url, settings.redis.url or "")))
        kwargs = {} if args.batch_size is None else {"batch_size": args.batch_size}
        if args.max_batch_size is not None:
            kwargs["max_batch_size"] = args.max_batch_size
        for _ in range(args.warmup):
            rebuild_view(name, at, grace_seconds=0, **kwargs)
        for run in range(1, args.runs + 1):
            raw = raw_rate(at, name)
            done = rebuild_view(name, at, grace_seconds=0, **kwargs)
            complete = done.events == raw.events
            passed &= complete
            results.setdefault((store, name), []).append((done.rate, raw.per_second))
            print(
                f"{store:<11}{name:<16}{run:>4}{done.events:>9}{done.seconds:>9.2f}"
                f"{done.rate:>10,.0f}{raw.per_second:>12,.0f}{done.rate / raw.per_second:>7.2f}  "
                f"{goal(done.rate)}" + ("" if complete else f"  ({raw.events} events in the logs)"),
                flush=True,
            )
    print()
    print(f"Medians over {args.runs} run(s)")
    for (store, name), rates in results.items():
        rate = median(r for r, _ in rates)
        ratio = median(r / raw for r, raw in rates)
        print(f"  {store:<11}{name:<16}{rate:>10,.0f} events/s {ratio:>6.2f} x raw  {goal(rate)}")
    note("done", started)
    return passed


def goal(rate: float) -> str:
    """Whether rate meets the goal."""
    return f"{'meets' if rate >= REBUILD_GOAL else 'misses'} {REBUILD_GOAL:,}"


if __name__ == "__main__":
    sys.exit(main())
