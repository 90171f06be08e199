"""Schemas and fixtures of the benchmark: sellers, products, open stock items and carts.

Fixtures go through commands.services.Commands (the same handlers the routes call), in a
thread pool, before any timed run. Tokens are issued with the servers' JWT settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID, uuid4

import psycopg
from pydantic import SecretStr

from benchmarks.loadgen import LoadData
from commands.services import Commands
from domain.base import Context
from domain.cart import cart_id_for
from domain.money import Money
from infra.eventstore import with_search_path
from infra.idempotency import IdempotencyStore
from infra.settings import AuthSettings, EventStoreSettings, PostgresSettings, Settings
from marketplace.bootstrap import build_commands, postgres_pool, token_codec

JWT_SECRET = "benchmark-only-secret-0123456789abcdef-0123456789"
T = TypeVar("T")


@dataclass(frozen=True)
class Shape:
    """How many of each fixture to make."""

    sellers: int = 4
    stock_products: int = 400
    cart_products: int = 40
    carts: int = 2000


PREPARE_TIMEOUT_SECONDS = 30.0


def server_env(url: str, *, split_logs: bool, sealed: bool = True) -> dict[str, str]:
    """The MARKETPLACE_* environment of a serve-write process on this schema URL; sealed
    turns personal-data encryption on (the default) or off."""
    return {
        "MARKETPLACE_ENVIRONMENT": "development",
        "MARKETPLACE_EVENT_STORE": "postgres",
        "MARKETPLACE_POSTGRES_URL": url,
        "MARKETPLACE_SPLIT_LOGS": "true" if split_logs else "false",
        "MARKETPLACE_ENCRYPT_PERSONAL_DATA": "true" if sealed else "false",
        "MARKETPLACE_JWT_SECRET": JWT_SECRET,
        "MARKETPLACE_LOG_LEVEL": "WARNING",
    }


def settings_for(url: str, *, split_logs: bool) -> Settings:
    """The same settings the server builds from server_env()."""
    return Settings(
        environment="development",
        log_level="WARNING",
        events=EventStoreSettings(store="postgres", split_logs=split_logs),
        postgres=PostgresSettings(url=url),
        auth=AuthSettings(secret=SecretStr(JWT_SECRET)),
    )


def create_schema(server_url: str, schema: str) -> str:
    """Create an empty schema and return the URL whose sessions use it."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return with_search_path(server_url, schema)


def _ctx(actor: UUID, role: str) -> Context:
    rid = f"fixture-{uuid4().hex}"
    return Context(datetime.now(UTC), str(actor), role, rid, rid, rid)


def _parallel(pool: ThreadPoolExecutor, fn: Callable[[T], object], items: Iterable[T]) -> None:
    for _ in pool.map(fn, items):
        pass


def patient_settings(url: str, *, split_logs: bool) -> Settings:
    """settings_for(), for setting fixtures up (not measured): each store call may wait
    PREPARE_TIMEOUT_SECONDS, so a busy machine slows the set-up instead of failing it."""
    settings = settings_for(url, split_logs=split_logs)
    return settings.updated(deadlines={"write_store_timeout_seconds": PREPARE_TIMEOUT_SECONDS})


def prepare_registrations(url: str, customers: int) -> LoadData:
    """The idempotency table and one new shopper's token per registration to come."""
    settings = settings_for(url, split_logs=True)
    pool = postgres_pool(settings, max_size=2)
    try:
        IdempotencyStore(pool, settings.idempotency.ttl_hours).create_table()
    finally:
        pool.close()
    tokens = token_codec(settings.auth)
    return LoadData(
        register_auth=[f"Bearer {tokens.issue(uuid4(), 'shopper')}" for _ in range(customers)]
    )


def prepare(url: str, *, split_logs: bool, shape: Shape) -> LoadData:
    """Create every table, then the fixtures; returns the tables the Lua script rotates over."""
    settings = patient_settings(url, split_logs=split_logs)
    pool = postgres_pool(settings, max_size=2)
    try:
        IdempotencyStore(pool, settings.idempotency.ttl_hours).create_table()
    finally:
        pool.close()
    tokens = token_codec(settings.auth)
    commands: Commands = build_commands(settings)
    sellers = [uuid4() for _ in range(shape.sellers)]
    products = [uuid4() for _ in range(shape.stock_products)]
    owner = [i % shape.sellers for i in range(shape.stock_products)]
    shoppers = [uuid4() for _ in range(shape.carts)]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool_:
            _parallel(
                pool_,
                lambda s: commands.catalog.register_seller(
                    s, "Benchmark seller", "seller@bench.example", _ctx(s, "seller")
                ),
                sellers,
            )

            def list_and_stock(i: int) -> None:
                seller = sellers[owner[i]]
                ctx = _ctx(seller, "seller")
                commands.catalog.list_product(
                    products[i],
                    seller,
                    f"Product {i}",
                    "",
                    "bench",
                    {},
                    Money(1000 + i, "EUR"),
                    ctx,
                )
                commands.receive_stock(products[i], 1, ctx)

            _parallel(pool_, list_and_stock, range(shape.stock_products))
            _parallel(
                pool_,
                lambda s: commands.carts.create_cart(s, _ctx(s, "shopper")),
                shoppers,
            )
    finally:
        commands.close()
    return LoadData(
        cart_paths=[f"/v1/carts/{cart_id_for(s)}/items" for s in shoppers],
        shopper_auth=[f"Bearer {tokens.issue(s, 'shopper')}" for s in shoppers],
        cart_bodies=[
            json.dumps({"product_id": str(p), "quantity": 1}, separators=(",", ":"))
            for p in products[: shape.cart_products]
        ],
        stock_paths=[f"/v1/products/{p}/stock/receipts" for p in products],
        stock_owner=owner,
        seller_auth=[f"Bearer {tokens.issue(s, 'seller')}" for s in sellers],
    )
