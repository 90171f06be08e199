"""Checkout claims on real PostgreSQL (log) and Redis (view and claims)."""

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
from projections.product_detail.availability import ProjectedAvailability
from projections.product_detail.projection import ProductDetailProjection
from projections.product_detail.redis_view import RedisProductDetailView
from projections.runtime import Worker

pytestmark = pytest.mark.postgres
LATER = timedelta(minutes=5)


@pytest.fixture
def view(redis_server: str) -> Iterator[RedisProductDetailView]:
    view = RedisProductDetailView(redis.Redis.from_url(redis_server), f"t{uuid.uuid4().hex[:8]}")
    yield view
    view.clear()


def project(env: dict[str, str], view: RedisProductDetailView) -> None:
    logs = [ContextLog(env, "catalog"), ContextLog(env, "inventory")]
    Worker(ProductDetailProjection(), view, logs, batch_size=50).catch_up()


def stocked(commands: Commands, units: int) -> tuple[uuid.UUID, Context]:
    seller, product = uuid.uuid4(), uuid.uuid4()
    ctx = Context(datetime.now(UTC), str(seller), "seller", "req", "corr", "cause")
    commands.catalog.register_seller(seller, "Acme", "a@acme.test", ctx)
    commands.catalog.list_product(product, seller, "Lamp", "", "home", {}, Money(999, "EUR"), ctx)
    commands.receive_stock(product, units, ctx)
    return product, ctx


def test_claims_refuse_what_other_checkouts_hold_and_settle_with_the_reservation(
    env: dict[str, str], commands: Commands, view: RedisProductDetailView
) -> None:
    product, ctx = stocked(commands, 2)
    project(env, view)
    claims = ProjectedAvailability(view)
    first, second, third, fourth = (uuid.uuid4() for _ in range(4))

    assert claims.claim(first, {product: 1}) == set()
    assert claims.claim(second, {product: 1}) == set()
    assert claims.claim(third, {product: 1}) == {product}
    assert claims.claim(first, {product: 1}) == set()  # a retry of an admitted checkout
    claims.release(second, [product])
    assert claims.claim(third, {product: 1}) == set()

    commands.inventory.reserve(product, first, 1, datetime.now(UTC) + LATER, ctx)
    project(env, view)
    assert view.product(product)["units_available"] == 1  # type: ignore[index]
    assert claims.claim(fourth, {product: 1}) == {product}  # third holds the last one
    claims.release(third, [product])
    assert claims.claim(fourth, {product: 1}) == set()  # first's claim was settled, not kept
    assert claims.claim(first, {product: 1}) == set()  # and first stays admitted


def test_a_claim_is_all_or_nothing_and_lapses(
    env: dict[str, str], commands: Commands, view: RedisProductDetailView
) -> None:
    plenty, _ = stocked(commands, 5)
    last, _ = stocked(commands, 1)
    project(env, view)
    claims = ProjectedAvailability(view)
    assert claims.claim(uuid.uuid4(), {last: 1}) == set()
    assert claims.claim(uuid.uuid4(), {plenty: 5, last: 1}) == {last}
    assert claims.claim(uuid.uuid4(), {plenty: 5}) == set()  # the refused order claimed nothing
    assert claims.claim(uuid.uuid4(), {plenty: 1}) == {plenty}

    lapsing = ProjectedAvailability(view, ttl_ms=0)
    assert lapsing.claim(uuid.uuid4(), {last: 1}) == {last}
    other, _ = stocked(commands, 1)
    project(env, view)
    assert lapsing.claim(uuid.uuid4(), {other: 1}) == set()
    assert lapsing.claim(uuid.uuid4(), {other: 1}) == set()  # the first claim lapsed at once


def test_a_product_without_projected_stock_is_never_refused(
    commands: Commands, view: RedisProductDetailView, env: dict[str, str]
) -> None:
    product, _ = stocked(commands, 1)
    claims = ProjectedAvailability(view)
    project(env, view)
    unknown = uuid.uuid4()  # not listed: the view does not show it
    assert claims.claim(uuid.uuid4(), {unknown: 3}) == set()
    assert claims.claim(uuid.uuid4(), {unknown: 3, product: 1}) == set()
    assert claims.claim(uuid.uuid4(), {product: 1}) == {product}


def test_a_product_shown_without_units_is_refused(
    commands: Commands, view: RedisProductDetailView, env: dict[str, str]
) -> None:
    product, ctx = stocked(commands, 1)
    unstocked = uuid.uuid4()
    commands.catalog.list_product(
        unstocked, uuid.UUID(ctx.actor), "Bare", "", "home", {}, Money(5, "EUR"), ctx
    )
    project(env, view)
    claims = ProjectedAvailability(view)
    assert claims.claim(uuid.uuid4(), {unstocked: 1}) == {unstocked}
    assert claims.claim(uuid.uuid4(), {product: 2}) == {product}
