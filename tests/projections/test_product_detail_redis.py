"""The product-detail projection on real PostgreSQL (log) and Redis (view)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from commands.services import Commands
from domain.base import Context
from domain.money import Money
from projections.log import ContextLog
from projections.product_detail.projection import ProductDetailProjection
from projections.product_detail.redis_view import RedisProductDetailView
from projections.runtime import PositionMoved, Worker

pytestmark = pytest.mark.postgres


@pytest.fixture
def commands(env: dict[str, str]) -> Iterator[Commands]:
    commands = Commands(env)
    yield commands
    commands.close()


@pytest.fixture
def view(redis_server: str) -> Iterator[RedisProductDetailView]:
    view = RedisProductDetailView(redis.Redis.from_url(redis_server), f"t{uuid.uuid4().hex[:8]}")
    yield view
    view.clear()


def worker(env: dict[str, str], view: RedisProductDetailView) -> Worker:
    logs = [ContextLog(env, "catalog"), ContextLog(env, "inventory")]
    return Worker(ProductDetailProjection(), view, logs, batch_size=7)


def as_seller(seller: uuid.UUID) -> Context:
    return Context(datetime.now(UTC), str(seller), "seller", "req", "corr", "cause")


def stocked_product(commands: Commands) -> tuple[uuid.UUID, uuid.UUID]:
    seller, product = uuid.uuid4(), uuid.uuid4()
    ctx = as_seller(seller)
    commands.catalog.register_seller(seller, "Acme", "a@acme.test", ctx)
    commands.catalog.list_product(
        product, seller, "Lamp", "A lamp", "home", {"color": "red"}, Money(1999, "EUR"), ctx
    )
    commands.receive_stock(product, 10, ctx)
    return seller, product


def test_document_follows_catalog_and_stock(
    env: dict[str, str], commands: Commands, view: RedisProductDetailView
) -> None:
    seller, product = stocked_product(commands)
    ctx = as_seller(seller)
    held, sold = uuid.uuid4(), uuid.uuid4()
    later = datetime.now(UTC) + timedelta(minutes=5)
    commands.inventory.reserve(product, held, 3, later, ctx)
    commands.inventory.reserve(product, sold, 2, later, ctx)
    commands.inventory.commit(product, sold, ctx)
    commands.inventory.adjust_stock(product, -1, "broken", ctx)
    commands.catalog.reprice_product(product, Money(2500, "EUR"), ctx, None)
    commands.catalog.update_seller_profile(seller, "Acme Ltd", "a@acme.test", ctx, None)

    projected = worker(env, view).catch_up()

    doc = view.product(product)
    assert projected == 10
    assert doc is not None
    assert (doc["title"], doc["price_minor"], doc["currency"]) == ("Lamp", 2500, "EUR")
    assert doc["seller_name"] == "Acme Ltd"
    assert doc["attributes"] == {"color": "red"}
    assert doc["units_available"] == 10 - 1 - 3 - 2
    assert view.positions() == {
        "catalog": commands.catalog.recorder.max_notification_id(),
        "inventory": commands.inventory.recorder.max_notification_id(),
    }


def test_an_emptied_view_is_rebuilt_from_the_log(
    env: dict[str, str], commands: Commands, view: RedisProductDetailView
) -> None:
    _, product = stocked_product(commands)
    projector = worker(env, view)
    projector.catch_up()
    before = view.product(product)
    view.clear()

    projector.verify()
    projector.catch_up()

    assert view.product(product) == before


def test_a_batch_over_a_moved_position_writes_nothing(
    env: dict[str, str], commands: Commands, view: RedisProductDetailView
) -> None:
    _, product = stocked_product(commands)
    projector = worker(env, view)
    projector.catch_up()
    view.client.hset(view.keys.positions, "catalog", 1)

    with pytest.raises(PositionMoved), view.unit_of_work() as unit:
        unit.update_product(product, {"title": "Changed"}, 99)
        unit.track("catalog", 2, 3)

    doc = view.product(product)
    assert doc is not None and doc["title"] == "Lamp"
