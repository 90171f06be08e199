"""ETag is the aggregate version, If-Match refuses lost updates, X-Log-Position grows."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from commands.base import ContextApplication
from commands.catalog import product_image_id
from domain.cart import Cart
from domain.customer import Customer
from domain.inventory import StockItem, stock_item_id
from domain.order import Order
from domain.product import Product
from domain.seller import Seller
from infra.auth import Role
from tests.api.conftest import (
    READ_API_URL,
    Api,
    World,
    address_body,
    api_routes,
    context,
    mutating_operations,
    product_body,
    seller_body,
    ship_from_body,
)
from tests.api.test_validation import assert_problem

pytestmark = pytest.mark.postgres

POSITION = re.compile(r"^(?P<log>[a-z]+):(?P<position>[0-9]+)$")
DETAILS = {k: v for k, v in product_body().items() if k != "price"}


def position_of(response: httpx.Response) -> tuple[str, int]:
    match = POSITION.match(response.headers["x-log-position"])
    assert match, response.headers["x-log-position"]
    return match["log"], int(match["position"])


async def test_etag_and_log_position_follow_each_write(api: Api) -> None:
    seller = uuid4()
    catalog = api.deps.commands.catalog
    registered = await api.register_seller(seller)
    assert registered.headers["etag"] == '"0"'
    assert registered.headers["location"] == f"{READ_API_URL}/v1/sellers/{seller}"
    listed = await api.client.post(
        "/v1/products", json=product_body(), headers=api.auth(seller, "seller")
    )
    product = UUID(listed.json()["id"])
    headers = api.auth(seller, "seller")
    writes = [registered, listed]
    for version, price in enumerate((2100, 2200, 2300), start=1):
        response = await api.client.put(
            f"/v1/products/{product}/price",
            json={"amount_minor": price, "currency": "EUR"},
            headers={**headers, "If-Match": f'"{version - 1}"'},
        )
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == f'"{version}"'
        assert response.json()["version"] == version
        assert catalog.load(product, Product).version == version
        writes.append(response)

    positions = [position_of(w) for w in writes]
    assert {log for log, _ in positions} == {"catalog"}
    numbers = [p for _, p in positions]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert numbers[-1] == api.position(catalog)
    for write in writes:
        body = write.json()
        assert write.headers["x-log-position"] == f"{body['log']}:{body['position']}"
        assert write.headers["etag"] == f'"{body["version"]}"'


async def test_each_context_reports_its_own_log(api: Api) -> None:
    seller, shopper = uuid4(), uuid4()
    await api.register_seller(seller)
    product = await api.list_product(seller)
    stocked = await api.receive(seller, product, 3)
    cart = await api.client.post("/v1/carts", headers=api.auth(shopper, "shopper"))
    customer = await api.client.post(
        "/v1/customers", json=seller_body(), headers=api.auth(shopper, "shopper")
    )
    assert position_of(stocked) == ("inventory", api.position(api.deps.commands.inventory))
    assert position_of(cart) == ("carts", api.position(api.deps.commands.carts))
    assert position_of(customer) == ("customers", api.position(api.deps.commands.customers))
    assert stocked.headers["etag"] == '"1"'


async def test_existing_cart_answers_200_with_its_version_and_no_position(api: Api) -> None:
    shopper = uuid4()
    headers = api.auth(shopper, "shopper")
    created = await api.client.post("/v1/carts", headers=headers)
    again = await api.client.post("/v1/carts", headers=headers)
    assert (created.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == created.json()["id"]
    assert again.headers["etag"] == created.headers["etag"] == '"0"'
    assert "x-log-position" not in again.headers


@pytest.fixture
def shared(shared_api: Api) -> Api:
    return shared_api


@pytest.mark.parametrize("value", ['"0"', "*", ' "0" '])
async def test_current_if_match_succeeds(shared: Api, value: str) -> None:
    api = shared
    seller = uuid4()
    await api.register_seller(seller)
    response = await api.client.patch(
        f"/v1/sellers/{seller}",
        json=seller_body(name="Renamed"),
        headers=api.auth(seller, "seller", if_match=value),
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"1"'
    assert api.deps.commands.catalog.load(seller, Seller).name == "Renamed"


async def test_a_weak_etag_never_matches(shared: Api) -> None:
    api = shared
    seller = uuid4()
    await api.register_seller(seller)
    before = api.positions()
    response = await api.client.patch(
        f"/v1/sellers/{seller}",
        json=seller_body(name="Renamed"),
        headers=api.auth(seller, "seller", if_match='W/"0"'),
    )
    assert assert_problem(response, 412)["type"] == "urn:marketplace:problem:stale-version"
    assert api.positions() == before


@pytest.mark.parametrize("value", ["0", '"abc"', '"-1"', '"0", "1"', '"0', "W/0", '"1e3"', ""])
async def test_malformed_if_match_matches_no_version(shared: Api, value: str) -> None:
    api = shared
    seller = uuid4()
    await api.register_seller(seller)
    before = api.positions()
    response = await api.client.patch(
        f"/v1/sellers/{seller}",
        json=seller_body(name="Renamed"),
        headers=api.auth(seller, "seller", if_match=value),
    )
    problem = assert_problem(response, 412)
    assert problem["type"] == "urn:marketplace:problem:bad-if-match"
    assert api.positions() == before


@dataclass(frozen=True)
class Versioned:
    """A route that honours If-Match, the aggregate it changes, and who may call it."""

    method: str
    path: Callable[[World], str]
    body: Callable[[World], Any]
    role: Role
    actor: Callable[[World], UUID]
    application: Callable[[Api], ContextApplication]
    aggregate: Callable[[World], UUID]
    kind: type
    events: int = 1
    prepare: Callable[[Api, World], object] | None = None
    """What must happen to the world's aggregate before the route applies."""


