"""Cart: lines of products with bounded quantities."""

from __future__ import annotations

from typing import Any

import pytest

from domain.cart import MAX_LINES, MAX_QUANTITY_PER_LINE, Cart, cart_id_for
from domain.errors import InvalidValue, NotFound, RuleViolated
from tests.unit.domain_support import (
    CTX,
    event,
    given,
    history,
    then,
    then_error,
    uid,
    when,
    when_created,
)

SHOPPER_ID = uid(0xC0FFEE)
TEAPOT = uid(0x9D)
KETTLE = uid(0x9E)
EUR = "EUR"


def cart(*steps: tuple) -> Cart:
    return given(Cart, *history(Cart.create(SHOPPER_ID, CTX), *steps))


def full_cart() -> Cart:
    return cart(*[(Cart.add_item, uid(1000 + n), 1, EUR) for n in range(MAX_LINES)])


def test_create_gives_the_shopper_one_empty_cart() -> None:
    outcome = when_created(Cart.create, SHOPPER_ID)
    then(outcome, event(Cart.Created, shopper_id=SHOPPER_ID))
    created = outcome.aggregate
    assert created.id == cart_id_for(SHOPPER_ID)
    assert (created.version, created.lines) == (0, {})


def test_cart_id_is_stable_per_shopper() -> None:
    assert cart_id_for(SHOPPER_ID) == cart_id_for(uid(0xC0FFEE))
    assert cart_id_for(SHOPPER_ID) != cart_id_for(uid(0xC0FFEF))


def test_add_item() -> None:
    shopper_cart = cart()
    then(
        when(shopper_cart, Cart.add_item, TEAPOT, 2, EUR),
        event(Cart.ItemAdded, product_id=TEAPOT, quantity=2, currency=EUR),
    )
    assert shopper_cart.lines == {TEAPOT: 2}


def test_add_the_same_product_merges_into_its_line() -> None:
    shopper_cart = cart((Cart.add_item, TEAPOT, 2, EUR))
    then(
        when(shopper_cart, Cart.add_item, TEAPOT, 3, EUR),
        event(Cart.ItemAdded, product_id=TEAPOT, quantity=3, currency=EUR),
    )
    assert shopper_cart.lines == {TEAPOT: 5}


@pytest.mark.parametrize(
    "quantity", [0, -1, True, False, 1.5, 2.0, MAX_QUANTITY_PER_LINE + 1, 10**9]
)
def test_add_item_refuses_quantities_out_of_bounds(quantity: Any) -> None:
    then_error(when(cart(), Cart.add_item, TEAPOT, quantity, EUR), InvalidValue)


def test_add_item_accepts_a_full_line() -> None:
    then(
        when(cart(), Cart.add_item, TEAPOT, MAX_QUANTITY_PER_LINE, EUR),
        event(Cart.ItemAdded, product_id=TEAPOT, quantity=MAX_QUANTITY_PER_LINE, currency=EUR),
    )


def test_merging_beyond_the_line_bound_is_refused() -> None:
    shopper_cart = cart((Cart.add_item, TEAPOT, 98, EUR))
    then_error(when(shopper_cart, Cart.add_item, TEAPOT, 2, EUR), RuleViolated, "99")


def test_merging_up_to_the_line_bound_is_allowed() -> None:
    shopper_cart = cart((Cart.add_item, TEAPOT, 98, EUR))
    then(
        when(shopper_cart, Cart.add_item, TEAPOT, 1, EUR),
        event(Cart.ItemAdded, product_id=TEAPOT, quantity=1, currency=EUR),
    )
    assert shopper_cart.lines[TEAPOT] == MAX_QUANTITY_PER_LINE


def test_a_new_line_in_a_full_cart_is_refused() -> None:
    shopper_cart = full_cart()
    assert len(shopper_cart.lines) == MAX_LINES
    then_error(when(shopper_cart, Cart.add_item, TEAPOT, 1, EUR), RuleViolated, "50 lines")


def test_a_full_cart_still_merges_into_an_existing_line() -> None:
    shopper_cart = full_cart()
    then(
        when(shopper_cart, Cart.add_item, uid(1000), 4, EUR),
        event(Cart.ItemAdded, product_id=uid(1000), quantity=4, currency=EUR),
    )


def test_a_full_cart_takes_a_new_line_after_one_is_removed() -> None:
    shopper_cart = cart(
        *[(Cart.add_item, uid(1000 + n), 1, EUR) for n in range(MAX_LINES)],
        (Cart.remove_item, uid(1000)),
    )
    then(
        when(shopper_cart, Cart.add_item, TEAPOT, 1, EUR),
        event(Cart.ItemAdded, product_id=TEAPOT, quantity=1, currency=EUR),
    )


