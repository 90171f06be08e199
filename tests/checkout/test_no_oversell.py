"""300 shoppers check out at once for 20 units: exactly 20 orders confirmed, over 10 rounds."""

from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest

from domain.order_lines import OrderStatus
from infra.settings import Settings
from tests.checkout.shop import Gateway, Shop, checkout_worker, wait_for

pytestmark = pytest.mark.postgres

ROUNDS = 10
SHOPPERS = 300
UNITS = 20


class StockWatch:
    """Reads the stock item over and over while checkouts run, keeping the lowest availability."""

    def __init__(self, shop: Shop, product_id: uuid.UUID) -> None:
        self.shop, self.product_id = shop, product_id
        self.lowest = UNITS
        self.over_committed = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> StockWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.is_set():
            item = self.shop.stock(self.product_id)
            self.lowest = min(self.lowest, item.available)
            self.over_committed += item.reserved + item.sold > item.received
            self.samples += 1
            self._stop.wait(0.01)


def test_exactly_the_units_in_stock_are_sold_however_many_shoppers_check_out(
    shop: Shop, settings: Settings, gateway: Gateway
) -> None:
    shop.register_shoppers(SHOPPERS)
    with checkout_worker(settings):
        for round_number in range(ROUNDS):
            product = shop.product(UNITS)
            shop.fill_carts(product, shop.shoppers)
            with StockWatch(shop, product) as watch:
                order_ids = shop.check_out_all(shop.shoppers, f"flash-{round_number}")
                orders = shop.wait_until_final(order_ids, 180)
                wait_for(lambda p=product: shop.stock(p).reserved == 0, 60)  # sold when confirmed

            statuses = Counter(order.status for order in orders.values())
            assert statuses == {
                OrderStatus.CONFIRMED: UNITS,
                OrderStatus.REJECTED: SHOPPERS - UNITS,
            }
            item = shop.stock(product)
            assert (item.received, item.sold, item.reserved, item.available) == (UNITS, UNITS, 0, 0)
            assert watch.samples > 0
            assert watch.lowest >= 0
            assert watch.over_committed == 0
            charged = Counter(charge["reference"] for charge in gateway.charges())
            for order_id, order in orders.items():
                expected = 1 if order.status is OrderStatus.CONFIRMED else 0
                assert charged[str(order_id)] == expected
