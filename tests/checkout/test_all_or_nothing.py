"""All or nothing: when any line of an order cannot be reserved, the lines reserved are
released and the order is rejected naming every refused line, and the checkout worker goes
on with the next order."""

from __future__ import annotations

import uuid

import pytest

from domain.cart import cart_id_for
from domain.money import Money
from domain.order_lines import OrderStatus
from infra.settings import Settings
from tests.checkout.shop import Gateway, Shop, acting, checkout_worker, wait_for

pytestmark = pytest.mark.postgres


def unstocked_product(shop: Shop) -> uuid.UUID:
    """A product on sale whose stock was never received: it has no stock item at all."""
    product_id = uuid.uuid4()
    shop.commands.catalog.list_product(
        product_id,
        shop.seller,
        "Phantom kettle",
        "d",
        "home",
        {},
        Money(999, "EUR"),
        acting(shop.seller, "seller"),
    )
    return product_id


def cart_of(shop: Shop, shopper: uuid.UUID, lines: list[tuple[uuid.UUID, int]]) -> None:
    """Put the lines in the shopper's cart, in this order."""
    ctx = acting(shopper, "shopper")
    for product_id, quantity in lines:
        shop.commands.add_to_cart(cart_id_for(shopper), product_id, quantity, ctx)


@pytest.mark.parametrize("failing_line", ["short of stock", "never stocked"])
def test_a_line_that_cannot_be_reserved_releases_the_lines_reserved_before_it(
    shop: Shop, settings: Settings, gateway: Gateway, failing_line: str
) -> None:
    first = shop.product(5)
    failing = shop.product(1) if failing_line == "short of stock" else unstocked_product(shop)
    shop.register_shoppers(2)
    unlucky, next_shopper = shop.shoppers
    cart_of(shop, unlucky, [(first, 2), (failing, 2)])
    cart_of(shop, next_shopper, [(first, 1)])
    before = shop.stock(first).version

    with checkout_worker(settings):
        order_id = shop.check_out(unlucky, "order")
        rejected = shop.wait_until_final([order_id], 30)[order_id]
        following = shop.check_out(next_shopper, "order")
        assert shop.wait_until_final([following], 30)[following].status is OrderStatus.CONFIRMED
        wait_for(lambda: shop.stock(first).sold == 1, 30)

    assert [line.product_id for line in rejected.lines] == [first, failing]
    assert rejected.status is OrderStatus.REJECTED
    assert rejected.rejected_product_ids == (failing,)
    item = shop.stock(first)
    assert order_id not in item.reservations
    assert (item.reserved, item.sold, item.available) == (0, 1, 4)
    reserved_released_then_sold = before + 4  # reserved, released; reserved, sold
    assert item.version == reserved_released_then_sold
    charged = {c["reference"] for c in gateway.charges()}
    assert str(order_id) not in charged and str(following) in charged


def test_every_line_that_cannot_be_reserved_is_named_and_the_others_released(
    shop: Shop, settings: Settings
) -> None:
    first, short = shop.product(5), shop.product(1)
    unstocked = unstocked_product(shop)
    shop.register_shoppers(1)
    (unlucky,) = shop.shoppers
    cart_of(shop, unlucky, [(first, 2), (short, 2), (unstocked, 1)])

    with checkout_worker(settings):
        order_id = shop.check_out(unlucky, "order")
        rejected = shop.wait_until_final([order_id], 30)[order_id]

    assert rejected.status is OrderStatus.REJECTED
    assert rejected.rejected_product_ids == (short, unstocked)
    for product_id, units in ((first, 5), (short, 1)):
        item = shop.stock(product_id)
        assert order_id not in item.reservations
        assert (item.reserved, item.available) == (0, units)
