"""The order-history projection on real PostgreSQL: orders driven through the command side."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from commands.services import Commands
from domain.base import Context
from domain.money import Money
from domain.order_lines import OrderStatus
from infra.eventstore import eventsourcing_env, with_search_path
from infra.settings import EventStoreSettings, PostgresSettings, Settings
from marketplace.order_views import order_history_view, seller_sales_view
from projections.log import ContextLog
from projections.orders.postgres_view import PostgresOrderHistoryView
from projections.orders.projection import PAYMENT_PENDING, OrderHistoryProjection
from projections.orders.tables import PARTITIONS
from projections.runtime import Worker
from projections.seller_sales.projection import SellerSalesProjection
from tests.projections.orders_fixture import (
    SHIP_TO,
    START,
    OrderDesk,
    drop_schema,
    dump,
    fresh_schema,
)

pytestmark = pytest.mark.postgres

TABLES = PostgresOrderHistoryView.tables


@pytest.fixture
def view(postgres_url: str) -> Iterator[PostgresOrderHistoryView]:
    view = order_history_view(postgres_url)
    yield view
    view.close()


def project(view: PostgresOrderHistoryView, env: dict[str, str], batch_size: int = 1000) -> int:
    log = ContextLog(env, "orders")
    try:
        return Worker(OrderHistoryProjection(), view, [log], batch_size=batch_size).catch_up()
    finally:
        log.close()


def shown(status: OrderStatus) -> str:
    """How the view shows a domain status."""
    return PAYMENT_PENDING if status is OrderStatus.STOCK_RESERVED else str(status)


def row(url: str, order_id: uuid.UUID) -> dict[str, Any]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        found = conn.execute("SELECT * FROM orders WHERE order_id = %s", (order_id,)).fetchone()
    assert found is not None
    return found


def seller_rows(url: str, order_id: uuid.UUID) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "SELECT * FROM seller_order_lines WHERE order_id = %s ORDER BY line_no", (order_id,)
        ).fetchall()


def test_an_order_and_its_seller_lines_follow_every_event(
    desk: OrderDesk, view: PostgresOrderHistoryView, env: dict[str, str], postgres_url: str
) -> None:
    customer, acme, bolt = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    teapot, kettle, cup = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    order = desk.place(
        customer,
        [
            (acme, teapot, "Teapot", 1500, 2),
            (bolt, kettle, "Kettle", 4000, 1),
            (acme, cup, "Cup", 250, 4),
        ],
    )
    steps = [
        ("placed", lambda: None),
        ("reserve", lambda: desk.reserve(order)),
        ("authorise", lambda: desk.authorise(order)),
        ("confirm", lambda: desk.commands.orders.confirm(order, desk._system())),
        ("label", lambda: desk.label(order, acme, f"labels/{order}/{acme}.pdf")),
        ("ship acme", lambda: desk.ship(order, acme, START + timedelta(hours=1))),
        ("ship bolt", lambda: desk.ship(order, bolt)),
        ("deliver acme", lambda: desk.deliver(order, acme)),
        ("deliver bolt", lambda: desk.deliver(order, bolt)),
        ("refund", lambda: desk.refund(order, 1000)),
    ]
    seen = []
    for name, step in steps:
        step()
        project(view, env, batch_size=2)
        projected = row(postgres_url, order)
        domain = desk.order(order)
        assert projected["status"] == shown(domain.status), name
        assert projected["version"] == domain.version, name
        assert {line["order_status"] for line in seller_rows(postgres_url, order)} == {
            shown(domain.status)
        }, name
        seen.append(projected["status"])

    assert seen == [
        "placed",
        "payment_pending",
        "payment_authorised",
        "confirmed",
        "confirmed",
        "partially_shipped",
        "shipped",
        "shipped",
        "delivered",
        "delivered",
    ]
    final = row(postgres_url, order)
    assert final["customer_id"] == customer
    assert final["currency"] == "EUR"
    assert final["total_minor"] == 3000 + 4000 + 1000
    assert final["ship_to"] == SHIP_TO
    assert final["placed_at"] == START
    assert final["expires_at"] == START + timedelta(minutes=15)
    assert final["confirmed_at"] == START
    assert (final["payment_state"], final["authorised_minor"]) == ("partially_refunded", 8000)
    assert (final["captured_minor"], final["refunded_minor"]) == (8000, 1000)
    assert [line["title"] for line in final["lines"]] == ["Teapot", "Kettle", "Cup"]
    assert final["seller_ids"] == [acme, bolt]
    lines = seller_rows(postgres_url, order)
    assert [(r["seller_id"], r["product_id"], r["quantity"]) for r in lines] == [
        (acme, teapot, 2),
        (bolt, kettle, 1),
        (acme, cup, 4),
    ]
    assert [r["unit_price_minor"] for r in lines] == [1500, 4000, 250]
    acme_lines = [r for r in lines if r["seller_id"] == acme]
    assert {r["shipped_at"] for r in acme_lines} == {START + timedelta(hours=1)}
    assert {r["label_blob_key"] for r in acme_lines} == {f"labels/{order}/{acme}.pdf"}
    assert {r["label_content_type"] for r in acme_lines} == {"application/pdf"}
    assert lines[1]["label_blob_key"] is None
    assert all(r["delivered_at"] is not None for r in lines)


def test_orders_that_end_early_show_why(
    desk: OrderDesk, view: PostgresOrderHistoryView, env: dict[str, str], postgres_url: str
) -> None:
    customer, seller = uuid.uuid4(), uuid.uuid4()
    lamp, mug = uuid.uuid4(), uuid.uuid4()
    lines = [(seller, lamp, "Lamp", 1999, 1), (seller, mug, "Mug", 500, 2)]
    rejected, failed, cancelled, expired, voided = (desk.place(customer, lines) for _ in range(5))
    desk.reject(rejected, mug)
    desk.reserve(failed)
    desk.fail_payment(failed)
    desk.confirm(cancelled)
    desk.cancel(cancelled, "found it cheaper")
    desk.expire(expired)
    desk.reserve(voided)
    desk.authorise(voided)
    desk.cancel(voided)
    desk.void(voided)
    project(view, env)

    assert row(postgres_url, rejected)["status"] == "rejected"
    assert row(postgres_url, rejected)["rejected_product_ids"] == [str(mug)]
    assert row(postgres_url, failed)["status"] == "payment_failed"
    assert row(postgres_url, failed)["payment_state"] == "failed"
    assert row(postgres_url, failed)["payment_failure"] == "card declined"
    assert row(postgres_url, cancelled)["status"] == "cancelled"
    assert row(postgres_url, cancelled)["cancellation_reason"] == "found it cheaper"
    assert row(postgres_url, expired)["status"] == "expired"
    assert row(postgres_url, voided)["status"] == "cancelled"
    assert row(postgres_url, voided)["payment_state"] == "voided"
    for order in (rejected, failed, cancelled, expired, voided):
        status = row(postgres_url, order)["status"]
        assert {r["order_status"] for r in seller_rows(postgres_url, order)} == {status}


def busy_log(desk: OrderDesk) -> None:
    """Several customers' orders in every state, two sellers, labels, refunds."""
    sellers = [uuid.uuid4(), uuid.uuid4()]
    products = [uuid.uuid4() for _ in range(4)]
    for n in range(12):
        customer = uuid.uuid4()
        seller = sellers[n % 2]
        lines = [(seller, products[n % 4], f"Item {n}", 100 + n, 1 + n % 3)]
        if n % 3 == 0:
            lines.append((sellers[(n + 1) % 2], products[(n + 1) % 4], "Extra", 999, 1))
        at = START + timedelta(minutes=7 * n)
        order = desk.place(customer, lines, at)
        if n % 4 == 1:
            desk.expire(order)
            continue
        desk.confirm(order, at)
        if n % 4 == 2:
            desk.cancel(order, at=at)
            continue
        for seller_id in dict.fromkeys(line[0] for line in lines):
            desk.label(order, seller_id, f"labels/{order}/{seller_id}.pdf")
            desk.ship(order, seller_id, at)
        if n % 4 == 3:
            desk.refund(order, 50)


