"""A per-buyer purchase limit: a buyer's further orders beyond it are rejected, others buy."""

from __future__ import annotations

import pytest

from domain.order_lines import OrderStatus
from infra.settings import Settings
from tests.checkout.shop import Gateway, Shop, acting, checkout_worker, wait_for

pytestmark = pytest.mark.postgres


def test_a_buyer_gets_at_most_the_limit_across_orders_and_cancelling_frees_it(
    shop: Shop, settings: Settings, gateway: Gateway
) -> None:
    product = shop.product(50)
    shop.commands.inventory.set_purchase_limit(product, 2, acting(shop.seller, "seller"))
    shop.register_shoppers(2)
    bot, human = shop.shoppers
    with checkout_worker(settings):
        orders = []
        for attempt in range(3):
            shop.fill_carts(product, [bot])
            orders.append(shop.check_out(bot, f"bot-{attempt}"))
        shop.fill_carts(product, [human])
        orders.append(shop.check_out(human, "human"))
        final = shop.wait_until_final(orders, 90)
        bot_orders, human_order = orders[:3], orders[3]
        confirmed = [o for o in bot_orders if final[o].status is OrderStatus.CONFIRMED]
        rejected = [o for o in bot_orders if final[o].status is OrderStatus.REJECTED]
        assert (len(confirmed), len(rejected)) == (2, 1)
        assert final[human_order].status is OrderStatus.CONFIRMED

        shop.commands.orders.cancel(confirmed[0], "changed my mind", acting(bot, "shopper"))
        wait_for(lambda: shop.stock(product).bought[bot] == 1, 90)
        shop.fill_carts(product, [bot])
        again = shop.check_out(bot, "bot-after-cancel")
        assert shop.wait_until_final([again], 90)[again].status is OrderStatus.CONFIRMED

    item = shop.stock(product)
    assert (item.bought[bot], item.bought[human], item.sold) == (2, 1, 3)
