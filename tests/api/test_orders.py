"""After checkout: the shopper cancels, each seller ships its part of a confirmed order and
records its delivery."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from domain.money import Money
from domain.order_lines import OrderStatus
from infra.auth import Role
from tests.api.conftest import Api, World, confirm_order, context
from tests.api.test_validation import assert_problem, assert_validation

pytestmark = pytest.mark.postgres


@pytest.fixture
def api(shared_api: Api) -> Api:
    """One app for the module: every test builds a world of its own."""
    return shared_api


async def cancel(
    api: Api, order: UUID, who: UUID, role: Role = "shopper", reason: Any = "changed my mind"
) -> httpx.Response:
    return await api.client.post(
        f"/v1/orders/{order}/cancellation", json={"reason": reason}, headers=api.auth(who, role)
    )


async def ship(
    api: Api, order: UUID, who: UUID, role: Role = "seller", **body: Any
) -> httpx.Response:
    return await api.client.post(
        f"/v1/orders/{order}/shipments", json=body, headers=api.auth(who, role)
    )


async def deliver(
    api: Api, order: UUID, who: UUID, role: Role = "seller", **body: Any
) -> httpx.Response:
    return await api.client.post(
        f"/v1/orders/{order}/deliveries", json=body, headers=api.auth(who, role)
    )


async def placed_order(api: Api, w: World) -> UUID:
    """Check out the world's cart over HTTP: a placed, unpaid order."""
    response = await api.client.post(
        f"/v1/carts/{w.cart}/checkout",
        json={"address_id": str(w.address)},
        headers=api.auth(w.shopper_a, "shopper", idempotency_key=f"order-{uuid4()}"),
    )
    assert response.status_code == 202, response.text
    return UUID(response.json()["order_id"])


async def two_seller_order(api: Api, w: World) -> tuple[UUID, UUID]:
    """A confirmed order with a line of seller A's and one of a new seller C's; (order, C)."""
    seller_c, other_product = uuid4(), uuid4()
    as_c, as_shopper = context(seller_c, "seller"), context(w.shopper_a, "shopper")
    commands = api.deps.commands
    commands.catalog.register_seller(seller_c, "Seller C", "c@sellers.example", as_c)
    commands.catalog.list_product(
        other_product, seller_c, "Gadget", "", "tools", {}, Money(300, "EUR"), as_c
    )
    commands.add_to_cart(w.cart, other_product, 1, as_shopper)
    order = await placed_order(api, w)
    confirm_order(api, order)
    return order, seller_c


def status_of(api: Api, order: UUID) -> OrderStatus:
    return api.deps.commands.orders.order(order).status


async def test_the_shopper_cancels_and_the_same_cancellation_again_changes_nothing(
    api: Api,
) -> None:
    w = World.build(api)
    order = await placed_order(api, w)

    first = await cancel(api, order, w.shopper_a)

    assert first.status_code == 200, first.text
    assert first.json()["status"] == "cancelled"
    assert first.headers["etag"] == '"1"'
    assert first.headers["x-log-position"] == f"orders:{api.positions()['orders']}"
    assert status_of(api, order) is OrderStatus.CANCELLED
    before = api.positions()

    again = await cancel(api, order, w.shopper_a)
    assert again.status_code == 200, again.text
    assert again.headers["etag"] == '"1"'
    assert "x-log-position" not in again.headers
    assert api.positions() == before

    other_reason = await cancel(api, order, w.shopper_a, reason="found it cheaper")
    assert assert_problem(other_reason, 409)["type"] == "urn:marketplace:problem:rule-violated"
    assert api.positions() == before


async def test_another_shopper_cannot_cancel_and_an_admin_can(api: Api) -> None:
    w = World.build(api)
    before = api.positions()
    refused = await cancel(api, w.order, w.shopper_b)
    assert assert_problem(refused, 403)["type"] == "urn:marketplace:problem:forbidden"
    assert api.positions() == before
    assert status_of(api, w.order) is OrderStatus.CONFIRMED

    done = await cancel(api, w.order, w.admin, "admin", reason="fraud check")
    assert done.status_code == 200, done.text
    assert status_of(api, w.order) is OrderStatus.CANCELLED


async def test_a_shipped_order_cannot_be_cancelled(api: Api) -> None:
    w = World.build(api)
    assert (await ship(api, w.order, w.seller_a)).status_code == 200
    before = api.positions()
    problem = assert_problem(await cancel(api, w.order, w.shopper_a), 409)
    assert "shipped" in problem["detail"]
    assert api.positions() == before


