"""A Redis view rebuilt from empty under reads: the old answer or a 503, never a wrong one.

Every key of the views is deleted (data, positions and pointers), then a projector rebuilds
them batch by batch (two events a batch, so the catalog log runs ahead of the inventory log).
Between any two batches, each product and cart answers exactly as before the loss, or 503
view-incomplete with Retry-After: never a 404, never stock short of what it was, and the
checkout's sold-out check never calls a stocked product sold out.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from domain.base import Context
from domain.money import Money
from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from marketplace import redis_views
from marketplace.status import lag_of, lag_table
from projections.carts.projection import CartProjection
from projections.log import ContextLog
from projections.product_detail.availability import ProjectedAvailability
from projections.product_detail.projection import ProductDetailProjection
from projections.runtime import Worker
from projections.stores.redis.unit import delete_matching
from tests.readapi.conftest import Reader, as_seller
from tests.support.boundaries import PausingView, at_each_boundary

pytestmark = pytest.mark.postgres

INCOMPLETE = "urn:marketplace:problem:view-incomplete"
BATCH = 2


@dataclass
class Catalogue:
    """Products with stock (and one never stocked: truly sold out), and a shopper's cart."""

    reader: Reader
    stocked: list[uuid.UUID] = field(default_factory=list)
    sold_out: uuid.UUID = field(default_factory=uuid.uuid4)
    shopper: uuid.UUID = field(default_factory=uuid.uuid4)
    cart: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def products(self) -> list[uuid.UUID]:
        return [*self.stocked, self.sold_out]

    async def answers(self) -> dict[str, httpx.Response]:
        """What the query API answers for each product and for the cart."""
        client = self.reader.client
        found = {str(p): await client.get(f"/v1/products/{p}") for p in self.products}
        auth = self.reader.auth(self.shopper, "shopper")
        found["cart"] = await client.get(f"/v1/carts/{self.cart}", headers=auth)
        return found


def fill(reader: Reader, products: int) -> Catalogue:
    """A catalogue of stocked products, one never stocked, and a cart holding two of them."""
    seller = uuid.uuid4()
    ctx = as_seller(seller)
    catalog = reader.commands.catalog
    catalog.register_seller(seller, "Acme", "a@acme.test", ctx)
    shop = Catalogue(reader)
    for n in range(products + 1):
        product = uuid.uuid4()
        price = Money(1000 + n, "EUR")
        catalog.list_product(product, seller, f"Lamp {n}", "", "home", {}, price, ctx)
        if n < products:
            reader.commands.receive_stock(product, 100 + n, ctx)
            shop.stocked.append(product)
        else:
            shop.sold_out = product
    as_shopper = Context(datetime.now(UTC), str(shop.shopper), "shopper", "req", "corr", "x")
    outcome, _ = reader.commands.carts.create_cart(shop.shopper, as_shopper)
    shop.cart = outcome.aggregate_id
    for product in shop.stocked[:2]:
        reader.commands.add_to_cart(shop.cart, product, 1, as_shopper)
    return shop


@dataclass
class Projectors:
    """The product-detail and carts projectors as `marketplace project` runs them."""

    settings: Settings
    logs: list[ContextLog] = field(default_factory=list)

    def worker(self, projection: Any, view: Any, batch_size: int = 1000) -> Worker[Any]:
        env = eventsourcing_env(Settings(), self.settings.postgres.url)
        logs = [ContextLog(env, name) for name in projection.contexts]
        self.logs += logs
        return Worker(projection, view, logs, batch_size=batch_size)

    def close(self) -> None:
        for context_log in self.logs:
            context_log.close()


@pytest.fixture
def projectors(reader: Reader) -> Iterator[Projectors]:
    built = Projectors(reader.settings)
    yield built
    built.close()


def lose_every_key(reader: Reader) -> int:
    """Delete every key of every view under the prefix, pointers included; how many."""
    client = reader.deps.product_detail.view.client
    return delete_matching(client, f"{reader.settings.redis.prefix}:*")