def test_a_replay_from_zero_into_a_fresh_schema_equals_incremental_projection(
    desk: OrderDesk, env: dict[str, str], postgres_url: str, postgres_server: str
) -> None:
    incremental = order_history_view(postgres_url)
    try:
        busy_log(desk)
        project(incremental, env, batch_size=1)
        busy_log(desk)
        project(incremental, env, batch_size=7)
    finally:
        incremental.close()
    schema = fresh_schema(postgres_server)
    replay_url = with_search_path(postgres_server, schema)
    replayed = order_history_view(replay_url)
    try:
        assert project(replayed, env) > 0
        assert replayed.positions() == {
            "orders": desk.commands.orders.recorder.max_notification_id()
        }
        assert dump(replay_url, *TABLES, "projection_positions") == dump(
            postgres_url, *TABLES, "projection_positions"
        )
    finally:
        replayed.close()
        drop_schema(postgres_server, schema)


def test_a_batch_applied_again_changes_nothing(
    desk: OrderDesk, view: PostgresOrderHistoryView, env: dict[str, str], postgres_url: str
) -> None:
    busy_log(desk)
    project(view, env)
    before = dump(postgres_url, *TABLES)
    log = ContextLog(env, "orders")
    try:
        events = [item.event for item in log.read(0, 10_000)]
    finally:
        log.close()

    with view.unit_of_work() as unit:
        for event in events:
            OrderHistoryProjection().project(event, unit)

    assert dump(postgres_url, *TABLES) == before


