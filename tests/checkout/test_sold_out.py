"""The sold-out fast path: once the projection shows no unit left, checkout refuses at once.

The projection may only refuse early; units are granted by the event store alone, so an
unreadable projection lets checkout go on and the reservation decides.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import redis

from commands.base import Outcome
from commands.errors import SoldOut
from commands.services import Commands
from domain.errors import NotFound
from domain.order import order_id_for
from domain.order_lines import OrderStatus
from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from marketplace.projectors import opened, redis_prefix
from projections.product_detail.availability import ProjectedAvailability
from projections.product_detail.projection import ProductDetailProjection
from projections.product_detail.redis_view import RedisProductDetailView
from tests.checkout.shop import Gateway, Shop, acting, checkout_worker
from tests.conftest import free_port

pytestmark = pytest.mark.postgres


def test_checkout_is_refused_at_once_when_the_projection_shows_none_left(
    shop: Shop, settings: Settings, gateway: Gateway, redis_server: str
) -> None:
    settings = settings.updated(redis={"url": redis_server, "prefix": f"t{uuid.uuid4().hex[:8]}"})
    prefix = redis_prefix(settings, ProductDetailProjection.name)
    view = RedisProductDetailView(redis.Redis.from_url(redis_server), prefix)
    fast = Commands(eventsourcing_env(settings), availability=ProjectedAvailability(view))
    product = shop.product(1)
    shop.register_shoppers(3)
    first, second, third = shop.shoppers
    shop.fill_carts(product, shop.shoppers)
    try:
        with checkout_worker(settings):
            bought = shop.check_out(first, "first")
            assert shop.wait_until_final([bought], 30)[bought].status is OrderStatus.CONFIRMED
        with opened(ProductDetailProjection.name, settings) as worker:
            worker.catch_up()
        assert view.product(product)["units_available"] == 0  # type: ignore[index]

        refused = order_id_for(second, "second")
        with pytest.raises(SoldOut):
            check_out(fast, shop, second, "second")
        with pytest.raises(NotFound):
            shop.order(refused)
        with pytest.raises(SoldOut):
            fast.refuse_if_sold_out(second, "second")
        fast.refuse_if_sold_out(first, "first")  # a retry of a placed order is not refused

        closed = f"redis://127.0.0.1:{free_port()}/0"
        blind = RedisProductDetailView(
            redis.Redis.from_url(closed, socket_connect_timeout=0.2), prefix
        )
        unsure = Commands(eventsourcing_env(settings), availability=ProjectedAvailability(blind))
        placed = check_out(unsure, shop, third, "third")
        with checkout_worker(settings):
            final = shop.wait_until_final([placed.aggregate_id], 30)
        assert final[placed.aggregate_id].status is OrderStatus.REJECTED
        unsure.close()
    finally:
        view.clear()
        fast.close()


def check_out(commands: Commands, shop: Shop, shopper: uuid.UUID, key: str) -> Outcome:
    """Check out the shopper's cart through the given command side."""
    deadline = datetime.now(UTC) + shop.expiry
    return commands.check_out(
        shopper, shop.address_ids[shopper], key, deadline, acting(shopper, "shopper")
    )
