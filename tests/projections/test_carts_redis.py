"""The carts projection on real PostgreSQL (log) and Redis (view)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from commands.services import Commands
from domain.base import Context
from domain.cart import cart_id_for
from domain.money import Money
from projections.carts.projection import CartProjection
from projections.carts.redis_view import RedisCartView
from projections.log import ContextLog
from projections.runtime import Worker

pytestmark = pytest.mark.postgres


@pytest.fixture
def view(redis_server: str) -> Iterator[RedisCartView]:
    view = RedisCartView(redis.Redis.from_url(redis_server), f"t{uuid.uuid4().hex[:8]}")
    yield view
    view.clear()


def ctx(actor: uuid.UUID, role: str) -> Context:
    return Context(datetime.now(UTC), str(actor), role, "req", "corr", "cause")


def test_cart_lines_follow_every_change(env: dict[str, str], view: RedisCartView) -> None:
    commands = Commands(env)
    seller, shopper = uuid.uuid4(), uuid.uuid4()
    products = [uuid.uuid4() for _ in range(3)]
    commands.catalog.register_seller(seller, "Acme", "a@acme.test", ctx(seller, "seller"))
    for product in products:
        commands.catalog.list_product(
            product, seller, "Item", "", "misc", {}, Money(500, "EUR"), ctx(seller, "seller")
        )
    as_shopper = ctx(shopper, "shopper")
    cart = commands.carts.create_cart(shopper, as_shopper)[0].aggregate_id
    commands.add_to_cart(cart, products[0], 2, as_shopper)
    commands.add_to_cart(cart, products[0], 3, as_shopper)
    commands.add_to_cart(cart, products[1], 1, as_shopper)
    commands.add_to_cart(cart, products[2], 4, as_shopper)
    commands.carts.change_quantity(cart, products[1], 7, as_shopper)
    last = commands.carts.remove_item(cart, products[2], as_shopper)

    Worker(CartProjection(), view, [ContextLog(env, "carts")], batch_size=3).catch_up()

    projected = view.cart(cart)
    assert projected is not None
    assert projected.cart_id == cart_id_for(shopper)
    assert projected.shopper_id == shopper
    assert projected.lines == {products[0]: 5, products[1]: 7}
    assert projected.version == last.version
    assert view.positions() == {"carts": last.position}

    commands.carts.clear(cart, as_shopper)
    Worker(CartProjection(), view, [ContextLog(env, "carts")]).catch_up()
    cleared = view.cart(cart)
    assert cleared is not None and cleared.lines == {}
    assert view.cart(uuid.uuid4()) is None
    commands.close()