def _seller(w: World) -> UUID:
    return w.seller_a


def _shopper(w: World) -> UUID:
    return w.shopper_a


def _catalog(a: Api) -> ContextApplication:
    return a.deps.commands.catalog


def _carts(a: Api) -> ContextApplication:
    return a.deps.commands.carts


def _orders(a: Api) -> ContextApplication:
    return a.deps.commands.orders


IMAGE_HASHES = ("ab" * 32, "cd" * 32)


def _image(w: World, n: int = 0) -> UUID:
    return product_image_id(w.product, IMAGE_HASHES[n])


def _add_images(a: Api, w: World) -> None:
    """Two images on the world's product, so that an order can change."""
    for content_hash in IMAGE_HASHES:
        original = (content_hash, "image/png", 32, 24, 100)
        key = f"originals/{w.product}/{content_hash}"
        a.deps.commands.catalog.add_product_image(
            w.product, key, original, 10, context(w.seller_a, "seller")
        )


VERSIONED = {
    "update-seller": Versioned(
        "PATCH",
        lambda w: f"/v1/sellers/{w.seller_a}",
        lambda w: seller_body(),
        "seller",
        _seller,
        _catalog,
        _seller,
        Seller,
    ),
    "set-seller-address": Versioned(
        "PUT",
        lambda w: f"/v1/sellers/{w.seller_a}/address",
        lambda w: ship_from_body(),
        "seller",
        _seller,
        _catalog,
        _seller,
        Seller,
    ),
    "update-product": Versioned(
        "PATCH",
        lambda w: f"/v1/products/{w.product}",
        lambda w: DETAILS,
        "seller",
        _seller,
        _catalog,
        lambda w: w.product,
        Product,
    ),
    "reprice": Versioned(
        "PUT",
        lambda w: f"/v1/products/{w.product}/price",
        lambda w: {"amount_minor": 1, "currency": "EUR"},
        "seller",
        _seller,
        _catalog,
        lambda w: w.product,
        Product,
    ),
    "delist": Versioned(
        "POST",
        lambda w: f"/v1/products/{w.product}/delisting",
        lambda w: {"reason": "old"},
        "seller",
        _seller,
        _catalog,
        lambda w: w.product,
        Product,
    ),
    "reorder-images": Versioned(
        "PUT",
        lambda w: f"/v1/products/{w.product}/image-order",
        lambda w: {"image_ids": [str(_image(w, 1)), str(_image(w, 0))]},
        "seller",
        _seller,
        _catalog,
        lambda w: w.product,
        Product,
        prepare=_add_images,
    ),
    "remove-image": Versioned(
        "DELETE",
        lambda w: f"/v1/products/{w.product}/images/{_image(w)}",
        lambda w: None,
        "seller",
        _seller,
        _catalog,
        lambda w: w.product,
        Product,
        prepare=_add_images,
    ),
    "adjust-stock": Versioned(
        "POST",
        lambda w: f"/v1/products/{w.product}/stock/adjustments",
        lambda w: {"delta": -1, "reason": "count"},
        "seller",
        _seller,
        lambda a: a.deps.commands.inventory,
        lambda w: stock_item_id(w.product),
        StockItem,
    ),
    "purchase-limit": Versioned(
        "PUT",
        lambda w: f"/v1/products/{w.product}/stock/purchase-limit",
        lambda w: {"limit": 3},
        "seller",
        _seller,
        lambda a: a.deps.commands.inventory,
        lambda w: stock_item_id(w.product),
        StockItem,
    ),
    "add-address": Versioned(
        "POST",
        lambda w: f"/v1/customers/{w.shopper_a}/addresses/{uuid4()}",
        lambda w: address_body(),
        "shopper",
        _shopper,
        lambda a: a.deps.commands.customers,
        _shopper,
        Customer,
    ),
    "add-item": Versioned(
        "POST",
        lambda w: f"/v1/carts/{w.cart}/items",
        lambda w: {"product_id": str(w.product), "quantity": 1},
        "shopper",
        _shopper,
        _carts,
        lambda w: w.cart,
        Cart,
    ),
    "change-quantity": Versioned(
        "PUT",
        lambda w: f"/v1/carts/{w.cart}/items/{w.product}",
        lambda w: {"quantity": 5},
        "shopper",
        _shopper,
        _carts,
        lambda w: w.cart,
        Cart,
    ),
    "remove-item": Versioned(
        "DELETE",
        lambda w: f"/v1/carts/{w.cart}/items/{w.product}",
        lambda w: None,
        "shopper",
        _shopper,
        _carts,
        lambda w: w.cart,
        Cart,
    ),
    "clear-cart": Versioned(
        "DELETE",
        lambda w: f"/v1/carts/{w.cart}/items",
        lambda w: None,
        "shopper",
        _shopper,
        _carts,
        lambda w: w.cart,
        Cart,
    ),
    "cancel-order": Versioned(
        "POST",
        lambda w: f"/v1/orders/{w.order}/cancellation",
        lambda w: {"reason": "changed my mind"},
        "shopper",
        _shopper,
        _orders,
        lambda w: w.order,
        Order,
    ),
    "ship-order": Versioned(
        "POST",
        lambda w: f"/v1/orders/{w.order}/shipments",
        lambda w: {},
        "seller",
        _seller,
        _orders,
        lambda w: w.order,
        Order,
        events=2,
    ),
    "deliver-order": Versioned(
        "POST",
        lambda w: f"/v1/orders/{w.order}/deliveries",
        lambda w: {},
        "seller",
        _seller,
        _orders,
        lambda w: w.order,
        Order,
        prepare=lambda a, w: a.deps.commands.orders.advance_part(
            w.order, w.seller_a, Order.ship, context(w.seller_a, "seller")
        ),
    ),
}


