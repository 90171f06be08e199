"""`marketplace rebuild` throughput for product-detail (Redis) and seller-sales (PostgreSQL).

python -m benchmarks.blue_green [--products 1000] [--orders 1000] [--batch-size 1000]

Starts its own durable PostgreSQL and a Valkey in a temporary directory, appends a few
thousand events through commands.services.Commands (products listed and stocked, then stock
moves; orders placed and confirmed, some cancelled), lets each live view catch up as
`marketplace project` would, then times `rebuild()` of each view: a new version built beside
the live one, both pointers switched, the old version dropped. The baseline, in the same run,
is a plain Worker.catch_up() of the same projection into a fresh, unversioned view (what a
rebuild cost before versions). Prints events, seconds, events/s and the ratio; asserts
nothing about time.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg_pool import ConnectionPool

from benchmarks.servers import free_port
from commands.services import Commands
from domain.base import Context
from domain.money import Money
from domain.order import Order, order_id_for
from domain.order_lines import OrderLine
from infra.eventstore import eventsourcing_env, with_search_path
from infra.local.postgres import LocalPostgres
from infra.local.redis import LocalRedis
from infra.settings import PostgresSettings, RedisSettings, Settings
from infra.stores import stores
from marketplace.projectors import opened
from marketplace.rebuild import rebuild
from marketplace.redis_views import redis_client
from projections.product_detail.projection import ProductDetailProjection
from projections.product_detail.redis_view import RedisProductDetailView
from projections.runtime import Projection, View, Worker
from projections.seller_sales.postgres_view import PostgresSellerSalesView
from projections.seller_sales.projection import SellerSalesProjection
from projections.stores.redis.unit import RedisView
from workers.logs import context_logs

SHIP_TO = {"name": "A", "line1": "1 Road", "line2": "", "city": "Lyon", "postal_code": "1"}
SHIP_TO |= {"country": "FR"}


def ctx(actor: uuid.UUID, role: str, at: datetime | None = None) -> Context:
    return Context(at or datetime.now(UTC), str(actor), role, "bench", "bench", "bench")


def load_catalogue(
    commands: Commands, products: int, rng: random.Random
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Sellers, products listed and stocked, then a few stock moves each: (seller, product)."""
    sellers = [uuid.uuid4() for _ in range(max(products // 100, 1))]
    for n, seller in enumerate(sellers):
        commands.catalog.register_seller(
            seller, f"Seller {n}", f"s{n}@x.test", ctx(seller, "seller")
        )
    made = []
    for n in range(products):
        seller, product = sellers[n % len(sellers)], uuid.uuid4()
        at = ctx(seller, "seller")
        price = Money(rng.randint(100, 90_000), "EUR")
        commands.catalog.list_product(product, seller, f"Item {n}", "d", "home", {}, price, at)
        for _ in range(2):
            commands.receive_stock(product, rng.randint(1, 50), at)
        made.append((seller, product))
    return made


def load_orders(
    commands: Commands,
    catalogue: list[tuple[uuid.UUID, uuid.UUID]],
    orders: int,
    rng: random.Random,
) -> None:
    """Orders of one or two lines placed, reserved, authorised and confirmed; a tenth cancelled."""
    admin = uuid.UUID(int=0)
    start = datetime(2025, 3, 1, tzinfo=UTC)
    for _ in range(orders):
        customer, key = uuid.uuid4(), uuid.uuid4().hex
        at = start + timedelta(minutes=rng.randint(0, 60 * 24 * 7))
        lines = [
            OrderLine(
                product, seller, "Item", Money(rng.randint(100, 9000), "EUR"), rng.randint(1, 3)
            )
            for seller, product in rng.sample(catalogue, rng.randint(1, 2))
        ]
        order_id = order_id_for(customer, key)
        placed = Order.place(
            order_id,
            customer,
            lines,
            at + timedelta(minutes=15),
            key,
            SHIP_TO,
            ctx(customer, "shopper", at),
        )
        commands.orders.place(placed)
        system = ctx(admin, "admin", at)
        commands.orders.reserve_stock(order_id, system)
        total = commands.orders.order(order_id).total
        commands.orders.authorise_payment(order_id, f"pay-{order_id}", total, system)
        commands.orders.confirm(order_id, system)
        if rng.random() < 0.1:
            commands.orders.cancel(order_id, "changed my mind", ctx(customer, "shopper", at))


def baseline(
    name: str, projection: Projection, view: View, settings: Settings, batch: int
) -> tuple[int, float]:
    """A plain catch-up of the projection into a fresh, unversioned view: events, seconds."""
    logs = context_logs(projection, settings, stores(settings))
    try:
        started = time.perf_counter()
        events = Worker(projection, view, logs, batch_size=batch).catch_up()
        return events, time.perf_counter() - started
    finally:
        for log in logs:
            log.close()


def row(label: str, events: int, seconds: float, base: float | None = None) -> None:
    rate = events / seconds if seconds else 0.0
    ratio = f"{rate / base:6.2f}x" if base else "   1.00x"
    print(f"  {label:<34} {events:>7} events {seconds:8.2f} s {rate:>9.0f} events/s {ratio}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.blue_green", description=__doc__)
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args(argv)
    rng = random.Random(42)
    with tempfile.TemporaryDirectory(prefix="bench-blue-green-") as tmp:
        postgres = LocalPostgres(Path(tmp) / "postgres", free_port(), durable=True)
        valkey = LocalRedis(Path(tmp) / "valkey", free_port())
        server_url, redis_url = postgres.start(), valkey.start()
        try:
            settings = Settings(
                postgres=PostgresSettings(url=server_url),
                redis=RedisSettings(url=redis_url, prefix="bench"),
            )
            commands = Commands(eventsourcing_env(settings))
            catalogue = load_catalogue(commands, args.products, rng)
            load_orders(commands, catalogue, args.orders, rng)
            commands.close()
            print(f"rebuild, batch {args.batch_size} (events/s; ratio against a plain catch-up)")
            for name in ("product-detail", "seller-sales"):
                with opened(name, settings, args.batch_size) as live:
                    live.catch_up()
                if name == "product-detail":
                    client = redis_client(redis_url)
                    view: View = RedisProductDetailView(client, "bench-baseline")
                    events, seconds = baseline(
                        name, ProductDetailProjection(), view, settings, args.batch_size
                    )
                    assert isinstance(view, RedisView)
                    view.clear()
                    client.close()
                else:
                    with psycopg.connect(server_url, autocommit=True) as conn:
                        conn.execute("CREATE SCHEMA baseline")
                    pool = ConnectionPool(
                        with_search_path(server_url, "baseline"), min_size=1, max_size=2, open=True
                    )
                    sales = PostgresSellerSalesView(pool)
                    sales.create()
                    events, seconds = baseline(
                        name, SellerSalesProjection(), sales, settings, args.batch_size
                    )
                    sales.close()
                print(f"{name}")
                row("plain catch-up (baseline)", events, seconds)
                done = rebuild(name, settings, batch_size=args.batch_size, grace_seconds=0)
                row(
                    f"rebuild v{done.readers} -> v{done.version}",
                    done.events,
                    done.seconds,
                    events / seconds,
                )
        finally:
            valkey.stop()
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
