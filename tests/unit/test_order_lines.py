"""Order lines are value objects in code and the same plain records in the stored events."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, StoredEvent

from domain.base import Context
from domain.money import Money
from domain.order import Order
from domain.order_lines import OrderLine

AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SHOPPER = UUID("0b9a3c52-5a47-4f5e-9d41-1d2f5c0e7a11")
ORDER = UUID("55555555-5555-4555-8555-555555555555")
CTX = Context(AT, str(SHOPPER), "shopper", "req-1", "corr-1", "cause-1")
SHIP_TO = {
    "name": "Ann",
    "line1": "1 High St",
    "line2": "",
    "city": "Leeds",
    "postal_code": "LS1 1AA",
    "country": "GB",
}
LINES = (
    OrderLine(
        UUID("11111111-1111-4111-8111-111111111111"),
        UUID("22222222-2222-4222-8222-222222222222"),
        "Console",
        Money(4999, "EUR"),
        2,
    ),
    OrderLine(
        UUID("33333333-3333-4333-8333-333333333333"),
        UUID("44444444-4444-4444-8444-444444444444"),
        "Pad",
        Money(1500, "EUR"),
        1,
    ),
)
OLD_STATE = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-27T09:00:00+00:00"},'
    b'"originator_topic":"domain.order:Order","meta":{"event_id":'
    b'"ea259d0a-67cf-5f59-83f8-dd95b10c999c","actor":"0b9a3c52-5a47-4f5e-9d41-1d2f5c0e7a11",'
    b'"role":"shopper","request_id":"req-1","correlation_id":"corr-1","causation_id":"cause-1"},'
    b'"customer_id":{"_type_":"uuid_hex","_data_":"0b9a3c525a474f5e9d411d2f5c0e7a11"},'
    b'"currency":"EUR","lines":[{"product_id":{"_type_":"uuid_hex","_data_":'
    b'"11111111111141118111111111111111"},"seller_id":{"_type_":"uuid_hex","_data_":'
    b'"22222222222242228222222222222222"},"title":"Console","unit_price":{"minor":4999,'
    b'"currency":"EUR"},"quantity":2},{"product_id":{"_type_":"uuid_hex","_data_":'
    b'"33333333333343338333333333333333"},"seller_id":{"_type_":"uuid_hex","_data_":'
    b'"44444444444444448444444444444444"},"title":"Pad","unit_price":{"minor":1500,'
    b'"currency":"EUR"},"quantity":1}],"expires_at":{"_type_":"datetime_iso","_data_":'
    b'"2026-11-27T09:15:00+00:00"},"idempotency_key":"key-1","ship_to":{"name":"Ann",'
    b'"line1":"1 High St","line2":"","city":"Leeds","postal_code":"LS1 1AA","country":"GB"}}'
)
"""Order.Placed as the code before typed lines stored it (lines were asdict(OrderLine))."""


def mapper() -> Mapper[UUID]:
    return Application[UUID](env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper


def placed() -> Order.Placed:
    order = Order.place(ORDER, SHOPPER, LINES, AT + timedelta(minutes=15), "key-1", SHIP_TO, CTX)
    (event,) = order.collect_events()
    assert isinstance(event, Order.Placed)
    return event


def test_an_order_placed_before_typed_lines_decodes_to_the_same_lines() -> None:
    stored = StoredEvent(ORDER, 0, "domain.order:Order.Placed", OLD_STATE)
    event = mapper().to_domain_event(stored)
    assert isinstance(event, Order.Placed)
    assert event.order_lines == LINES
    order = event.mutate(None)
    assert isinstance(order, Order)
    assert order.lines == LINES
    assert order.total == Money(2 * 4999 + 1500, "EUR")


def test_placing_an_order_stores_exactly_what_was_stored_before() -> None:
    event = placed()
    assert event.order_lines == LINES
    assert event.lines == [asdict(line) for line in LINES]
    assert mapper().to_stored_event(event).state == OLD_STATE


def test_reading_the_typed_lines_leaves_the_event_state_alone() -> None:
    event = placed()
    before = dict(vars(event))
    assert event.order_lines == event.order_lines
    assert vars(event) == before


def test_a_record_with_ids_as_text_gives_the_same_line() -> None:
    record = LINES[0].as_record()
    as_text = {
        **record,
        "product_id": str(record["product_id"]),
        "seller_id": str(record["seller_id"]),
    }
    assert OrderLine.from_record(as_text) == OrderLine.from_record(record) == LINES[0]
