"""With a gateway that never answers, orders expire on time and their stock comes back."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from domain.order_lines import OrderStatus
from infra.settings import Settings
from tests.checkout.shop import Gateway, Shop, checkout_worker, wait_for

pytestmark = pytest.mark.postgres

EXPIRY = timedelta(seconds=3)


def test_unpaid_orders_expire_and_release_their_reservations(
    shop: Shop, settings: Settings, gateway: Gateway
) -> None:
    settings = settings.updated(payments={"timeout_seconds": 0.5, "attempts": 1})
    gateway.faults(stall=True, hang_seconds=30)
    shop.expiry = EXPIRY
    product = shop.product(5)
    shop.register_shoppers(5)
    shop.fill_carts(product, shop.shoppers)
    try:
        with checkout_worker(settings):
            placed_at = time.monotonic()
            order_ids = shop.check_out_all(shop.shoppers, "never-paid")
            orders = shop.wait_until_final(order_ids, 30)
            wait_for(lambda: shop.stock(product).reserved == 0, 10)
            took = time.monotonic() - placed_at
    finally:
        gateway.faults(stall=False)

    assert {order.status for order in orders.values()} == {OrderStatus.EXPIRED}
    assert EXPIRY.total_seconds() <= took < EXPIRY.total_seconds() + 10
    item = shop.stock(product)
    assert (item.available, item.reserved, item.sold) == (5, 0, 0)
    assert all(o.lines[0].product_id == product for o in orders.values())