def test_change_quantity() -> None:
    shopper_cart = cart((Cart.add_item, TEAPOT, 2, EUR))
    then(
        when(shopper_cart, Cart.change_quantity, TEAPOT, 7),
        event(Cart.QuantityChanged, product_id=TEAPOT, quantity=7),
    )
    assert shopper_cart.lines == {TEAPOT: 7}


def test_change_quantity_to_the_same_quantity_records_nothing() -> None:
    then(when(cart((Cart.add_item, TEAPOT, 2, EUR)), Cart.change_quantity, TEAPOT, 2))


def test_change_quantity_of_an_unknown_line_is_not_found() -> None:
    then_error(
        when(cart((Cart.add_item, TEAPOT, 2, EUR)), Cart.change_quantity, KETTLE, 1), NotFound
    )


def test_change_quantity_of_a_removed_line_is_not_found() -> None:
    shopper_cart = cart((Cart.add_item, TEAPOT, 2, EUR), (Cart.remove_item, TEAPOT))
    then_error(when(shopper_cart, Cart.change_quantity, TEAPOT, 1), NotFound)


@pytest.mark.parametrize("quantity", [0, -3, True, 1.5, MAX_QUANTITY_PER_LINE + 1])
def test_change_quantity_refuses_quantities_out_of_bounds(quantity: Any) -> None:
    then_error(
        when(cart((Cart.add_item, TEAPOT, 2, EUR)), Cart.change_quantity, TEAPOT, quantity),
        InvalidValue,
    )


def test_remove_item() -> None:
    shopper_cart = cart((Cart.add_item, TEAPOT, 2, EUR), (Cart.add_item, KETTLE, 1, EUR))
    then(when(shopper_cart, Cart.remove_item, TEAPOT), event(Cart.ItemRemoved, product_id=TEAPOT))
    assert shopper_cart.lines == {KETTLE: 1}


def test_remove_an_unknown_line_is_not_found() -> None:
    then_error(when(cart((Cart.add_item, TEAPOT, 2, EUR)), Cart.remove_item, KETTLE), NotFound)


def test_remove_twice_is_not_found() -> None:
    shopper_cart = cart((Cart.add_item, TEAPOT, 2, EUR), (Cart.remove_item, TEAPOT))
    then_error(when(shopper_cart, Cart.remove_item, TEAPOT), NotFound)


def test_clear() -> None:
    shopper_cart = cart((Cart.add_item, TEAPOT, 2, EUR), (Cart.add_item, KETTLE, 1, EUR))
    then(when(shopper_cart, Cart.clear), event(Cart.Cleared))
    assert shopper_cart.lines == {}


def test_clear_an_empty_cart_records_nothing() -> None:
    then(when(cart(), Cart.clear))


def test_clear_a_cart_emptied_line_by_line_records_nothing() -> None:
    then(when(cart((Cart.add_item, TEAPOT, 2, EUR), (Cart.remove_item, TEAPOT)), Cart.clear))


def test_a_cleared_cart_starts_lines_afresh() -> None:
    shopper_cart = cart((Cart.add_item, TEAPOT, 98, EUR), (Cart.clear,))
    then(
        when(shopper_cart, Cart.add_item, TEAPOT, 99, EUR),
        event(Cart.ItemAdded, product_id=TEAPOT, quantity=99, currency=EUR),
    )


def test_a_product_in_another_currency_than_the_cart_is_refused_when_added() -> None:
    shopper_cart = cart((Cart.add_item, TEAPOT, 1, EUR))
    then_error(when(shopper_cart, Cart.add_item, KETTLE, 1, "JPY"), RuleViolated, "EUR")
    then(
        when(shopper_cart, Cart.add_item, KETTLE, 1, EUR),
        event(Cart.ItemAdded, product_id=KETTLE, quantity=1, currency=EUR),
    )


def test_the_only_line_may_change_currency_and_an_emptied_cart_takes_any() -> None:
    repriced = cart((Cart.add_item, TEAPOT, 1, EUR))
    then(
        when(repriced, Cart.add_item, TEAPOT, 1, "USD"),
        event(Cart.ItemAdded, product_id=TEAPOT, quantity=1, currency="USD"),
    )
    emptied = cart((Cart.add_item, TEAPOT, 1, EUR), (Cart.remove_item, TEAPOT))
    then(
        when(emptied, Cart.add_item, KETTLE, 1, "JPY"),
        event(Cart.ItemAdded, product_id=KETTLE, quantity=1, currency="JPY"),
    )
    cleared = cart((Cart.add_item, TEAPOT, 1, EUR), (Cart.clear,))
    then(
        when(cleared, Cart.add_item, KETTLE, 1, "JPY"),
        event(Cart.ItemAdded, product_id=KETTLE, quantity=1, currency="JPY"),
    )
