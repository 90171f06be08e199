"""A gateway failing half its calls: orders end confirmed or failed, never charged twice."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from domain.order import Order
from domain.order_lines import OrderStatus
from infra.settings import Settings
from tests.checkout.shop import Gateway, Shop, checkout_worker, wait_for

pytestmark = pytest.mark.postgres

ORDERS = 60


def transitions(to_state: str) -> float:
    """How many times this process's payment breaker went to to_state."""
    total = 0.0
    for from_state in ("closed", "open", "half_open"):
        value = REGISTRY.get_sample_value(
            "payment_breaker_transitions_total",
            {"from_state": from_state, "to_state": to_state},
        )
        total += value or 0.0
    return total


# How long the faults stay on at most while the breaker is expected to open: a bound, not a
# timing (the loops end as soon as it opens), so a loaded machine only makes it wait longer.
BREAKER_WAIT_SECONDS = 60


def confirmed(orders: dict[uuid.UUID, Order]) -> set[str]:
    """The ids of the confirmed orders."""
    return {str(i) for i, o in orders.items() if o.status is OrderStatus.CONFIRMED}


def test_every_order_ends_confirmed_or_failed_with_at_most_one_charge(
    shop: Shop, settings: Settings, gateway: Gateway
) -> None:
    settings = settings.updated(
        payments={"timeout_seconds": 0.3, "attempts": 2},
        breaker={"window_calls": 20, "min_calls": 10, "open_seconds": 1.0, "half_open_calls": 3},
    )
    shop.expiry = timedelta(seconds=20)
    gateway.faults(error_rate=0.25, timeout_rate=0.25, hang_seconds=0.6, decline_rate=0.1)
    before = {state: transitions(state) for state in ("open", "half_open", "closed")}
    products = [shop.product(1) for _ in range(ORDERS)]
    shop.register_shoppers(ORDERS)
    for shopper, product in zip(shop.shoppers, products, strict=True):
        shop.fill_carts(product, [shopper])

    with checkout_worker(settings):
        order_ids = shop.check_out_all(shop.shoppers, "pay")
        deadline = time.monotonic() + BREAKER_WAIT_SECONDS
        while transitions("open") == before["open"] and time.monotonic() < deadline:
            time.sleep(0.1)
        gateway.faults(error_rate=0.0, timeout_rate=0.0, decline_rate=0.1)
        orders = shop.wait_until_final(order_ids, 60)
        products_of = [order.lines[0].product_id for order in orders.values()]
        wait_for(lambda: all(shop.stock(p).reserved == 0 for p in products_of), 60)
        wait_for(
            lambda: all(
                c["state"] != "authorised" or c["reference"] in confirmed(orders)
                for c in gateway.charges()
            ),
            60,
        )

    assert transitions("open") > before["open"]
    assert transitions("half_open") > before["half_open"]
    assert transitions("closed") > before["closed"]
    statuses = Counter(order.status for order in orders.values())
    assert set(statuses) <= {
        OrderStatus.CONFIRMED,
        OrderStatus.PAYMENT_FAILED,
        OrderStatus.EXPIRED,
    }
    assert statuses[OrderStatus.CONFIRMED] > 0
    charges = gateway.charges()
    per_order = Counter(charge["reference"] for charge in charges)
    assert max(per_order.values()) == 1
    live = {c["reference"] for c in charges if c["state"] != "voided"}
    for order_id, order in orders.items():
        product = order.lines[0].product_id
        item = shop.stock(product)
        if order.status is OrderStatus.CONFIRMED:
            assert str(order_id) in live
            assert (item.sold, item.reserved) == (1, 0)
        else:
            assert str(order_id) not in live
            assert (item.available, item.reserved, item.sold) == (1, 0, 0)


def test_orders_wait_while_the_breaker_is_open_and_are_paid_when_it_closes(
    shop: Shop, settings: Settings, gateway: Gateway
) -> None:
    settings = settings.updated(
        payments={"timeout_seconds": 0.3, "attempts": 1},
        breaker={"window_calls": 5, "min_calls": 5, "open_seconds": 1.0, "half_open_calls": 2},
    )
    gateway.faults(error_rate=1.0)
    product = shop.product(10)
    shop.register_shoppers(5)
    shop.fill_carts(product, shop.shoppers)
    opened_before = transitions("open")
    with checkout_worker(settings):
        order_ids = shop.check_out_all(shop.shoppers, "wait")
        deadline = time.monotonic() + BREAKER_WAIT_SECONDS
        while transitions("open") == opened_before and time.monotonic() < deadline:
            time.sleep(0.05)
        pending = [shop.order(order_id).status for order_id in order_ids]
        gateway.faults(error_rate=0.0)
        orders = shop.wait_until_final(order_ids, 30)

    assert set(pending) == {OrderStatus.STOCK_RESERVED}
    assert {order.status for order in orders.values()} == {OrderStatus.CONFIRMED}
    assert Counter(c["reference"] for c in gateway.charges()) == {str(o): 1 for o in order_ids}
    assert isinstance(order_ids[0], uuid.UUID)
