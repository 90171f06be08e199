"""Rebuild-test helpers: a market trading across every context, live projectors, store dumps.

Each target names a projector and its backend, and knows how to dump one version of its view
(every row, key or document, without the store's names) and how to dump a full replay of the
logs into a fresh place beside it, so the two can be compared.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import redis
from opensearchpy import OpenSearch
from psycopg import sql
from psycopg_pool import ConnectionPool

from commands.services import Commands
from domain.base import Context
from domain.errors import DomainError
from domain.money import Money
from infra.eventstore import eventsourcing_env, with_search_path
from infra.settings import PostgresSettings, RedisSettings, Settings
from infra.stores import stores
from marketplace.bootstrap import build_read_deps
from marketplace.projectors import PROJECTORS, opened, redis_prefix
from marketplace.rebuild import rebuild
from projections.carts.redis_view import RedisCartView
from projections.catalog_search.opensearch_view import OpenSearchCatalogSearchView
from projections.catalog_search.postgres_view import PostgresCatalogSearchView
from projections.log import ContextLog
from projections.marketplace_figures.postgres_view import PostgresMarketplaceFiguresView
from projections.orders.postgres_view import PostgresOrderHistoryView
from projections.product_detail.redis_view import RedisProductDetailView
from projections.runtime import Worker
from projections.seller_sales.postgres_view import PostgresSellerSalesView
from projections.stores.opensearch.versions import TRACKING_ID, index_name
from projections.stores.postgres.versions import version_suffix
from projections.stores.redis.unit import RedisView, text, version_prefix
from projections.versions import ViewVersions
from tests.projections.orders_fixture import START, OrderDesk
from workers.logs import context_logs

WAIT_SECONDS = 30.0
HOUR = timedelta(hours=1)
GRACE_SECONDS = 0.1


def as_actor(actor: uuid.UUID, role: str = "seller") -> Context:
    return Context(datetime.now(UTC), str(actor), role, "req", "corr", "cause")


@dataclass
class Market:
    """Sellers, products, shoppers with carts, and random trade through the command side."""

    commands: Commands
    rng: random.Random
    sellers: list[uuid.UUID] = field(default_factory=list)
    products: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    carts: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, sellers: int, products: int, shoppers: int) -> Market:
        """Register sellers, list and stock products, give shoppers carts."""
        catalog = self.commands.catalog
        for n in range(sellers):
            seller = uuid.uuid4()
            catalog.register_seller(seller, f"Seller {n}", f"s{n}@x.test", as_actor(seller))
            self.sellers.append(seller)
        for n in range(products):
            seller, product = self.sellers[n % sellers], uuid.uuid4()
            ctx = as_actor(seller)
            price = Money(500 + 37 * n, "EUR")
            catalog.list_product(product, seller, f"Item {n}", "d", "home", {}, price, ctx)
            self.commands.receive_stock(product, 500, ctx)
            self.products[product] = seller
        for _ in range(shoppers):
            shopper = uuid.uuid4()
            outcome, _ = self.commands.carts.create_cart(shopper, as_actor(shopper, "shopper"))
            self.carts[shopper] = outcome.aggregate_id
        return self

    def trade(self, steps: int, products: list[uuid.UUID] | None = None) -> None:
        """Take that many random steps: stock moves, price changes, cart lines, orders."""
        for _ in range(steps):
            self.step(products)

    def step(self, products: list[uuid.UUID] | None = None) -> None:
        """One command of a random kind, on one of the products (any, if None)."""
        with self.lock:
            product = self.rng.choice(products or list(self.products))
            seller = self.products[product]
            roll = self.rng.random()
            try:
                if roll < 0.3:
                    self.commands.receive_stock(product, self.rng.randint(1, 9), as_actor(seller))
                elif roll < 0.4:
                    price = Money(self.rng.randint(100, 90_000), "EUR")
                    self.commands.catalog.reprice_product(product, price, as_actor(seller), None)
                elif roll < 0.7:
                    shopper = self.rng.choice(list(self.carts))
                    ctx = as_actor(shopper, "shopper")
                    self.commands.add_to_cart(self.carts[shopper], product, 1, ctx)
                else:
                    self._order(product, seller, roll)
            except DomainError:
                pass

    def _order(self, product: uuid.UUID, seller: uuid.UUID, roll: float) -> None:
        desk = OrderDesk(self.commands)
        at = START + self.rng.randint(0, 47) * HOUR
        lines = [(seller, product, "Item", self.rng.randint(100, 9000), self.rng.randint(1, 3))]
        order = desk.place(uuid.uuid4(), lines, at)
        if roll < 0.95:
            desk.confirm(order, at)
        if roll > 0.9:
            desk.cancel(order, at=at + HOUR)


class Trader:
    """Keeps a market trading in a background thread, a step every so often, until stopped."""

    def __init__(
        self, market: Market, every: float, products: list[uuid.UUID] | None = None
    ) -> None:
        self.market = market
        self.every = every
        self.products = products
        self.steps = 0
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Trader:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(30)
        if self.error is not None:
            raise self.error

    def _loop(self) -> None:
        try:
            while not self.stopping.wait(self.every):
                self.market.step(self.products)
                self.steps += 1
        except BaseException as error:
            self.error = error


@contextmanager
def live_projector(name: str, settings: Settings, batch_size: int = 50) -> Iterator[Any]:
    """The named projector's worker running in a thread, as `marketplace project` runs it."""
    stop = threading.Event()
    failed: list[BaseException] = []
    with opened(name, settings, batch_size) as worker:

        def run() -> None:
            try:
                worker.run(stop, verify_seconds=0.05)
            except BaseException as error:
                failed.append(error)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            yield worker
        finally:
            stop.set()
            thread.join(30)
    assert not failed, f"the live projector stopped: {failed!r}"


