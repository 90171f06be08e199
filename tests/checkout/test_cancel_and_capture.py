"""After confirmation: a cancellation puts units back on sale and voids the authorisation;
the first shipment captures the payment at the gateway, and refunds give part of it back."""

from __future__ import annotations

import pytest

from domain.money import Money
from domain.order import Order
from domain.order_lines import OrderStatus
from infra.settings import Settings
from tests.checkout.shop import Gateway, Shop, acting, checkout_worker, wait_for

pytestmark = pytest.mark.postgres


def charge_of(gateway: Gateway, order_id: object) -> dict[str, object] | None:
    found = [c for c in gateway.charges() if c["reference"] == str(order_id)]
    assert len(found) <= 1
    return found[0] if found else None


def test_cancel_voids_and_gives_units_back_ship_captures_refunds_give_money_back(
    shop: Shop, settings: Settings, gateway: Gateway
) -> None:
    product = shop.product(3)
    shop.register_shoppers(2)
    keep, cancel = shop.shoppers
    shop.fill_carts(product, shop.shoppers)
    with checkout_worker(settings):
        kept, cancelled = (shop.check_out(s, "order") for s in (keep, cancel))
        shop.wait_until_final([kept, cancelled], 30)
        wait_for(lambda: shop.stock(product).sold == 2, 30)  # sold after confirmation

        shop.commands.orders.cancel(cancelled, "changed my mind", acting(cancel, "shopper"))
        wait_for(lambda: shop.order(cancelled).payment_voided, 30)
        wait_for(lambda: shop.stock(product).available == 2, 30)

        shop.commands.orders.advance_part(
            kept, shop.seller, Order.ship, acting(shop.seller, "seller")
        )
        wait_for(lambda: (charge_of(gateway, kept) or {}).get("state") == "captured", 30)

        seller = acting(shop.seller, "seller")
        for refund_id in ("r1", "r1", "r2"):
            shop.commands.orders.refund(kept, refund_id, Money(500, "EUR"), seller)
        wait_for(lambda: (charge_of(gateway, kept) or {}).get("refunded_minor") == 1000, 30)

    item = shop.stock(product)
    assert (item.received, item.sold, item.reserved, item.available) == (3, 1, 0, 2)
    assert shop.order(cancelled).status is OrderStatus.CANCELLED
    assert shop.order(kept).status is OrderStatus.SHIPPED
    voided, captured = charge_of(gateway, cancelled), charge_of(gateway, kept)
    assert voided is not None and voided["state"] == "voided"
    assert captured is not None and captured["captured_minor"] == 1999
    assert captured["refunded_minor"] == 1000
    assert shop.order(kept).refunded == Money(1000, "EUR")
