"""The seller-sales projection on real PostgreSQL: hourly units and revenue per seller."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from infra.eventstore import with_search_path
from marketplace.order_views import seller_sales_view
from projections.log import ContextLog
from projections.runtime import Worker
from projections.seller_sales.postgres_view import PostgresSellerSalesView, SalesBucket
from projections.seller_sales.projection import SellerSalesProjection, hour_of
from tests.projections.orders_fixture import (
    START,
    Line,
    OrderDesk,
    drop_schema,
    dump,
    fresh_schema,
)

pytestmark = pytest.mark.postgres

NINE = START.replace(minute=0)
TEN = NINE + timedelta(hours=1)
TABLES = ("seller_sales_orders", "seller_sales_hourly")


@pytest.fixture
def view(postgres_url: str) -> Iterator[PostgresSellerSalesView]:
    view = seller_sales_view(postgres_url)
    yield view
    view.close()


def project(view: PostgresSellerSalesView, env: dict[str, str], batch_size: int = 1000) -> int:
    log = ContextLog(env, "orders")
    try:
        return Worker(SellerSalesProjection(), view, [log], batch_size=batch_size).catch_up()
    finally:
        log.close()


@dataclass
class Shop:
    """Two sellers, three products, and orders in two hours (one cancelled after confirming)."""

    x: uuid.UUID
    y: uuid.UUID
    lamp: uuid.UUID
    mug: uuid.UUID
    kettle: uuid.UUID


def trade(desk: OrderDesk) -> Shop:
    shop = Shop(*(uuid.uuid4() for _ in range(5)))
    customer = uuid.uuid4()

    def sale(lines: list[Line], at: datetime, currency: str = "EUR") -> uuid.UUID:
        order = desk.place(customer, lines, at, currency)
        desk.confirm(order, at)
        return order

    sale([(shop.x, shop.lamp, "Lamp", 1500, 2), (shop.y, shop.kettle, "Kettle", 4000, 1)], START)
    second = sale(
        [(shop.x, shop.lamp, "Lamp", 1500, 1), (shop.x, shop.mug, "Mug", 250, 3)],
        START + timedelta(minutes=35),
    )
    desk.ship(second, shop.x, START + timedelta(hours=2))
    desk.refund(second, 500)
    regretted = sale([(shop.x, shop.lamp, "Lamp", 1500, 1)], TEN + timedelta(minutes=5))
    desk.cancel(regretted, at=TEN + timedelta(hours=1, minutes=30))
    never_paid = desk.place(customer, [(shop.x, shop.lamp, "Lamp", 1500, 5)])
    desk.cancel(never_paid)
    expired = desk.place(customer, [(shop.x, shop.mug, "Mug", 250, 9)])
    desk.expire(expired)
    sale([(shop.x, shop.mug, "Mug", 300, 1)], TEN + timedelta(minutes=20), "USD")
    return shop


def test_units_and_revenue_per_seller_product_and_hour_of_confirmation(
    desk: OrderDesk, view: PostgresSellerSalesView, env: dict[str, str]
) -> None:
    shop = trade(desk)
    project(view, env, batch_size=3)

    day = (NINE - timedelta(hours=9), NINE + timedelta(hours=15))
    assert view.hourly(shop.x, *day) == sorted(
        [
            SalesBucket(NINE, shop.lamp, "EUR", 3, 4500 - 333, 2),
            SalesBucket(NINE, shop.mug, "EUR", 3, 750 - 167, 1),
            SalesBucket(TEN, shop.mug, "USD", 1, 300, 1),
        ],
        key=lambda b: (b.hour, str(b.product_id), b.currency),
    )
    assert view.hourly(shop.y, *day) == [SalesBucket(NINE, shop.kettle, "EUR", 1, 4000, 1)]
    assert view.hourly(shop.x, TEN, TEN + timedelta(hours=1)) == [
        SalesBucket(TEN, shop.mug, "USD", 1, 300, 1)
    ]
    assert view.hourly(shop.x, *day, product_id=shop.lamp) == [
        SalesBucket(NINE, shop.lamp, "EUR", 3, 4500 - 333, 2)
    ]
    assert view.hourly(uuid.uuid4(), *day) == []


def test_a_cancelled_confirmation_is_subtracted_from_its_hour(
    desk: OrderDesk, view: PostgresSellerSalesView, env: dict[str, str], postgres_url: str
) -> None:
    seller, lamp, customer = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    order = desk.place(customer, [(seller, lamp, "Lamp", 1500, 2)], TEN)
    desk.confirm(order, TEN)
    project(view, env)
    assert view.hourly(seller, TEN, TEN + timedelta(hours=1)) == [
        SalesBucket(TEN, lamp, "EUR", 2, 3000, 1)
    ]

    desk.cancel(order, at=TEN + timedelta(hours=3))
    project(view, env)

    assert view.hourly(seller, TEN, TEN + timedelta(hours=5)) == []
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT hour, units, revenue_minor, orders FROM seller_sales_hourly "
            "WHERE seller_id = %s",
            (seller,),
        ).fetchall()
    assert rows == [(TEN, 0, 0, 0)]


def test_a_refund_is_taken_out_of_the_revenue_of_each_sellers_lines(
    desk: OrderDesk, view: PostgresSellerSalesView, env: dict[str, str]
) -> None:
    x, y, lamp, kettle, customer = (uuid.uuid4() for _ in range(5))
    order = desk.place(customer, [(x, lamp, "Lamp", 1500, 2), (y, kettle, "Kettle", 4000, 1)], TEN)
    desk.confirm(order, TEN)
    desk.ship(order, x, TEN + timedelta(hours=1))
    project(view, env)
    hours = (TEN, TEN + timedelta(hours=1))
    assert view.hourly(x, *hours) == [SalesBucket(TEN, lamp, "EUR", 2, 3000, 1)]

    desk.refund(order, 1000)
    project(view, env)

    # 1000 split 3000:4000 is 428.57 and 571.43; the unit left goes to the larger remainder
    assert view.hourly(x, *hours) == [SalesBucket(TEN, lamp, "EUR", 2, 3000 - 429, 1)]
    assert view.hourly(y, *hours) == [SalesBucket(TEN, kettle, "EUR", 1, 4000 - 571, 1)]
    assert desk.order(order).refunded.minor == 1000


def test_a_replayed_batch_counts_nothing_twice(
    desk: OrderDesk, view: PostgresSellerSalesView, env: dict[str, str], postgres_url: str
) -> None:
    trade(desk)
    project(view, env, batch_size=4)
    counted = dump(postgres_url, *TABLES)
    log = ContextLog(env, "orders")
    try:
        events = [item.event for item in log.read(0, 10_000)]
    finally:
        log.close()

    for _ in range(2):
        with view.unit_of_work() as unit:
            for event in events:
                SellerSalesProjection().project(event, unit)
    assert dump(postgres_url, *TABLES) == counted

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE projection_positions SET position = 0 WHERE view = 'seller-sales'")
    assert project(view, env) == len(events)
    assert dump(postgres_url, *TABLES) == counted


def test_a_rebuild_from_zero_equals_the_incremental_view(
    desk: OrderDesk,
    view: PostgresSellerSalesView,
    env: dict[str, str],
    postgres_url: str,
    postgres_server: str,
) -> None:
    trade(desk)
    project(view, env, batch_size=1)
    schema = fresh_schema(postgres_server)
    rebuilt = seller_sales_view(with_search_path(postgres_server, schema))
    try:
        project(rebuilt, env)
        assert rebuilt.positions() == view.positions()
        assert dump(with_search_path(postgres_server, schema), *TABLES) == dump(
            postgres_url, *TABLES
        )
    finally:
        rebuilt.close()
        drop_schema(postgres_server, schema)


def test_the_hour_is_the_utc_hour() -> None:
    paris = timezone(timedelta(hours=1))
    assert hour_of(datetime(2025, 3, 1, 10, 59, 59, tzinfo=paris)) == NINE