READ_VIEWS = {
    "product-detail": "product_detail",
    "carts": "carts",
    "catalog-search": "catalog_search",
    "orders": "orders",
    "seller-sales": "seller_sales",
    "marketplace-figures": "marketplace_figures",
}


def wait_until_read(name: str, settings: Settings) -> dict[str, int]:
    """Poll the query API's view until it reaches the heads of the logs; its positions."""
    spec = PROJECTORS[name]
    logs = context_logs(spec.projection(), settings, stores(settings))
    deps = build_read_deps(settings)
    view = getattr(deps, READ_VIEWS[name]).view
    try:
        heads = {log.log_name: log.head() for log in logs}
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            seen = view.positions()
            if all(seen.get(log, 0) >= head for log, head in heads.items()):
                return dict(seen)
            if time.monotonic() > deadline:
                pytest.fail(f"{name} read at {seen}, logs at {heads}")
            time.sleep(0.02)
    finally:
        close_deps(deps)
        for log in logs:
            log.close()


def close_deps(deps: Any) -> None:
    """Release every client and pool of a ReadApiDeps."""
    deps.product_detail.view.client.close()
    deps.catalog_search.view.close()
    deps.orders.view.close()


@dataclass(frozen=True)
class Target:
    """A projector on one backend: its settings and how to dump versions and replays."""

    name: str
    backend: str
    dump: Callable[[Settings, int], Any]
    replay: Callable[[Settings], Any]

    @property
    def id(self) -> str:
        return f"{self.name}@{self.backend}"


def redis_dump(client: redis.Redis, prefix: str) -> dict[str, dict[str, str]]:
    """Every hash under prefix, keyed without it."""
    out: dict[str, dict[str, str]] = {}
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        name = text(key)
        fields = client.hgetall(name)
        out[name.removeprefix(f"{prefix}:")] = {text(k): text(v) for k, v in fields.items()}
    return out