async def test_an_unknown_order_is_404(api: Api) -> None:
    w = World.build(api)
    for response in (
        await cancel(api, uuid4(), w.shopper_a),
        await ship(api, uuid4(), w.seller_a),
    ):
        assert assert_problem(response, 404)["type"] == "urn:marketplace:problem:not-found"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param({}, ("reason",), id="missing"),
        pytest.param({"reason": "   "}, ("reason",), id="blank"),
        pytest.param({"reason": "x" * 501}, ("reason",), id="too-long"),
        pytest.param({"reason": 5}, ("reason",), id="number"),
        pytest.param({"reason": "why", "refund": True}, ("refund",), id="unknown-field"),
    ],
)
async def test_an_invalid_cancellation_is_422(
    api: Api, body: dict[str, Any], loc: tuple[str, ...]
) -> None:
    w = World.build(api)
    before = api.positions()
    response = await api.client.post(
        f"/v1/orders/{w.order}/cancellation", json=body, headers=api.auth(w.shopper_a, "shopper")
    )
    assert_validation(response, "body", *loc)
    assert api.positions() == before


async def test_a_seller_ships_only_once_the_order_is_confirmed(api: Api) -> None:
    w = World.build(api)
    order = await placed_order(api, w)
    before = api.positions()
    early = await ship(api, order, w.seller_a)
    assert "placed" in assert_problem(early, 409)["detail"]
    assert api.positions() == before

    confirm_order(api, order)
    shipped = await ship(api, order, w.seller_a)

    assert shipped.status_code == 200, shipped.text
    assert shipped.headers["etag"] == '"5"'
    assert shipped.headers["x-log-position"] == f"orders:{api.positions()['orders']}"
    placed = api.deps.commands.orders.order(order)
    assert placed.status is OrderStatus.SHIPPED
    assert placed.captured == placed.total == Money(1000, "EUR")
    after = api.positions()
    again = await ship(api, order, w.seller_a)
    assert again.status_code == 200, again.text
    assert again.headers["etag"] == '"5"'
    assert "x-log-position" not in again.headers
    assert api.positions() == after


async def test_each_seller_ships_its_own_part(api: Api) -> None:
    w = World.build(api)
    order, seller_c = await two_seller_order(api, w)

    stranger = await ship(api, order, w.seller_b)
    assert "only a seller of the order" in assert_problem(stranger, 403)["detail"]
    assert (await ship(api, order, w.seller_a)).status_code == 200
    assert status_of(api, order) is OrderStatus.PARTIALLY_SHIPPED
    assert (await ship(api, order, seller_c)).status_code == 200
    assert status_of(api, order) is OrderStatus.SHIPPED


async def test_a_seller_cannot_ship_for_another_seller(api: Api) -> None:
    w = World.build(api)
    before = api.positions()
    response = await ship(api, w.order, w.seller_b, seller_id=str(w.seller_a))
    assert assert_problem(response, 403)["type"] == "urn:marketplace:problem:forbidden"
    assert api.positions() == before


async def test_an_admin_names_the_seller_of_an_order_with_several(api: Api) -> None:
    w = World.build(api)
    order, seller_c = await two_seller_order(api, w)
    before = api.positions()
    unnamed = await ship(api, order, w.admin, "admin")
    assert "name the seller_id" in assert_problem(unnamed, 409)["detail"]
    assert api.positions() == before

    named = await ship(api, order, w.admin, "admin", seller_id=str(seller_c))
    assert named.status_code == 200, named.text
    assert status_of(api, order) is OrderStatus.PARTIALLY_SHIPPED


async def test_an_admin_naming_no_seller_ships_the_only_sellers_part(api: Api) -> None:
    w = World.build(api)
    response = await ship(api, w.order, w.admin, "admin")
    assert response.status_code == 200, response.text
    assert status_of(api, w.order) is OrderStatus.SHIPPED


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param({"seller_id": "nope"}, ("seller_id",), id="not-a-uuid"),
        pytest.param({"carrier": "DHL"}, ("carrier",), id="unknown-field"),
    ],
)
async def test_an_invalid_shipment_is_422(
    api: Api, body: dict[str, Any], loc: tuple[str, ...]
) -> None:
    w = World.build(api)
    before = api.positions()
    assert_validation(await ship(api, w.order, w.seller_a, **body), "body", *loc)
    assert api.positions() == before


async def test_each_seller_records_the_delivery_of_its_shipped_part(api: Api) -> None:
    w = World.build(api)
    order, seller_c = await two_seller_order(api, w)
    before = api.positions()

    early = await deliver(api, order, w.seller_a)
    assert "not shipped" in assert_problem(early, 409)["detail"]
    stranger = await deliver(api, order, w.seller_b)
    assert "only a seller of the order" in assert_problem(stranger, 403)["detail"]
    assert api.positions() == before

    for seller in (w.seller_a, seller_c):
        assert (await ship(api, order, seller)).status_code == 200
    delivered = await deliver(api, order, w.seller_a)
    assert delivered.status_code == 200, delivered.text
    assert delivered.headers["x-log-position"] == f"orders:{api.positions()['orders']}"
    assert status_of(api, order) is OrderStatus.SHIPPED
    after = api.positions()
    again = await deliver(api, order, w.seller_a)
    assert again.status_code == 200, again.text
    assert again.headers["etag"] == delivered.headers["etag"]
    assert api.positions() == after

    by_admin = await deliver(api, order, w.admin, "admin", seller_id=str(seller_c))
    assert by_admin.status_code == 200, by_admin.text
    assert status_of(api, order) is OrderStatus.DELIVERED
