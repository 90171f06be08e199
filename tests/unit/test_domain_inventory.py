"""StockItem: receive, adjust, reserve, release and commit units of one product."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from domain.errors import InsufficientStock, InvalidValue, PurchaseLimitExceeded, RuleViolated
from domain.inventory import (
    MAX_UNITS_PER_MOVE,
    MAX_UNITS_PER_RESERVATION,
    Reservation,
    StockItem,
    stock_item_id,
)
from tests.unit.domain_support import (
    AT,
    CTX,
    LATER,
    event,
    given,
    history,
    then,
    then_error,
    uid,
    when,
    when_created,
)

PRODUCT_ID = uid(0x9D)
SELLER_ID = uid(0x5E11E4)
ORDER = uid(0x0D1)
OTHER_ORDER = uid(0x0D2)


def stock(*steps: tuple) -> StockItem:
    return given(StockItem, *history(StockItem.open(PRODUCT_ID, SELLER_ID, CTX), *steps))


def assert_counts(item: StockItem, received: int, reserved: int, sold: int) -> None:
    assert (item.received, item.reserved, item.sold) == (received, reserved, sold)
    assert item.available == received - reserved - sold


def test_open_starts_empty_at_version_zero() -> None:
    outcome = when_created(StockItem.open, PRODUCT_ID, SELLER_ID)
    then(outcome, event(StockItem.Opened, product_id=PRODUCT_ID, seller_id=SELLER_ID))
    item = outcome.aggregate
    assert item.id == stock_item_id(PRODUCT_ID)
    assert item.version == 0
    assert_counts(item, 0, 0, 0)


def test_stock_item_id_is_stable_per_product() -> None:
    assert stock_item_id(PRODUCT_ID) == stock_item_id(uid(0x9D))
    assert stock_item_id(PRODUCT_ID) != stock_item_id(uid(0x9E))


def test_receive() -> None:
    item = stock((StockItem.receive, 5))
    then(when(item, StockItem.receive, 7), event(StockItem.StockReceived, quantity=7))
    assert_counts(item, 12, 0, 0)


@pytest.mark.parametrize("quantity", [0, -1, True, False, 1.0, "3", MAX_UNITS_PER_MOVE + 1])
def test_receive_refuses_quantities_out_of_bounds(quantity: Any) -> None:
    then_error(when(stock(), StockItem.receive, quantity), InvalidValue)


def test_receive_accepts_the_largest_move() -> None:
    then(
        when(stock(), StockItem.receive, MAX_UNITS_PER_MOVE),
        event(StockItem.StockReceived, quantity=MAX_UNITS_PER_MOVE),
    )


def test_receive_refuses_to_exceed_the_largest_count() -> None:
    item = stock(*[(StockItem.receive, MAX_UNITS_PER_MOVE)] * 100)
    then_error(when(item, StockItem.receive, 1), InvalidValue, "largest count")


def test_adjust_up_and_down() -> None:
    item = stock((StockItem.receive, 10))
    then(
        when(item, StockItem.adjust, -3, " damaged "),
        event(StockItem.StockAdjusted, delta=-3, reason="damaged"),
    )
    then(
        when(item, StockItem.adjust, 2, "found"),
        event(StockItem.StockAdjusted, delta=2, reason="found"),
    )
    assert_counts(item, 9, 0, 0)


@pytest.mark.parametrize(
    "delta", [0, True, False, 1.5, MAX_UNITS_PER_MOVE + 1, -MAX_UNITS_PER_MOVE - 1]
)
def test_adjust_refuses_deltas_out_of_bounds(delta: Any) -> None:
    then_error(when(stock((StockItem.receive, 10)), StockItem.adjust, delta, "count"), InvalidValue)


def test_adjust_refuses_to_exceed_the_largest_count() -> None:
    item = stock(*[(StockItem.receive, MAX_UNITS_PER_MOVE)] * 100)
    then_error(when(item, StockItem.adjust, 1, "found"), InvalidValue, "largest count")


@pytest.mark.parametrize("reason", ["", "   ", "r" * 501])
def test_adjust_refuses_a_bad_reason(reason: str) -> None:
    then_error(when(stock((StockItem.receive, 10)), StockItem.adjust, 1, reason), InvalidValue)


def test_adjust_may_remove_every_unreserved_unit() -> None:
    item = stock((StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER))
    then(
        when(item, StockItem.adjust, -6, "lost"),
        event(StockItem.StockAdjusted, delta=-6, reason="lost"),
    )
    assert_counts(item, 4, 4, 0)


def test_adjust_below_reserved_plus_sold_is_refused() -> None:
    item = stock(
        (StockItem.receive, 10),
        (StockItem.reserve, ORDER, 3, LATER),
        (StockItem.commit, ORDER),
        (StockItem.reserve, OTHER_ORDER, 4, LATER),
    )
    assert_counts(item, 10, 4, 3)
    then_error(when(item, StockItem.adjust, -4, "lost"), InsufficientStock)


def test_adjust_below_zero_on_empty_stock_is_refused() -> None:
    then_error(when(stock(), StockItem.adjust, -1, "lost"), InsufficientStock)


def test_reserve() -> None:
    item = stock((StockItem.receive, 10))
    then(
        when(item, StockItem.reserve, ORDER, 4, LATER),
        event(StockItem.UnitsReserved, order_id=ORDER, quantity=4, expires_at=LATER, buyer_id=None),
    )
    assert item.reservations == {ORDER: Reservation(4, LATER)}
    assert_counts(item, 10, 4, 0)


def test_reserve_every_available_unit() -> None:
    item = stock((StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER))
    then(
        when(item, StockItem.reserve, OTHER_ORDER, 6, LATER),
        event(
            StockItem.UnitsReserved,
            order_id=OTHER_ORDER,
            quantity=6,
            expires_at=LATER,
            buyer_id=None,
        ),
    )
    assert item.available == 0


def test_reserve_more_than_available_is_refused() -> None:
    item = stock((StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER))
    then_error(when(item, StockItem.reserve, OTHER_ORDER, 7, LATER), InsufficientStock)


def test_reserve_counts_sold_units_as_unavailable() -> None:
    item = stock(
        (StockItem.receive, 5), (StockItem.reserve, ORDER, 5, LATER), (StockItem.commit, ORDER)
    )
    then_error(when(item, StockItem.reserve, OTHER_ORDER, 1, LATER), InsufficientStock)


def test_reserve_sees_negative_adjustments() -> None:
    item = stock((StockItem.receive, 5), (StockItem.adjust, -2, "broken"))
    then_error(when(item, StockItem.reserve, ORDER, 4, LATER), InsufficientStock)


def test_reserve_again_for_the_same_order_records_nothing() -> None:
    item = stock((StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER))
    then(when(item, StockItem.reserve, ORDER, 4, LATER))


def test_reserve_again_with_another_quantity_records_nothing() -> None:
    item = stock((StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER))
    then(when(item, StockItem.reserve, ORDER, 9, LATER + timedelta(hours=1)))
    assert item.reservations[ORDER] == Reservation(4, LATER)


def test_reserve_after_commit_records_nothing() -> None:
    item = stock(
        (StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER), (StockItem.commit, ORDER)
    )
    then(when(item, StockItem.reserve, ORDER, 4, LATER))
    assert_counts(item, 10, 0, 4)


def test_reserve_after_release_is_refused() -> None:
    item = stock(
        (StockItem.receive, 10),
        (StockItem.reserve, ORDER, 4, LATER),
        (StockItem.release, ORDER, "cancelled"),
    )
    then_error(when(item, StockItem.reserve, ORDER, 4, LATER), RuleViolated, "released")


@pytest.mark.parametrize("expires_at", [AT, AT - timedelta(seconds=1), AT - timedelta(days=1)])
def test_reserve_with_expiry_not_in_the_future_is_refused(expires_at: Any) -> None:
    item = stock((StockItem.receive, 10))
    then_error(when(item, StockItem.reserve, ORDER, 1, expires_at), InvalidValue, "future")


@pytest.mark.parametrize("quantity", [0, -1, True, False, 2.0, "1", MAX_UNITS_PER_RESERVATION + 1])
def test_reserve_refuses_quantities_out_of_bounds(quantity: Any) -> None:
    item = stock((StockItem.receive, MAX_UNITS_PER_MOVE))
    then_error(when(item, StockItem.reserve, ORDER, quantity, LATER), InvalidValue)


def test_reserve_accepts_the_largest_reservation() -> None:
    item = stock((StockItem.receive, MAX_UNITS_PER_MOVE))
    then(
        when(item, StockItem.reserve, ORDER, MAX_UNITS_PER_RESERVATION, LATER),
        event(
            StockItem.UnitsReserved,
            order_id=ORDER,
            quantity=MAX_UNITS_PER_RESERVATION,
            expires_at=LATER,
            buyer_id=None,
        ),
    )


def test_release() -> None:
    item = stock((StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER))
    then(
        when(item, StockItem.release, ORDER, " expired "),
        event(
            StockItem.ReservationReleased,
            order_id=ORDER,
            quantity=4,
            reason="expired",
            cause="other",
        ),
    )
    assert item.reservations == {}
    assert ORDER in item.released_orders
    assert_counts(item, 10, 0, 0)


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        ("order expired", "expired"),
        ("payment failed", "payment-failed"),
        ("order cancelled", "cancelled"),
        ("order rejected", "rejected"),
        ("out of patience", "other"),
    ],
)
def test_a_release_records_the_cause_of_its_reason(reason: str, cause: str) -> None:
    item = stock((StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER))
    then(
        when(item, StockItem.release, ORDER, reason),
        event(
            StockItem.ReservationReleased, order_id=ORDER, quantity=4, reason=reason, cause=cause
        ),
    )


def test_release_an_unknown_order_records_nothing() -> None:
    then(when(stock((StockItem.receive, 10)), StockItem.release, ORDER, "expired"))


def test_release_twice_records_nothing() -> None:
    item = stock(
        (StockItem.receive, 10),
        (StockItem.reserve, ORDER, 4, LATER),
        (StockItem.release, ORDER, "cancelled"),
    )
    then(when(item, StockItem.release, ORDER, "cancelled"))


def test_release_after_commit_is_refused() -> None:
    item = stock(
        (StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER), (StockItem.commit, ORDER)
    )
    then_error(when(item, StockItem.release, ORDER, "cancelled"), RuleViolated, "sold")


@pytest.mark.parametrize("reason", ["", "r" * 201])
def test_release_refuses_a_bad_reason(reason: str) -> None:
    item = stock((StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER))
    then_error(when(item, StockItem.release, ORDER, reason), InvalidValue)


def test_commit() -> None:
    item = stock((StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER))
    then(
        when(item, StockItem.commit, ORDER),
        event(StockItem.ReservationCommitted, order_id=ORDER, quantity=4),
    )
    assert ORDER in item.committed_orders
    assert_counts(item, 10, 0, 4)


def test_commit_twice_records_nothing() -> None:
    item = stock(
        (StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER), (StockItem.commit, ORDER)
    )
    then(when(item, StockItem.commit, ORDER))


def test_commit_without_a_reservation_is_refused() -> None:
    then_error(when(stock((StockItem.receive, 10)), StockItem.commit, ORDER), RuleViolated)


def test_commit_after_release_is_refused() -> None:
    item = stock(
        (StockItem.receive, 10),
        (StockItem.reserve, ORDER, 4, LATER),
        (StockItem.release, ORDER, "cancelled"),
    )
    then_error(when(item, StockItem.commit, ORDER), RuleViolated)


def test_sold_units_stay_counted_after_adjustments() -> None:
    item = stock(
        (StockItem.receive, 10),
        (StockItem.reserve, ORDER, 6, LATER),
        (StockItem.commit, ORDER),
        (StockItem.adjust, -4, "shrinkage"),
    )
    assert_counts(item, 6, 0, 6)
    then_error(when(item, StockItem.adjust, -1, "shrinkage"), InsufficientStock)
    then_error(when(item, StockItem.reserve, OTHER_ORDER, 1, LATER), InsufficientStock)


def test_cancel_sale_puts_sold_units_back_on_sale() -> None:
    item = stock(
        (StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER), (StockItem.commit, ORDER)
    )
    then(
        when(item, StockItem.cancel_sale, ORDER, "order cancelled"),
        event(StockItem.SaleCancelled, order_id=ORDER, quantity=4, reason="order cancelled"),
    )
    assert_counts(item, 10, 0, 0)


def test_cancel_sale_twice_records_nothing_and_the_order_cannot_reserve_again() -> None:
    item = stock(
        (StockItem.receive, 10),
        (StockItem.reserve, ORDER, 4, LATER),
        (StockItem.commit, ORDER),
        (StockItem.cancel_sale, ORDER, "order cancelled"),
    )
    then(when(item, StockItem.cancel_sale, ORDER, "order cancelled"))
    then_error(when(item, StockItem.reserve, ORDER, 4, LATER), RuleViolated)


def test_cancel_sale_without_a_sale_is_refused() -> None:
    item = stock((StockItem.receive, 10), (StockItem.reserve, ORDER, 4, LATER))
    then_error(when(item, StockItem.cancel_sale, ORDER, "order cancelled"), RuleViolated)


BUYER, OTHER_BUYER = uid(0xB0), uid(0xB1)


def reserve_for(
    item: StockItem, order: Any, quantity: int, expires_at: Any, buyer: Any, ctx: Any
) -> None:
    item.reserve(order, quantity, expires_at, ctx, buyer_id=buyer)


def limited(limit: int, *steps: tuple) -> StockItem:
    return stock((StockItem.receive, 100), (StockItem.set_purchase_limit, limit), *steps)


def test_set_purchase_limit_once_and_clear_it() -> None:
    item = stock((StockItem.receive, 10))
    then(when(item, StockItem.set_purchase_limit, 2), event(StockItem.PurchaseLimitSet, limit=2))
    then(when(item, StockItem.set_purchase_limit, 2))
    then(
        when(item, StockItem.set_purchase_limit, None),
        event(StockItem.PurchaseLimitSet, limit=None),
    )


@pytest.mark.parametrize("limit", [0, -1, 10_001, True])
def test_a_purchase_limit_is_a_sane_number_of_units(limit: int) -> None:
    then_error(when(stock(), StockItem.set_purchase_limit, limit), InvalidValue)


def test_a_buyer_may_hold_up_to_the_limit_across_orders() -> None:
    item = limited(2, (reserve_for, ORDER, 1, LATER, BUYER))
    then(
        when(item, reserve_for, OTHER_ORDER, 1, LATER, BUYER),
        event(
            StockItem.UnitsReserved,
            order_id=OTHER_ORDER,
            quantity=1,
            expires_at=LATER,
            buyer_id=BUYER,
        ),
    )
    then_error(when(item, reserve_for, uid(0x0D9), 1, LATER, BUYER), PurchaseLimitExceeded)
    then(
        when(item, reserve_for, uid(0x0D9), 2, LATER, OTHER_BUYER),
        event(
            StockItem.UnitsReserved,
            order_id=uid(0x0D9),
            quantity=2,
            expires_at=LATER,
            buyer_id=OTHER_BUYER,
        ),
    )


def test_sold_units_count_and_released_or_cancelled_ones_do_not() -> None:
    item = limited(
        2,
        (reserve_for, ORDER, 2, LATER, BUYER),
        (StockItem.commit, ORDER),
    )
    then_error(when(item, reserve_for, OTHER_ORDER, 1, LATER, BUYER), PurchaseLimitExceeded)
    given_back = limited(
        2,
        (reserve_for, ORDER, 2, LATER, BUYER),
        (StockItem.commit, ORDER),
        (StockItem.cancel_sale, ORDER, "cancelled"),
    )
    assert given_back.bought[BUYER] == 0
    released = limited(2, (reserve_for, ORDER, 2, LATER, BUYER), (StockItem.release, ORDER, "r"))
    then(
        when(released, reserve_for, OTHER_ORDER, 2, LATER, BUYER),
        event(
            StockItem.UnitsReserved,
            order_id=OTHER_ORDER,
            quantity=2,
            expires_at=LATER,
            buyer_id=BUYER,
        ),
    )


def test_a_reservation_larger_than_the_limit_is_refused_at_once() -> None:
    then_error(when(limited(3), reserve_for, ORDER, 4, LATER, BUYER), PurchaseLimitExceeded)