def redis_target(name: str, view: Callable[[redis.Redis, str], RedisView[Any]]) -> Target:
    def dump(settings: Settings, version: int) -> Any:
        assert settings.redis.url
        with redis.Redis.from_url(settings.redis.url) as client:
            return redis_dump(client, version_prefix(redis_prefix(settings, name), version))

    def replay(settings: Settings) -> Any:
        assert settings.redis.url
        with redis.Redis.from_url(settings.redis.url) as client:
            base = f"{redis_prefix(settings, name)}-replay"
            made = view(client, base)
            project(name, settings, made)
            try:
                return redis_dump(client, base)
            finally:
                made.clear()

    return Target(name, "redis", dump, replay)


def postgres_target(name: str, view: Callable[[ConnectionPool], Any]) -> Target:
    def dump(settings: Settings, version: int) -> Any:
        assert settings.postgres.url
        with psycopg.connect(settings.postgres.url) as conn:
            base = conn.execute("SELECT current_schema()").fetchone()[0]  # type: ignore[index]
            schema = f"{base}{version_suffix(name)}{version}" if version else base
            return postgres_dump(conn, schema, TABLES[name])

    def replay(settings: Settings) -> Any:
        assert settings.postgres.url
        with psycopg.connect(settings.postgres.url, autocommit=True) as conn:
            base = conn.execute("SELECT current_schema()").fetchone()[0]  # type: ignore[index]
            schema = f"{base}_replay"
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            try:
                url = with_search_path(settings.postgres.url, schema)
                with ConnectionPool(url, min_size=1, max_size=2, open=True) as pool:
                    made = view(pool)
                    made.create()
                    project(name, settings, made)
                return postgres_dump(conn, schema, TABLES[name])
            finally:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))

    return Target(name, "postgres", dump, replay)


TABLES = {
    "orders": PostgresOrderHistoryView.tables,
    "seller-sales": PostgresSellerSalesView.tables,
    "marketplace-figures": PostgresMarketplaceFiguresView.tables,
    "catalog-search": PostgresCatalogSearchView.tables,
}


def postgres_dump(conn: psycopg.Connection[Any], schema: str, tables: tuple[str, ...]) -> Any:
    """Every row of the view's tables in schema, as sorted JSON, and its positions."""
    out: dict[str, Any] = {}
    for table in (*tables, "projection_positions"):
        rows = conn.execute(
            sql.SQL("SELECT row_to_json(t)::text FROM {} AS t").format(
                sql.Identifier(schema, table)
            )
        ).fetchall()
        out[table] = sorted(row[0] for row in rows)
    return out


def opensearch_target() -> Target:
    name = "catalog-search"

    def dump(settings: Settings, version: int) -> Any:
        assert settings.opensearch.url
        client = OpenSearch(hosts=[settings.opensearch.url], timeout=30)
        try:
            return opensearch_dump(client, index_name(settings.opensearch.index_prefix, version))
        finally:
            client.close()

    def replay(settings: Settings) -> Any:
        assert settings.opensearch.url
        client = OpenSearch(hosts=[settings.opensearch.url], timeout=30)
        made = OpenSearchCatalogSearchView(client, f"{settings.opensearch.index_prefix}replay-")
        try:
            made.create()
            project(name, settings, made)
            return opensearch_dump(client, made.index)
        finally:
            made.drop()
            client.close()

    return Target(name, "opensearch", dump, replay)


def opensearch_dump(client: OpenSearch, index: str) -> Any:
    """Every document of the index without the positions it reflects (batch-dependent)."""
    client.indices.refresh(index=index)
    body = {"query": {"match_all": {}}, "size": 10_000}
    hits = client.search(index=index, body=body)["hits"]["hits"]
    out = {}
    for hit in hits:
        source = {k: v for k, v in hit["_source"].items() if k not in ("positions", "position")}
        out[hit["_id"]] = source if hit["_id"] != TRACKING_ID else hit["_source"]
    return out


def project(name: str, settings: Settings, view: Any) -> int:
    """A full replay of the projection's logs into view."""
    spec = PROJECTORS[name]
    projection = spec.projection()
    env = eventsourcing_env(settings, settings.postgres.url)
    logs = [ContextLog(env, log) for log in projection.contexts]
    try:
        return Worker(projection, view, logs, batch_size=1000).catch_up()
    finally:
        for log in logs:
            log.close()