def assert_incomplete(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "2"
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["type"] == INCOMPLETE


def refused(availability: ProjectedAvailability, products: list[uuid.UUID]) -> set[uuid.UUID]:
    """The products a checkout of one unit each would be refused, claiming nothing for long."""
    order = uuid.uuid4()
    gone = availability.claim(order, dict.fromkeys(products, 1))
    availability.release(order, products)
    return gone


async def test_a_view_rebuilt_from_nothing_answers_as_before_or_503_at_every_batch(
    reader: Reader, projectors: Projectors
) -> None:
    shop = fill(reader, products=5)
    settings = reader.settings
    detail = redis_views.product_detail_view(settings, settings.redis.url)
    carts = redis_views.cart_view(settings, settings.redis.url)
    projectors.worker(ProductDetailProjection(), detail).catch_up()
    projectors.worker(CartProjection(), carts).catch_up()
    before = {key: (r.status_code, r.content) for key, r in (await shop.answers()).items()}
    availability = ProjectedAvailability(reader.deps.product_detail.view)
    assert {key: status for key, (status, _) in before.items()} == dict.fromkeys(before, 200)
    assert refused(availability, shop.products) == {shop.sold_out}

    assert lose_every_key(reader) > 0
    for response in (await shop.answers()).values():
        assert_incomplete(response)
    assert refused(availability, shop.products) == set()

    pausing = PausingView(detail)
    rebuilding = projectors.worker(ProductDetailProjection(), pausing, batch_size=BATCH)
    seen: list[tuple[int, ...]] = []

    async def look() -> None:
        answers = await shop.answers()
        for key, response in answers.items():
            if response.status_code != 503:
                assert (response.status_code, response.content) == before[key], key
            else:
                assert_incomplete(response)
        gone = refused(availability, shop.products)
        assert gone <= {shop.sold_out}
        seen.append(tuple(response.status_code for response in answers.values()))

    batches = await at_each_boundary(rebuilding, pausing, look)
    carts_again = PausingView(carts)
    worker = projectors.worker(CartProjection(), carts_again, batch_size=BATCH)
    batches += await at_each_boundary(worker, carts_again, look)

    after = {key: (r.status_code, r.content) for key, r in (await shop.answers()).items()}
    assert after == before
    assert refused(availability, shop.products) == {shop.sold_out}
    assert batches == len(seen) >= 6
    assert all(status == 503 for status in seen[0])


async def test_readiness_shows_each_view_complete_or_not_and_the_target_left(
    reader: Reader, projectors: Projectors
) -> None:
    fill(reader, products=2)
    settings = reader.settings
    detail = redis_views.product_detail_view(settings, settings.redis.url)
    pausing = PausingView(detail)
    worker = projectors.worker(ProductDetailProjection(), pausing, batch_size=BATCH)
    states: list[dict[str, Any]] = []

    async def look() -> None:
        ready = await reader.client.get("/health/ready")
        assert ready.status_code == 200
        states.append(ready.json()["completeness"]["product-detail"])

    before = lag_table(lag_of(worker))
    await at_each_boundary(worker, pausing, look)
    heads = {log.log_name: log.head() for log in worker.logs}
    after = lag_of(worker)

    assert states[0] == {
        "complete": False,
        "positions": {"catalog": BATCH, "inventory": 0},
        "target": heads,
    }
    assert states[-1] == {"complete": True}
    ready = (await reader.client.get("/health/ready")).json()
    assert ready["views"]["product-detail"] == heads
    assert ready["completeness"]["carts"]["complete"] is False
    assert before.splitlines()[0].split()[-1] == "complete"
    assert [line.split()[-1] for line in before.splitlines()[1:]] == ["no", "no"]
    assert [(row.complete, row.target) for row in after] == [(True, None), (True, None)]
    assert [line.split()[-1] for line in lag_table(after).splitlines()[1:]] == ["yes", "yes"]
