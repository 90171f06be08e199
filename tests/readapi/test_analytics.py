"""Marketplace-wide figures for analysts through the query API, from the live projections."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from domain.base import Context
from domain.cart import cart_id_for
from domain.money import Money
from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from marketplace.order_views import marketplace_figures_view
from projections.log import ContextLog
from projections.marketplace_figures.projection import MarketplaceFiguresProjection
from projections.runtime import Worker
from tests.readapi.test_orders import Desk, assert_problem, shop

pytestmark = pytest.mark.postgres

__all__ = ["shop"]
MORNING = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
LATE = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)
"""Still 1 March in UTC, already 2 March in Paris (UTC+1)."""
RANGE = {"from": "2025-02-28T00:00:00Z", "to": "2025-03-03T00:00:00Z"}
SELLER_EMAIL = "sales@acme.test"
ROUTES = ("/v1/analytics/gmv", "/v1/analytics/funnel", "/v1/analytics/top-products")


@pytest.fixture
def figures(shop: Desk, postgres_url: str) -> Iterator[Desk]:
    """The shop with the marketplace-figures projector too (catalog, carts and orders)."""
    env = eventsourcing_env(Settings(), postgres_url)
    projection = MarketplaceFiguresProjection()
    logs = [ContextLog(env, name) for name in projection.contexts]
    view = marketplace_figures_view(postgres_url)
    shop.workers.append(Worker(projection, view, logs))
    yield shop
    view.close()
    for log in logs:
        log.close()


def listed(shop: Desk, seller: uuid.UUID, category: str, price: int) -> uuid.UUID:
    """A product listed in category by a new seller; its id."""
    product = uuid.uuid4()
    ctx = Context(MORNING - timedelta(days=1), str(seller), "seller", "req", "corr", "cause")
    shop.reader.commands.catalog.register_seller(seller, "Acme", SELLER_EMAIL, ctx)
    shop.reader.commands.catalog.list_product(
        product, seller, "Thing", "d", category, {}, Money(price, "EUR"), ctx
    )
    return product


def sold(shop: Desk, seller: uuid.UUID, product: uuid.UUID, price: int, at: datetime) -> None:
    """One unit of product sold at price, confirmed at at."""
    desk = shop.desk
    desk.confirm(desk.place(uuid.uuid4(), [(seller, product, "Thing", price, 1)], at), at)


def analyst() -> tuple[uuid.UUID, Any]:
    return (uuid.uuid4(), "analyst")


def gmv_rows(response: httpx.Response, bucket: str = "day") -> set[tuple[Any, ...]]:
    assert response.status_code == 200, response.text
    return {
        (row[bucket], row["seller_id"], row["category"], row["units"], row["gmv"]["amount_minor"])
        for row in response.json()["rows"]
    }


async def test_gmv_per_local_day_seller_and_category_and_top_products(figures: Desk) -> None:
    shop, x, y, ann = figures, uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    lamp, mug = listed(shop, x, "home", 1500), listed(shop, y, "kitchen", 250)
    desk = shop.desk
    early = desk.place(ann, [(x, lamp, "Lamp", 1500, 1), (y, mug, "Mug", 250, 1)], MORNING)
    desk.confirm(early, MORNING)
    desk.ship(early, x, MORNING + timedelta(hours=1))
    desk.refund(early, 175)  # split 1500:250, so 150 off the lamp and 25 off the mug
    late = desk.place(ann, [(x, lamp, "Lamp", 1500, 2)], LATE)
    desk.confirm(late, LATE)
    shop.project()

    utc = await shop.get("/v1/analytics/gmv", analyst(), **RANGE)
    paris = await shop.get("/v1/analytics/gmv", analyst(), tz="Europe/Paris", **RANGE)
    top = await shop.get("/v1/analytics/top-products", analyst(), limit=5, **RANGE)

    assert gmv_rows(utc) == {
        ("2025-03-01", str(x), "home", 3, 4350),
        ("2025-03-01", str(y), "kitchen", 1, 225),
    }
    assert gmv_rows(paris) == {
        ("2025-03-01", str(x), "home", 1, 1350),
        ("2025-03-01", str(y), "kitchen", 1, 225),
        ("2025-03-02", str(x), "home", 2, 3000),
    }
    assert [(p["product_id"], p["gmv"]["amount_minor"]) for p in top.json()["products"]] == [
        (str(lamp), 4350),
        (str(mug), 225),
    ]
    assert str(ann) not in utc.text + paris.text + top.text
    assert SELLER_EMAIL not in utc.text + paris.text + top.text
    backwards = {"from": RANGE["to"], "to": RANGE["from"]}
    nothing = await shop.get("/v1/analytics/top-products", analyst(), **backwards)
    assert (nothing.status_code, nothing.json()["products"]) == (200, [])


@pytest.mark.parametrize(
    ("tz", "days", "hours"),
    [
        # 18:20 and 18:35 UTC are 23:50 and 00:05 in Kolkata (+05:30), 00:05 and 00:20 in
        # Kathmandu (+05:45): one UTC hour, two local days in the one, one in the other.
        (
            "Asia/Kolkata",
            {("2025-03-01", 100), ("2025-03-02", 20)},
            {("2025-03-01T23:00:00+05:30", 100), ("2025-03-02T00:00:00+05:30", 20)},
        ),
        ("Asia/Kathmandu", {("2025-03-02", 120)}, {("2025-03-02T00:00:00+05:45", 120)}),
        ("UTC", {("2025-03-01", 120)}, {("2025-03-01T18:00:00+00:00", 120)}),
    ],
)
async def test_half_and_quarter_hour_zones_bucket_each_sale_in_its_local_day_and_hour(
    figures: Desk, tz: str, days: set[tuple[str, int]], hours: set[tuple[str, int]]
) -> None:
    shop, seller = figures, uuid.uuid4()
    product = listed(shop, seller, "tea", 100)
    sold(shop, seller, product, 100, datetime(2025, 3, 1, 18, 20, tzinfo=UTC))
    sold(shop, seller, product, 20, datetime(2025, 3, 1, 18, 35, tzinfo=UTC))
    shop.project()

    by_day = await shop.get("/v1/analytics/gmv", analyst(), tz=tz, **RANGE)
    by_hour = await shop.get("/v1/analytics/gmv", analyst(), tz=tz, bucket="hour", **RANGE)

    assert {(day, gmv) for day, *_, gmv in gmv_rows(by_day)} == days
    assert {(hour, gmv) for hour, *_, gmv in gmv_rows(by_hour, "hour")} == hours


async def test_the_cart_funnel_per_local_day_and_hour(figures: Desk) -> None:
    shop, seller = figures, uuid.uuid4()
    commands = shop.reader.commands
    product = listed(shop, seller, "home", 500)
    stages = ("carts_created", "items_added", "checked_out", "confirmed", "abandoned")
    ann, bob, cid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def at(shopper: uuid.UUID, when: datetime) -> Context:
        return Context(when, str(shopper), "shopper", "req", "corr", "cause")

    for shopper in (ann, bob, cid):
        commands.carts.create_cart(shopper, at(shopper, MORNING))
    ann_cart, bob_cart = cart_id_for(ann), cart_id_for(bob)
    commands.add_to_cart(ann_cart, product, 2, at(ann, MORNING + timedelta(minutes=5)))
    commands.add_to_cart(bob_cart, product, 1, at(bob, LATE))
    commands.add_to_cart(ann_cart, product, 1, at(ann, LATE))
    commands.carts.clear(ann_cart, at(ann, LATE + timedelta(minutes=10)))
    order = shop.desk.place(ann, [(seller, product, "Thing", 500, 3)], LATE)
    shop.desk.confirm(order, LATE + timedelta(minutes=10))
    shop.project()

    utc = await shop.get("/v1/analytics/funnel", analyst(), **RANGE)
    paris = await shop.get("/v1/analytics/funnel", analyst(), tz="Europe/Paris", **RANGE)
    hours = await shop.get("/v1/analytics/funnel", analyst(), bucket="hour", **RANGE)

    assert utc.status_code == 200, utc.text
    assert [(row["day"], *(row[s] for s in stages)) for row in utc.json()["rows"]] == [
        ("2025-03-01", 3, 3, 1, 1, 1)  # bob's cart still holds a lamp: abandoned
    ]
    assert [(row["day"], *(row[s] for s in stages)) for row in paris.json()["rows"]] == [
        ("2025-03-01", 3, 1, 0, 0, 0),
        ("2025-03-02", 0, 2, 1, 1, 1),
    ]
    assert [(row["hour"], row["items_added"]) for row in hours.json()["rows"]] == [
        ("2025-03-01T10:00:00+00:00", 1),
        ("2025-03-01T23:00:00+00:00", 2),
    ]
    assert str(ann) not in utc.text + paris.text + hours.text


@pytest.mark.parametrize("path", ROUTES)
async def test_only_analysts_and_admins_read_the_figures(figures: Desk, path: str) -> None:
    figures.project()
    for role in ("analyst", "admin"):
        answer = await figures.get(path, (uuid.uuid4(), role), **RANGE)  # type: ignore[arg-type]
        assert answer.status_code == 200, answer.text
    for role in ("seller", "shopper", "auditor"):
        assert_problem(await figures.get(path, (uuid.uuid4(), role), **RANGE), 403)  # type: ignore[arg-type]
    assert_problem(await figures.get(path, None, **RANGE), 401)


@pytest.mark.parametrize("path", ROUTES[:2])
@pytest.mark.parametrize(
    "bad", [{"tz": "Mars/Olympus"}, {"tz": "asia/kolkata"}, {"bucket": "week"}, {"from": "soon"}]
)
async def test_an_unknown_zone_or_bucket_is_a_422_problem(
    figures: Desk, path: str, bad: dict[str, str]
) -> None:
    figures.project()
    answer = await figures.get(path, analyst(), **(RANGE | bad))
    assert_problem(answer, 422)