@pytest.mark.parametrize("route", VERSIONED.values(), ids=VERSIONED.keys())
async def test_stale_if_match_is_412_and_current_one_succeeds(
    shared: Api, route: Versioned
) -> None:
    api = shared
    world = World.build(api)
    if route.prepare is not None:
        route.prepare(api, world)
    application = route.application(api)
    aggregate = route.aggregate(world)
    current = application.load(aggregate, route.kind).version
    before = api.positions()

    async def send(if_match: str) -> httpx.Response:
        return await api.client.request(
            route.method,
            route.path(world),
            json=route.body(world),
            headers=api.auth(route.actor(world), route.role, if_match=if_match),
        )

    stales = {current + 1, current + 7} | ({current - 1} if current else set())
    for stale in sorted(stales):
        problem = assert_problem(await send(f'"{stale}"'), 412)
        assert problem["type"] == "urn:marketplace:problem:stale-version"
        assert f"expected version {stale}" in problem["detail"]
    assert api.positions() == before

    response = await send(f'"{current}"')
    assert response.status_code in (200, 201), response.text
    assert response.headers["etag"] == f'"{current + route.events}"'
    assert application.load(aggregate, route.kind).version == current + route.events
    log, position = position_of(response)
    assert log == application.log_name
    assert position == before[log] + route.events


IF_MATCH_READERS = ("expected_version(", "call.update(")
"""What a route that honours If-Match calls: the version itself, or Call.update."""


TESTED_ELSEWHERE = {("POST", "/v1/carts/{cart_id}/checkout")}
"""Checkout's If-Match names the cart's version, not the order's it answers with: see
tests/api/test_checkout.py::test_checkout_with_if_match_holds_the_cart_the_shopper_saw."""


def test_every_if_match_route_is_covered(shared: Api) -> None:
    honours = {
        (method, route.path)
        for route in api_routes(shared.app.routes)
        if any(mark in inspect.getsource(route.endpoint) for mark in IF_MATCH_READERS)
        for method in route.methods
    }
    assert honours >= TESTED_ELSEWHERE
    assert len(honours - TESTED_ELSEWHERE) == len(VERSIONED), sorted(honours)
    assert honours <= mutating_operations(shared.app)


async def test_a_stock_answer_names_the_stock_item_and_its_product(api: Api) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    product = await api.list_product(seller)
    body = (await api.receive(seller, product, 3)).json()
    assert body["stock_item_id"] == str(stock_item_id(product))
    assert body["product_id"] == str(product)
    assert "id" not in body