def test_the_customer_keyed_tables_are_hash_partitioned(
    desk: OrderDesk, view: PostgresOrderHistoryView, env: dict[str, str], postgres_url: str
) -> None:
    customer, seller = uuid.uuid4(), uuid.uuid4()
    for _ in range(3):
        desk.place(customer, [(seller, uuid.uuid4(), "Lamp", 1999, 1)])
    project(view, env)

    with psycopg.connect(postgres_url) as conn:
        strategies = conn.execute(
            "SELECT c.relname, p.partstrat, a.attname FROM pg_partitioned_table p "
            "JOIN pg_class c ON c.oid = p.partrelid "
            "JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] "
            "WHERE c.relnamespace = current_schema()::regnamespace ORDER BY c.relname"
        ).fetchall()
        children: dict[str, int] = dict(
            conn.execute(
                "SELECT parent.relname, count(*) FROM pg_inherits i "
                "JOIN pg_class parent ON parent.oid = i.inhparent "
                "WHERE parent.relnamespace = current_schema()::regnamespace "
                "AND parent.relkind = 'p' GROUP BY parent.relname"
            ).fetchall()
        )
        homes = conn.execute(
            "SELECT DISTINCT tableoid::regclass::text FROM orders WHERE customer_id = %s "
            "UNION ALL SELECT DISTINCT tableoid::regclass::text FROM seller_order_lines "
            "WHERE customer_id = %s",
            (customer, customer),
        ).fetchall()

    assert strategies == [
        ("orders", "h", "customer_id"),
        ("seller_order_lines", "h", "customer_id"),
    ]
    assert children == {"orders": PARTITIONS, "seller_order_lines": PARTITIONS}
    assert len(homes) == 2, "a customer's rows live in one partition of each table"


def test_one_shared_log_is_followed_past_every_other_context(postgres_url: str) -> None:
    settings = Settings(
        events=EventStoreSettings(split_logs=False), postgres=PostgresSettings(url=postgres_url)
    )
    env = eventsourcing_env(settings)
    commands = Commands(env, split_logs=False)
    seller, product, shopper = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    as_seller = Context(START, str(seller), "seller", "r", "c", "c")
    as_shopper = Context(START, str(shopper), "shopper", "r", "c", "c")
    address = {k: v for k, v in SHIP_TO.items() if k != "name"}
    history, sales = order_history_view(postgres_url), seller_sales_view(postgres_url)
    log = ContextLog(env, "marketplace")
    try:
        commands.catalog.register_seller(seller, "Acme", "a@acme.test", as_seller)
        commands.catalog.set_seller_address(seller, SHIP_TO, as_seller)
        commands.catalog.list_product(
            product, seller, "Lamp", "", "home", {}, Money(9, "EUR"), as_seller
        )
        commands.receive_stock(product, 5, as_seller)
        commands.customers.register_customer(shopper, "Ann", "ann@x.test", as_shopper)
        commands.customers.add_address(shopper, uuid.uuid4(), address, as_shopper, None)
        cart, _ = commands.carts.create_cart(shopper, as_shopper)
        commands.add_to_cart(cart.aggregate_id, product, 1, as_shopper)
        desk = OrderDesk(commands)
        order = desk.place(shopper, [(seller, product, "Lamp", 9, 1)])
        desk.confirm(order)
        desk.label(order, seller, "labels/x.pdf")

        for projection, view in (
            (OrderHistoryProjection(), history),
            (SellerSalesProjection(), sales),
        ):
            assert Worker[Any](projection, view, [log]).catch_up() > 0
        assert history.customer_order(shopper, order) is not None
    finally:
        log.close()
        history.close()
        sales.close()
        commands.close()
