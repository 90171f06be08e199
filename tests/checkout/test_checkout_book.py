"""The checkout book in PostgreSQL: what the gateway and deadline workers find due, and when."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import ConnectionPool

from commands.checkout import PaymentJob
from domain.base import Cause
from domain.money import Money
from workers.checkout.book import TABLES, DueExpiry, PostgresCheckoutBook

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)
PLACED = Cause("placed-event", "flow-1")
RESERVED = Cause("reserved-event", "flow-1")
CANCELLED = Cause("cancelled-event", "flow-2")
CAPTURED = Cause("captured-event", "flow-3")
REFUNDED = Cause("refunded-event", "flow-4")


@pytest.fixture
def book(postgres_url: str) -> Iterator[PostgresCheckoutBook]:
    with ConnectionPool(postgres_url, min_size=1, max_size=4, kwargs={"autocommit": True}) as pool:
        created = PostgresCheckoutBook(pool)
        created.create()
        yield created


def booked(book: PostgresCheckoutBook, *steps: tuple[str, tuple[object, ...]]) -> None:
    position = max(book.positions().get("orders", 0), 0)
    with book.unit_of_work() as unit:
        for method, args in steps:
            getattr(unit, method)(*args)
        unit.track("orders", position, position + 1)


def placed(book: PostgresCheckoutBook, expires_at: datetime) -> uuid.UUID:
    order_id = uuid.uuid4()
    booked(book, ("open_order", (order_id, Money(4200, "EUR"), expires_at, PLACED)))
    return order_id


def test_an_order_with_reserved_stock_is_due_for_authorisation_once_per_lease(
    book: PostgresCheckoutBook,
) -> None:
    order_id = placed(book, datetime.now(UTC) + timedelta(minutes=15))
    assert book.claim_payments(datetime.now(UTC), 10, LEASE) == []
    booked(book, ("await_authorisation", (order_id, RESERVED)))

    first = book.claim_payments(datetime.now(UTC), 10, LEASE)
    again = book.claim_payments(datetime.now(UTC), 10, LEASE)
    after_lease = book.claim_payments(datetime.now(UTC) + LEASE * 2, 10, LEASE)

    assert first == [PaymentJob(order_id, "authorise", 4200, "EUR", None, 1, "", RESERVED)]
    assert again == []
    assert [(d.order_id, d.attempts) for d in after_lease] == [(order_id, 2)]


def test_an_authorisation_is_queued_once_even_when_asked_again_after_it_was_made(
    book: PostgresCheckoutBook,
) -> None:
    order_id = placed(book, datetime.now(UTC) + timedelta(minutes=15))
    booked(book, ("await_authorisation", (order_id, RESERVED)))
    (due,) = book.claim_payments(datetime.now(UTC), 10, LEASE)
    book.payment_done(due, None)

    booked(book, ("await_authorisation", (order_id, RESERVED)))

    assert book.claim_payments(datetime.now(UTC) + LEASE * 2, 10, LEASE) == []
    assert book.pending() == {"awaiting": 1}


def test_no_authorisation_is_attempted_past_the_deadline(book: PostgresCheckoutBook) -> None:
    order_id = placed(book, datetime.now(UTC) + timedelta(seconds=60))
    booked(book, ("await_authorisation", (order_id, RESERVED)))

    assert book.claim_payments(datetime.now(UTC) + timedelta(seconds=61), 10, LEASE) == []


def test_a_late_authorisation_is_queued_for_voiding(book: PostgresCheckoutBook) -> None:
    order_id = placed(book, datetime.now(UTC) + timedelta(minutes=15))
    booked(book, ("await_authorisation", (order_id, RESERVED)))
    (due,) = book.claim_payments(datetime.now(UTC), 10, LEASE)
    booked(book, ("abandoned", (order_id, CANCELLED)))

    book.payment_done(due, "pay_late")

    (void,) = book.claim_payments(datetime.now(UTC), 10, LEASE)
    assert (void.order_id, void.kind, void.payment_id) == (order_id, "void", "pay_late")
    assert void.cause == RESERVED


def test_a_cancelled_paid_order_is_voided_and_then_closed(book: PostgresCheckoutBook) -> None:
    order_id = placed(book, datetime.now(UTC) + timedelta(minutes=15))
    booked(
        book,
        ("await_authorisation", (order_id, RESERVED)),
        ("authorised", (order_id, "pay_1")),
        ("confirmed", (order_id,)),
        ("abandoned", (order_id, CANCELLED)),
    )
    (void,) = book.claim_payments(datetime.now(UTC), 10, LEASE)
    assert (void.kind, void.payment_id, void.cause) == ("void", "pay_1", CANCELLED)

    booked(book, ("closed", (order_id,)))

    assert book.pending() == {"awaiting": 0}


def test_a_shipped_order_is_due_for_capture(book: PostgresCheckoutBook) -> None:
    order_id = placed(book, datetime.now(UTC) + timedelta(minutes=15))
    booked(
        book,
        ("await_authorisation", (order_id, RESERVED)),
        ("authorised", (order_id, "pay_1")),
        ("confirmed", (order_id,)),
        ("queue_capture", (order_id, "pay_1", Money(4200, "EUR"), CAPTURED)),
    )
    (capture,) = book.claim_payments(datetime.now(UTC), 10, LEASE)
    assert (capture.kind, capture.payment_id, capture.amount_minor) == ("capture", "pay_1", 4200)
    assert capture.cause == CAPTURED
    book.payment_later(capture, datetime.now(UTC) + timedelta(minutes=1))
    assert book.claim_payments(datetime.now(UTC), 10, LEASE) == []


def test_only_orders_past_their_deadline_and_unconfirmed_are_due_to_expire(
    book: PostgresCheckoutBook,
) -> None:
    due = placed(book, NOW - timedelta(seconds=1))
    placed(book, NOW + timedelta(minutes=1))
    confirmed = placed(book, NOW - timedelta(seconds=1))
    booked(book, ("confirmed", (confirmed,)))

    assert book.claim_expired(NOW, 10, timedelta(seconds=5)) == [DueExpiry(due, PLACED)]
    assert book.claim_expired(NOW, 10, timedelta(seconds=5)) == []
    again = book.claim_expired(NOW + timedelta(seconds=6), 10, timedelta(seconds=5))
    assert again == [DueExpiry(due, PLACED)]


def test_each_refund_of_an_order_is_its_own_call(book: PostgresCheckoutBook) -> None:
    order_id = placed(book, datetime.now(UTC) + timedelta(minutes=15))
    booked(
        book,
        ("queue_capture", (order_id, "pay_1", Money(4200, "EUR"), CAPTURED)),
        ("queue_refund", (order_id, "r1", "pay_1", Money(1000, "EUR"), REFUNDED)),
        ("queue_refund", (order_id, "r2", "pay_1", Money(500, "EUR"), REFUNDED)),
        ("queue_refund", (order_id, "r2", "pay_1", Money(500, "EUR"), REFUNDED)),
    )
    due = book.claim_payments(datetime.now(UTC), 10, LEASE)
    refunds = sorted((d.reference, d.amount_minor, d.cause) for d in due if d.kind == "refund")
    assert refunds == [("r1", 1000, REFUNDED), ("r2", 500, REFUNDED)]
    for job in due:
        book.payment_done(job, None)
    assert book.claim_payments(datetime.now(UTC) + LEASE * 2, 10, LEASE) == []


def test_a_book_made_before_causes_were_kept_gains_them_and_keeps_its_rows(
    postgres_url: str,
) -> None:
    with ConnectionPool(postgres_url, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
        with pool.connection() as conn:
            for statement in TABLES:
                if not statement.startswith("ALTER"):
                    conn.execute(statement)
            order_id = uuid.uuid4()
            conn.execute(
                "INSERT INTO checkout_orders (order_id, total_minor, currency, expires_at) "
                "VALUES (%s, 100, 'EUR', %s)",
                (order_id, NOW - timedelta(seconds=1)),
            )
        book = PostgresCheckoutBook(pool)
        book.create()
        book.create()

        assert book.claim_expired(NOW, 10, LEASE) == [DueExpiry(order_id, Cause("", ""))]
