"""The order-history view folds a batch's events per order before it writes: however the log is
cut into batches, the tables equal a replay one event at a time."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from infra.eventstore import with_search_path
from marketplace.order_views import order_history_view
from projections.log import ContextLog
from projections.orders.postgres_view import PostgresOrderHistoryView
from projections.orders.projection import OrderHistoryProjection
from projections.runtime import Worker
from tests.projections.orders_fixture import START, OrderDesk, drop_schema, dump, fresh_schema

pytestmark = pytest.mark.postgres

TABLES = PostgresOrderHistoryView.tables


def every_kind(desk: OrderDesk) -> None:
    """Orders that between them take every order and fulfilment event, several of one kind on
    one order (two sellers shipping and delivering, a label replaced, two refunds); all are
    placed first, then moved a step at a time, so any cut of the log leaves orders with
    events on both sides."""
    acme, bolt = uuid.uuid4(), uuid.uuid4()
    teapot, kettle, cup = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    two_sellers = [
        (acme, teapot, "Teapot", 1500, 2),
        (bolt, kettle, "Kettle", 4000, 1),
        (acme, cup, "Cup", 250, 4),
    ]
    one_seller = [(acme, cup, "Cup", 250, 1)]
    lived, rejected, voided, untouched = (desk.place(uuid.uuid4(), two_sellers) for _ in range(4))
    failed, expired = (desk.place(uuid.uuid4(), one_seller) for _ in range(2))
    shipped = desk.place(uuid.uuid4(), one_seller, START + timedelta(minutes=5))
    assert untouched

    desk.confirm(lived)
    desk.reject(rejected, kettle)
    desk.reserve(failed)
    desk.reserve(voided)
    desk.confirm(shipped)

    desk.label(lived, acme, f"labels/{lived}/acme.pdf")
    desk.fail_payment(failed)
    desk.authorise(voided)
    desk.expire(expired)
    desk.ship(shipped, acme)

    desk.label(lived, bolt, f"labels/{lived}/bolt.pdf")
    desk.ship(lived, acme, START + timedelta(hours=1))
    desk.cancel(voided, "found it cheaper")
    desk.refund(shipped, 100)

    desk.label(lived, acme, f"labels/{lived}/acme-2.png", "image/png")
    desk.deliver(lived, acme)
    desk.void(voided)

    desk.ship(lived, bolt, START + timedelta(hours=2))
    desk.refund(lived, 500)
    desk.deliver(lived, bolt)
    desk.refund(lived, 7500)


def replay(env: dict[str, str], server: str, cut: list[int]) -> dict[str, list[tuple[object, ...]]]:
    """The tables of a fresh view projected in batches of these sizes (the last repeated)."""
    schema = fresh_schema(server)
    url = with_search_path(server, schema)
    view = order_history_view(url)
    log = ContextLog(env, "orders")
    try:
        for size in cut[:-1]:
            Worker(OrderHistoryProjection(), view, [log], batch_size=size).step()
        Worker(OrderHistoryProjection(), view, [log], batch_size=cut[-1]).catch_up()
        return dump(url, *TABLES, "projection_positions")
    finally:
        log.close()
        view.close()
        drop_schema(server, schema)


def test_every_batching_of_the_log_gives_the_tables_of_a_replay_event_by_event(
    desk: OrderDesk, env: dict[str, str], postgres_server: str
) -> None:
    every_kind(desk)
    one_by_one = replay(env, postgres_server, [1])
    assert one_by_one["orders"], "the workload placed orders"

    for cut in ([100_000], [2], [3], [5, 7], [7, 11], [13, 1, 17], [29, 1000]):
        assert replay(env, postgres_server, cut) == one_by_one, cut


def test_a_batch_overlapping_what_was_projected_gives_the_tables_of_a_replay(
    desk: OrderDesk, env: dict[str, str], postgres_server: str
) -> None:
    every_kind(desk)
    expected = replay(env, postgres_server, [1])
    schema = fresh_schema(postgres_server)
    url = with_search_path(postgres_server, schema)
    view = order_history_view(url)
    log = ContextLog(env, "orders")
    try:
        events = log.read(0, 10_000)
        half = len(events) // 2
        Worker(OrderHistoryProjection(), view, [log], batch_size=half).step()
        with view.unit_of_work() as unit:
            for item in events:
                OrderHistoryProjection().project(item.event, unit)
            unit.track("orders", events[half - 1].position, events[-1].position)

        assert dump(url, *TABLES, "projection_positions") == expected
    finally:
        log.close()
        view.close()
        drop_schema(postgres_server, schema)
