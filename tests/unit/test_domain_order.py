"""Order: place, reserve or reject, authorise or fail, confirm, ship, deliver, refund, expire."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex

from domain.errors import InvalidValue, RuleViolated
from domain.money import Money
from domain.order import Order
from domain.order_lines import MAX_LINES, MAX_QUANTITY_PER_LINE, OrderLine, OrderStatus
from tests.unit.domain_support import (
    AT,
    CTX,
    LATER,
    ctx_at,
    event,
    given,
    history,
    then,
    then_error,
    uid,
    when,
    when_created,
)

ORDER_ID = uid(0x0D1)
CUSTOMER_ID = uid(0xC0FFEE)
ACME, BOLT = uid(0x5E1), uid(0x5E2)
TEAPOT, KETTLE, CUP = uid(0x9D), uid(0x9E), uid(0x9F)
KEY = "checkout-req-1"
PAYMENT = "pay_123"
SHIP_TO = {
    "name": "Ada",
    "line1": "1 Loop Rd",
    "line2": "",
    "city": "Lyon",
    "postal_code": "69001",
    "country": "FR",
}

LINES = [
    OrderLine(TEAPOT, ACME, "Teapot", Money(1500, "EUR"), 2),
    OrderLine(KETTLE, BOLT, "Kettle", Money(4000, "EUR"), 1),
    OrderLine(CUP, ACME, "Cup", Money(250, "EUR"), 4),
]
TOTAL = Money(3000 + 4000 + 1000, "EUR")
AFTER_DEADLINE = ctx_at(LATER)

RESERVED = ((Order.reserve_stock,),)
AUTHORISED = (*RESERVED, (Order.authorise_payment, PAYMENT, TOTAL))
CONFIRMED = (*AUTHORISED, (Order.confirm,))
SHIPPED_ACME = (*CONFIRMED, (Order.ship, ACME))
CANCELLED = ((Order.cancel, "changed my mind"),)


def order(*steps: tuple) -> Order:
    placed = Order.place(ORDER_ID, CUSTOMER_ID, LINES, LATER, KEY, SHIP_TO, CTX)
    return given(Order, *history(placed, *steps))


def expired_order() -> Order:
    placed = Order.place(ORDER_ID, CUSTOMER_ID, LINES, LATER, KEY, SHIP_TO, CTX)
    return given(Order, *history(placed, (Order.expire,), ctx=AFTER_DEADLINE))


def line(n: int, quantity: int = 1, currency: str = "EUR") -> OrderLine:
    return OrderLine(uid(1000 + n), ACME, f"Item {n}", Money(100, currency), quantity)


def test_place_starts_at_version_zero_with_frozen_lines() -> None:
    outcome = when_created(Order.place, ORDER_ID, CUSTOMER_ID, LINES, LATER, KEY, SHIP_TO)
    then(
        outcome,
        event(
            Order.Placed,
            customer_id=CUSTOMER_ID,
            currency="EUR",
            lines=[
                {
                    "product_id": p,
                    "seller_id": s,
                    "title": t,
                    "unit_price": {"minor": m, "currency": "EUR"},
                    "quantity": q,
                }
                for p, s, t, m, q in [
                    (TEAPOT, ACME, "Teapot", 1500, 2),
                    (KETTLE, BOLT, "Kettle", 4000, 1),
                    (CUP, ACME, "Cup", 250, 4),
                ]
            ],
            expires_at=LATER,
            idempotency_key=KEY,
            ship_to=SHIP_TO,
        ),
    )
    placed = outcome.aggregate
    assert (placed.id, placed.version, placed.status) == (ORDER_ID, 0, OrderStatus.PLACED)
    assert placed.status == "placed"
    assert placed.lines == tuple(LINES)
    assert (placed.customer_id, placed.expires_at, placed.idempotency_key) == (
        CUSTOMER_ID,
        LATER,
        KEY,
    )
    assert placed.created_on == AT


def test_total_and_grouping_by_seller() -> None:
    placed = order()
    assert placed.total == TOTAL
    assert placed.lines_by_seller == {ACME: (LINES[0], LINES[2]), BOLT: (LINES[1],)}
    assert list(placed.lines_by_seller) == [ACME, BOLT]
    assert placed.seller_subtotals == {ACME: Money(4000, "EUR"), BOLT: Money(4000, "EUR")}
    assert LINES[0].subtotal == Money(3000, "EUR")
    assert (placed.captured, placed.refunded) == (Money(0, "EUR"), Money(0, "EUR"))
    assert placed.shipped_sellers == placed.delivered_sellers == frozenset()


def test_placed_event_survives_the_default_json_transcoder() -> None:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    placed = Order.place(ORDER_ID, CUSTOMER_ID, LINES, LATER, KEY, SHIP_TO, CTX)
    [created] = placed.collect_events()
    state = {k: v for k, v in vars(created).items() if k != "originator_topic"}
    assert transcoder.decode(transcoder.encode(state)) == state


def test_place_strips_titles() -> None:
    lines = [OrderLine(TEAPOT, ACME, "  Teapot ", Money(1, "EUR"), 1)]
    placed = Order.place(ORDER_ID, CUSTOMER_ID, lines, LATER, " k ", SHIP_TO, CTX)
    assert placed.lines[0].title == "Teapot"
    assert placed.idempotency_key == "k"


def test_place_accepts_the_bounds() -> None:
    lines = [line(n, MAX_QUANTITY_PER_LINE) for n in range(MAX_LINES)]
    placed = when_created(Order.place, ORDER_ID, CUSTOMER_ID, lines, LATER, KEY, SHIP_TO)
    assert placed.error is None
    assert placed.aggregate.total == Money(100 * MAX_QUANTITY_PER_LINE * MAX_LINES, "EUR")


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [line(n) for n in range(MAX_LINES + 1)],
        [line(1), line(1)],
        [line(1, 0)],
        [line(1, MAX_QUANTITY_PER_LINE + 1)],
        [line(1, True)],
        [line(1, 2.0)],  # type: ignore[arg-type]
        [OrderLine(TEAPOT, ACME, "Teapot", Money(0, "EUR"), 1)],
        [OrderLine(TEAPOT, ACME, "  ", Money(1, "EUR"), 1)],
        [OrderLine(TEAPOT, ACME, "t" * 201, Money(1, "EUR"), 1)],
        [OrderLine(TEAPOT, ACME, "t", Money(10**12, "EUR"), 2)],
    ],
)
def test_place_refuses_lines_out_of_bounds(lines: list[OrderLine]) -> None:
    then_error(
        when_created(Order.place, ORDER_ID, CUSTOMER_ID, lines, LATER, KEY, SHIP_TO), InvalidValue
    )


def test_place_refuses_mixed_currencies() -> None:
    lines = [line(1), line(2, currency="GBP")]
    outcome = when_created(Order.place, ORDER_ID, CUSTOMER_ID, lines, LATER, KEY, SHIP_TO)
    then_error(outcome, RuleViolated, "one currency")


@pytest.mark.parametrize("expires_at", [AT, AT - timedelta(seconds=1)])
def test_place_refuses_a_deadline_that_is_not_in_the_future(expires_at: Any) -> None:
    outcome = when_created(Order.place, ORDER_ID, CUSTOMER_ID, LINES, expires_at, KEY, SHIP_TO)
    then_error(outcome, InvalidValue, "deadline")


@pytest.mark.parametrize("key", ["", "  ", "k" * 201])
def test_place_refuses_a_bad_idempotency_key(key: str) -> None:
    then_error(
        when_created(Order.place, ORDER_ID, CUSTOMER_ID, LINES, LATER, key, SHIP_TO), InvalidValue
    )


def test_reserve_stock() -> None:
    placed = order()
    then(when(placed, Order.reserve_stock), event(Order.StockReserved))
    assert placed.status == OrderStatus.STOCK_RESERVED


@pytest.mark.parametrize("steps", [RESERVED, AUTHORISED, CONFIRMED, (*RESERVED, *CANCELLED)])
def test_reserve_stock_again_changes_nothing(steps: tuple) -> None:
    then(when(order(*steps), Order.reserve_stock))


@pytest.mark.parametrize("steps", [((Order.reject, [TEAPOT]),), CANCELLED])
def test_reserve_stock_is_refused_unless_placed(steps: tuple) -> None:
    then_error(when(order(*steps), Order.reserve_stock), RuleViolated)


def test_reserve_stock_is_refused_once_expired() -> None:
    then_error(when(expired_order(), Order.reserve_stock), RuleViolated)


def test_reject_names_the_products_out_of_stock() -> None:
    placed = order()
    then(
        when(placed, Order.reject, [KETTLE, TEAPOT, KETTLE]),
        event(Order.Rejected, product_ids=[KETTLE, TEAPOT]),
    )
    assert placed.status == OrderStatus.REJECTED
    assert placed.rejected_product_ids == (KETTLE, TEAPOT)


def test_reject_again_with_the_same_products_changes_nothing() -> None:
    then(when(order((Order.reject, [KETTLE, TEAPOT])), Order.reject, [TEAPOT, KETTLE]))


def test_reject_again_with_other_products_is_refused() -> None:
    then_error(when(order((Order.reject, [KETTLE])), Order.reject, [TEAPOT]), RuleViolated)


@pytest.mark.parametrize("product_ids", [[], [uid(0xBAD)], [TEAPOT, uid(0xBAD)]])
def test_reject_refuses_products_not_in_the_order(product_ids: list[Any]) -> None:
    then_error(when(order(), Order.reject, product_ids), InvalidValue)


@pytest.mark.parametrize("steps", [RESERVED, CANCELLED])
def test_reject_is_refused_unless_placed(steps: tuple) -> None:
    then_error(when(order(*steps), Order.reject, [TEAPOT]), RuleViolated)


def test_authorise_payment() -> None:
    reserved = order(*RESERVED)
    then(
        when(reserved, Order.authorise_payment, PAYMENT, TOTAL),
        event(Order.PaymentAuthorised, payment_id=PAYMENT, amount_minor=8000, currency="EUR"),
    )
    assert (reserved.status, reserved.payment_id) == (OrderStatus.PAYMENT_AUTHORISED, PAYMENT)


@pytest.mark.parametrize("steps", [AUTHORISED, CONFIRMED, SHIPPED_ACME])
def test_authorise_the_same_payment_again_changes_nothing(steps: tuple) -> None:
    then(when(order(*steps), Order.authorise_payment, PAYMENT, TOTAL))


def test_authorise_another_payment_is_refused() -> None:
    then_error(when(order(*AUTHORISED), Order.authorise_payment, "pay_2", TOTAL), RuleViolated)


@pytest.mark.parametrize("amount", [Money(7999, "EUR"), Money(8001, "EUR"), Money(8000, "GBP")])
def test_authorise_payment_must_equal_the_total(amount: Money) -> None:
    for steps in (RESERVED, AUTHORISED):
        outcome = when(order(*steps), Order.authorise_payment, PAYMENT, amount)
        then_error(outcome, RuleViolated, "total")


def test_authorise_payment_is_refused_after_the_deadline() -> None:
    outcome = when(order(*RESERVED), Order.authorise_payment, PAYMENT, TOTAL, ctx=AFTER_DEADLINE)
    then_error(outcome, RuleViolated, "deadline")


@pytest.mark.parametrize("steps", [(), ((Order.reject, [TEAPOT]),), (*RESERVED, *CANCELLED)])
def test_authorise_payment_is_refused_unless_stock_is_reserved(steps: tuple) -> None:
    then_error(when(order(*steps), Order.authorise_payment, PAYMENT, TOTAL), RuleViolated)


def test_authorise_payment_refuses_a_bad_payment_id() -> None:
    then_error(when(order(*RESERVED), Order.authorise_payment, " ", TOTAL), InvalidValue)


def test_fail_payment() -> None:
    reserved = order(*RESERVED)
    then(
        when(reserved, Order.fail_payment, "declined"),
        event(Order.PaymentFailed, reason="declined"),
    )
    assert reserved.status == OrderStatus.PAYMENT_FAILED


def test_fail_payment_again_with_the_same_reason_changes_nothing() -> None:
    then(when(order(*RESERVED, (Order.fail_payment, "declined")), Order.fail_payment, "declined"))


@pytest.mark.parametrize("steps", [(), AUTHORISED, (*RESERVED, (Order.fail_payment, "declined"))])
def test_fail_payment_is_refused_unless_stock_is_reserved(steps: tuple) -> None:
    then_error(when(order(*steps), Order.fail_payment, "insufficient funds"), RuleViolated)


def test_authorise_after_a_failed_payment_is_refused() -> None:
    failed = order(*RESERVED, (Order.fail_payment, "declined"))
    then_error(when(failed, Order.authorise_payment, PAYMENT, TOTAL), RuleViolated)


def test_confirm() -> None:
    authorised = order(*AUTHORISED)
    then(when(authorised, Order.confirm), event(Order.Confirmed))
    assert authorised.status == OrderStatus.CONFIRMED


def test_confirm_again_changes_nothing() -> None:
    then(when(order(*CONFIRMED), Order.confirm))


@pytest.mark.parametrize("steps", [(), RESERVED, (*AUTHORISED, *CANCELLED)])
def test_confirm_is_refused_unless_payment_is_authorised(steps: tuple) -> None:
    then_error(when(order(*steps), Order.confirm), RuleViolated)


def test_confirm_after_the_deadline_is_allowed_until_the_order_expires() -> None:
    then(when(order(*AUTHORISED), Order.confirm, ctx=AFTER_DEADLINE), event(Order.Confirmed))


def test_first_shipment_records_the_capture_of_the_total() -> None:
    confirmed = order(*CONFIRMED)
    then(
        when(confirmed, Order.ship, ACME),
        event(Order.Shipped, seller_id=ACME),
        event(Order.PaymentCaptured, payment_id=PAYMENT, amount_minor=8000, currency="EUR"),
    )
    assert confirmed.shipped_sellers == {ACME}
    assert confirmed.captured == TOTAL
    assert confirmed.status == OrderStatus.PARTIALLY_SHIPPED


def test_later_shipments_capture_nothing_more() -> None:
    shipped = order(*SHIPPED_ACME)
    then(when(shipped, Order.ship, BOLT), event(Order.Shipped, seller_id=BOLT))
    assert shipped.shipped_sellers == {ACME, BOLT}
    assert shipped.captured == TOTAL
    assert shipped.status == OrderStatus.SHIPPED


def test_ship_again_for_the_same_seller_changes_nothing() -> None:
    then(when(order(*SHIPPED_ACME), Order.ship, ACME))


def test_ship_refuses_a_seller_not_in_the_order() -> None:
    then_error(when(order(*CONFIRMED), Order.ship, uid(0xBAD)), RuleViolated, "no lines")


@pytest.mark.parametrize("steps", [(), RESERVED, AUTHORISED, CANCELLED])
def test_ship_is_refused_unless_confirmed(steps: tuple) -> None:
    then_error(when(order(*steps), Order.ship, ACME), RuleViolated)


def test_deliver_each_seller_after_it_shipped() -> None:
    shipped = order(*SHIPPED_ACME, (Order.ship, BOLT))
    then(when(shipped, Order.deliver, ACME), event(Order.Delivered, seller_id=ACME))
    assert (shipped.delivered_sellers, shipped.status) == ({ACME}, OrderStatus.SHIPPED)
    then(when(shipped, Order.deliver, BOLT), event(Order.Delivered, seller_id=BOLT))
    assert (shipped.delivered_sellers, shipped.status) == ({ACME, BOLT}, OrderStatus.DELIVERED)


def test_deliver_again_changes_nothing() -> None:
    then(when(order(*SHIPPED_ACME, (Order.deliver, ACME)), Order.deliver, ACME))


def test_deliver_before_the_seller_shipped_is_refused() -> None:
    then_error(when(order(*SHIPPED_ACME), Order.deliver, BOLT), RuleViolated, "not shipped")
    then_error(when(order(*CONFIRMED), Order.deliver, ACME), RuleViolated, "not shipped")


def test_deliver_refuses_a_seller_not_in_the_order() -> None:
    then_error(when(order(*SHIPPED_ACME), Order.deliver, uid(0xBAD)), RuleViolated, "no lines")


@pytest.mark.parametrize("steps", [(), RESERVED, AUTHORISED, CONFIRMED])
def test_cancel_before_any_shipment(steps: tuple) -> None:
    before = order(*steps)
    then(when(before, Order.cancel, " too slow "), event(Order.Cancelled, reason="too slow"))
    assert before.status == OrderStatus.CANCELLED


def test_cancel_again_with_the_same_reason_changes_nothing() -> None:
    then(when(order(*CANCELLED), Order.cancel, "changed my mind"))


@pytest.mark.parametrize(
    "steps",
    [
        SHIPPED_ACME,
        CANCELLED,
        ((Order.reject, [TEAPOT]),),
        (*RESERVED, (Order.fail_payment, "declined")),
    ],
)
def test_cancel_is_refused_after_shipment_or_an_end(steps: tuple) -> None:
    then_error(when(order(*steps), Order.cancel, "another reason"), RuleViolated)


def test_cancel_is_refused_once_expired() -> None:
    then_error(when(expired_order(), Order.cancel, "late"), RuleViolated)


def test_cancel_refuses_a_bad_reason() -> None:
    then_error(when(order(), Order.cancel, ""), InvalidValue)


def test_refund_part_then_the_rest_of_the_capture() -> None:
    shipped = order(*SHIPPED_ACME)
    then(
        when(shipped, Order.refund, "r1", Money(3000, "EUR")),
        event(
            Order.Refunded, refund_id="r1", payment_id=PAYMENT, amount_minor=3000, currency="EUR"
        ),
    )
    then(
        when(shipped, Order.refund, "r2", Money(5000, "EUR")),
        event(
            Order.Refunded, refund_id="r2", payment_id=PAYMENT, amount_minor=5000, currency="EUR"
        ),
    )
    assert (shipped.refunded, shipped.captured) == (TOTAL, TOTAL)


def test_refund_again_with_the_same_id_and_amount_changes_nothing() -> None:
    then(when(order(*SHIPPED_ACME, (Order.refund, "r1", TOTAL)), Order.refund, "r1", TOTAL))


def test_refund_id_reused_for_another_amount_is_refused() -> None:
    refunded = order(*SHIPPED_ACME, (Order.refund, "r1", Money(10, "EUR")))
    then_error(when(refunded, Order.refund, "r1", Money(11, "EUR")), RuleViolated, "another")


def test_refunds_never_exceed_the_capture() -> None:
    then_error(
        when(order(*SHIPPED_ACME), Order.refund, "r1", Money(8001, "EUR")), RuleViolated, "left"
    )
    refunded = order(*SHIPPED_ACME, (Order.refund, "r1", Money(7000, "EUR")))
    then_error(when(refunded, Order.refund, "r2", Money(1001, "EUR")), RuleViolated, "left")


@pytest.mark.parametrize("steps", [(), AUTHORISED, CONFIRMED, CANCELLED])
def test_refund_before_a_capture_is_refused(steps: tuple) -> None:
    outcome = when(order(*steps), Order.refund, "r1", Money(1, "EUR"))
    then_error(outcome, RuleViolated, "captured")


@pytest.mark.parametrize("amount", [Money(0, "EUR"), Money(10, "GBP")])
def test_refund_refuses_a_bad_amount(amount: Money) -> None:
    then_error(when(order(*SHIPPED_ACME), Order.refund, "r1", amount), InvalidValue)


@pytest.mark.parametrize("steps", [(), RESERVED, AUTHORISED])
def test_expire_an_unconfirmed_order_at_its_deadline(steps: tuple) -> None:
    unconfirmed = order(*steps)
    then(when(unconfirmed, Order.expire, ctx=AFTER_DEADLINE), event(Order.Expired))
    assert unconfirmed.status == OrderStatus.EXPIRED


def test_expire_again_changes_nothing() -> None:
    then(when(expired_order(), Order.expire, ctx=AFTER_DEADLINE))


def test_expire_before_the_deadline_is_refused() -> None:
    early = ctx_at(LATER - timedelta(microseconds=1))
    then_error(when(order(*AUTHORISED), Order.expire, ctx=early), RuleViolated, "not come")


@pytest.mark.parametrize(
    "steps",
    [
        CONFIRMED,
        SHIPPED_ACME,
        CANCELLED,
        ((Order.reject, [TEAPOT]),),
        (*RESERVED, (Order.fail_payment, "declined")),
    ],
)
def test_expire_is_refused_once_confirmed_or_ended(steps: tuple) -> None:
    then_error(when(order(*steps), Order.expire, ctx=AFTER_DEADLINE), RuleViolated)


def test_events_carry_the_metadata_of_their_own_command() -> None:
    other = ctx_at(AT + timedelta(minutes=1), request_id="req-2", causation_id="cause-2")
    outcome = when(order(*CONFIRMED), Order.ship, ACME, ctx=other)
    then(
        outcome,
        event(Order.Shipped, seller_id=ACME),
        event(Order.PaymentCaptured, payment_id=PAYMENT, amount_minor=8000, currency="EUR"),
    )
    assert [e.meta["request_id"] for e in outcome.events] == ["req-2", "req-2"]
    assert [e.timestamp for e in outcome.events] == [other.at, other.at]


@pytest.mark.parametrize(
    "change",
    [
        {"country": "fr"},
        {"city": " "},
        {"postal_code": "9" * 21},
        {"extra": "field"},
    ],
)
def test_place_refuses_a_bad_delivery_address(change: dict[str, str]) -> None:
    address = {**SHIP_TO, **change}
    outcome = when_created(Order.place, ORDER_ID, CUSTOMER_ID, LINES, LATER, KEY, address)
    then_error(outcome, InvalidValue)


def test_void_records_the_uncaptured_authorisation_of_a_cancelled_order() -> None:
    cancelled = order(*AUTHORISED, (Order.cancel, "changed my mind"))
    then(when(cancelled, Order.void_payment), event(Order.PaymentVoided, payment_id=PAYMENT))


def test_void_twice_changes_nothing() -> None:
    voided = order(*AUTHORISED, (Order.cancel, "changed my mind"), (Order.void_payment,))
    then(when(voided, Order.void_payment))


def test_void_needs_an_authorisation_and_a_cancelled_or_expired_order() -> None:
    then_error(when(order(*AUTHORISED), Order.void_payment), RuleViolated)
    then_error(when(order(*CANCELLED), Order.void_payment), RuleViolated)