TARGETS = [
    redis_target("product-detail", lambda client, base: RedisProductDetailView(client, base)),
    redis_target("carts", lambda client, base: RedisCartView(client, base)),
    postgres_target("catalog-search", lambda pool: PostgresCatalogSearchView(pool)),
    postgres_target("orders", lambda pool: PostgresOrderHistoryView(pool, owns_pool=False)),
    postgres_target("seller-sales", lambda pool: PostgresSellerSalesView(pool, owns_pool=False)),
    postgres_target(
        "marketplace-figures", lambda pool: PostgresMarketplaceFiguresView(pool, owns_pool=False)
    ),
    opensearch_target(),
]


BY_ID = {target.id: target for target in TARGETS}


@pytest.fixture
def market(postgres_url: str) -> Iterator[Market]:
    """A market on this test's event store, open for trade."""
    commands = Commands(eventsourcing_env(Settings(), postgres_url))
    yield Market(commands, random.Random(7)).open(sellers=3, products=12, shoppers=4)
    commands.close()


@pytest.fixture
def rebuild_settings(
    target: Target, request: pytest.FixtureRequest, postgres_url: str, redis_server: str
) -> Iterator[Settings]:
    """Settings on this test's stores with prefixes of its own; every version dropped after."""
    made = Settings(
        postgres=PostgresSettings(url=postgres_url),
        redis=RedisSettings(url=redis_server, prefix=f"t{uuid.uuid4().hex[:10]}"),
    )
    if target.backend == "opensearch":
        search = {"url": request.getfixturevalue("opensearch_server")}
        made = made.updated(opensearch={**search, "index_prefix": f"t{uuid.uuid4().hex[:10]}-"})
    yield made
    versions = versions_of(target.name, made)
    try:
        for version in versions.existing():
            versions.drop(version)
    finally:
        versions.close()


def versions_of(name: str, settings: Settings) -> ViewVersions:
    """The versions of the named view on the settings' stores (close them after)."""
    return PROJECTORS[name].versions(settings, stores(settings))


def pointers(name: str, settings: Settings) -> tuple[int, int, set[int]]:
    """The readers' version, the writers' version, and every version stored."""
    versions = versions_of(name, settings)
    try:
        return versions.readers(), versions.writers(), versions.existing()
    finally:
        versions.close()


def rebuild_twice_beside_a_live_projector(
    target: Target, settings: Settings, market: Market, trades: int, live_batch: int
) -> None:
    """Rebuild while trade goes on and the live projector runs, then again; check each step.

    The first rebuild migrates the layout a deployment had before versions (version 0 in
    Redis and PostgreSQL, the lone index v1 in OpenSearch).
    """
    market.trade(trades)
    with live_projector(target.name, settings, live_batch):
        wait_until_read(target.name, settings)
        before = pointers(target.name, settings)
        with Trader(market, every=0.005) as trader:
            first = rebuild(target.name, settings, batch_size=40, grace_seconds=GRACE_SECONDS)
        switched = pointers(target.name, settings)
        market.trade(trades // 4)
        wait_until_read(target.name, settings)
        second = rebuild(target.name, settings, grace_seconds=GRACE_SECONDS)
        market.trade(trades // 8)
        wait_until_read(target.name, settings)
        after = pointers(target.name, settings)

    old = 1 if target.backend == "opensearch" else 0
    assert before == (old, old, {old})
    assert (first.readers, first.writers, first.version) == (old, old, old + 1)
    assert first.dropped == (old,)
    assert switched == (old + 1, old + 1, {old + 1})
    assert trader.steps > 0
    assert (second.readers, second.version, second.dropped) == (old + 1, old + 2, (old + 1,))
    assert after == (old + 2, old + 2, {old + 2})
    assert target.dump(settings, old + 2) == target.replay(settings)
