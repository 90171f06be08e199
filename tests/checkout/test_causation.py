"""What the checkout worker records (reservations, payments, voids, expiries) carries the
correlation id of the request that started the flow and, as causation, the event it answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain.base import Context
from infra.settings import Settings
from tests.checkout.shop import Gateway, Shop, checkout_worker, wait_for
from tests.support.causation import CHECKOUT_CAUSES, assert_one_tree, causes, every_event, flow_of

pytestmark = pytest.mark.postgres


def request(actor: uuid.UUID, role: str, name: str) -> Context:
    """The context the command API gives a request named name (its id is f"{name}-req")."""
    request_id = f"{name}-req"
    return Context(datetime.now(UTC), str(actor), role, request_id, f"{name}-flow", request_id)


def test_a_paid_then_cancelled_order_leaves_two_traced_flows(
    shop: Shop, settings: Settings
) -> None:
    product = shop.product(3)
    shop.register_shoppers(1)
    (shopper,) = shop.shoppers
    shop.fill_carts(product, [shopper])
    with checkout_worker(settings):
        order_id = shop.commands.check_out(
            shopper,
            shop.address_ids[shopper],
            "traced",
            datetime.now(UTC) + timedelta(minutes=15),
            request(shopper, "shopper", "checkout"),
        ).aggregate_id
        wait_for(lambda: shop.stock(product).sold == 1, 30)
        shop.commands.orders.cancel(order_id, "no", request(shopper, "shopper", "cancel"))
        wait_for(lambda: shop.order(order_id).payment_voided, 30)
        wait_for(lambda: shop.stock(product).available == 3, 30)

    events = every_event(shop.commands)
    bought, cancelled = flow_of(events, "checkout-flow"), flow_of(events, "cancel-flow")
    assert_one_tree(bought, "checkout-req", events)
    assert_one_tree(cancelled, "cancel-req", events)
    assert causes(bought) == CHECKOUT_CAUSES
    assert causes(cancelled) == {
        ("Order.Cancelled", "request"),
        ("Order.PaymentVoided", "Order.Cancelled"),
        ("StockItem.SaleCancelled", "Order.Cancelled"),
    }
    actors = {e.kind: (e.meta["actor"], e.meta["role"]) for e in bought + cancelled}
    assert (
        actors["Order.PaymentAuthorised"]
        == actors["Order.PaymentVoided"]
        == (
            "payments",
            "system",
        )
    )


def test_an_expired_order_answers_to_the_checkout_that_set_its_deadline(
    shop: Shop, settings: Settings, gateway: Gateway
) -> None:
    settings = settings.updated(payments={"timeout_seconds": 0.5, "attempts": 1})
    gateway.faults(stall=True, hang_seconds=30)
    product = shop.product(2)
    shop.register_shoppers(1)
    (shopper,) = shop.shoppers
    shop.fill_carts(product, [shopper])
    try:
        with checkout_worker(settings):
            order_id = shop.commands.check_out(
                shopper,
                shop.address_ids[shopper],
                "unpaid",
                datetime.now(UTC) + timedelta(seconds=10),
                request(shopper, "shopper", "late"),
            ).aggregate_id
            shop.wait_until_final([order_id], 60)
            wait_for(lambda: shop.stock(product).reserved == 0, 60)
    finally:
        gateway.faults(stall=False)

    events = every_event(shop.commands)
    late = flow_of(events, "late-flow")
    assert_one_tree(late, "late-req", events)
    assert causes(late) >= {
        ("StockItem.UnitsReserved", "Order.Placed"),
        ("Order.Expired", "Order.Placed"),
        ("StockItem.ReservationReleased", "Order.Expired"),
    }
    (expired,) = [e for e in late if e.kind == "Order.Expired"]
    assert (expired.event.originator_id, expired.meta["actor"]) == (order_id, "deadlines")
