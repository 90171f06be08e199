"""Checkout: a cart becomes one order per Idempotency-Key, and the cart is emptied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from domain.cart import Cart
from domain.money import Money
from domain.order import order_id_for
from infra.auth import Role
from tests.api.conftest import (
    CHECKOUT_EXPIRY_SECONDS,
    READ_API_URL,
    Api,
    World,
    address_body,
    context,
)
from tests.api.test_validation import assert_problem, assert_validation

pytestmark = pytest.mark.postgres


@pytest.fixture
def api(shared_api: Api) -> Api:
    """One app for the module: every test builds a world of its own."""
    return shared_api


async def checkout(
    api: Api,
    w: World,
    key: str | None,
    *,
    body: Any = None,
    caller: UUID | None = None,
    role: Role = "shopper",
    cart: UUID | None = None,
    if_match: str | None = None,
) -> httpx.Response:
    headers = api.auth(caller or w.shopper_a, role)
    if if_match is not None:
        headers["If-Match"] = if_match
    if key is not None:
        headers["Idempotency-Key"] = key
    return await api.client.post(
        f"/v1/carts/{cart or w.cart}/checkout",
        json={"address_id": str(w.address)} if body is None else body,
        headers=headers,
    )


def cart_lines(api: Api, w: World) -> dict[UUID, int]:
    return dict(api.deps.commands.carts.load(w.cart, Cart).lines)


async def test_checkout_places_the_order_empties_the_cart_and_replays(api: Api) -> None:
    w = World.build(api)
    before = api.positions()

    response = await checkout(api, w, "first")

    assert response.status_code == 202, response.text
    body = response.json()
    order_id = UUID(body["order_id"])
    assert order_id == order_id_for(w.shopper_a, "first")
    assert body["status"] == "placed"
    assert body["id"] == body["order_id"]
    assert response.headers["location"] == f"{READ_API_URL}/v1/me/orders/{order_id}"
    assert response.headers["etag"] == '"0"'
    assert response.headers["x-log-position"] == f"orders:{api.positions()['orders']}"
    assert api.positions()["orders"] == before["orders"] + 1
    assert api.positions()["carts"] == before["carts"] + 1
    order = api.deps.commands.orders.order(order_id)
    assert order.customer_id == w.shopper_a
    lines = [(x.product_id, x.seller_id, x.unit_price, x.quantity) for x in order.lines]
    assert lines == [(w.product, w.seller_a, Money(500, "EUR"), 2)]
    assert order.ship_to == {"name": "Shopper A", "line2": "", **address_body()}
    expiry = order.expires_at - datetime.now(UTC)
    assert timedelta(seconds=CHECKOUT_EXPIRY_SECONDS - 60) < expiry
    assert expiry <= timedelta(seconds=CHECKOUT_EXPIRY_SECONDS)
    assert cart_lines(api, w) == {}

    after = api.positions()
    replay = await checkout(api, w, "first")
    assert replay.status_code == 202
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == body
    assert replay.headers["location"] == response.headers["location"]
    assert api.positions() == after

    again = await checkout(api, w, "second")
    problem = assert_problem(again, 409)
    assert problem["type"] == "urn:marketplace:problem:rule-violated"
    assert "empty" in problem["detail"]
    assert api.positions() == after


async def test_checkout_with_if_match_holds_the_cart_the_shopper_saw(api: Api) -> None:
    w = World.build(api)
    current = api.deps.commands.carts.load(w.cart, Cart).version
    before = api.positions()

    stale = await checkout(api, w, "seen", if_match=f'"{current - 1}"')
    problem = assert_problem(stale, 412)
    assert problem["type"] == "urn:marketplace:problem:stale-version"
    assert f"expected version {current - 1}, aggregate is at version {current}" in problem["detail"]
    assert api.positions() == before

    placed = await checkout(api, w, "seen-now", if_match=f'"{current}"')
    assert placed.status_code == 202, placed.text
    again = await checkout(api, w, "seen-now", if_match=f'"{current}"')
    assert again.status_code == 202, again.text
    assert again.json()["order_id"] == placed.json()["order_id"]
    assert api.deps.commands.carts.load(w.cart, Cart).version == current + 1


async def test_a_retry_the_key_store_forgot_finds_the_same_order(api: Api) -> None:
    w = World.build(api)
    first = await checkout(api, w, "forgotten")
    assert first.status_code == 202, first.text
    api.sql("DELETE FROM idempotency_keys WHERE principal = %s", (str(w.shopper_a),))
    before = api.positions()

    retry = await checkout(api, w, "forgotten")

    assert retry.status_code == 202, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert retry.json()["order_id"] == first.json()["order_id"]
    assert retry.json()["status"] == "placed"
    assert "x-log-position" not in retry.headers
    assert api.positions() == before


async def test_an_admin_checks_out_a_shoppers_cart(api: Api) -> None:
    w = World.build(api)
    response = await checkout(api, w, "for-them", caller=w.admin, role="admin")
    assert response.status_code == 202, response.text
    order_id = UUID(response.json()["order_id"])
    assert order_id == order_id_for(w.shopper_a, "for-them")
    assert api.deps.commands.orders.order(order_id).customer_id == w.shopper_a
    assert cart_lines(api, w) == {}


async def test_without_an_idempotency_key_checkout_is_400(api: Api) -> None:
    w = World.build(api)
    before = api.positions()
    response = await checkout(api, w, None)
    problem = assert_problem(response, 400)
    assert problem["type"] == "urn:marketplace:problem:idempotency-key-required"
    assert api.positions() == before
    assert cart_lines(api, w) == {w.product: 2}


async def test_a_malformed_idempotency_key_is_422(api: Api) -> None:
    w = World.build(api)
    before = api.positions()
    problem = assert_problem(await checkout(api, w, "has space"), 422)
    assert problem["type"] == "urn:marketplace:problem:bad-idempotency-key"
    assert api.positions() == before


async def test_an_unknown_address_is_404_and_keeps_the_cart(api: Api) -> None:
    w = World.build(api)
    before = api.positions()
    response = await checkout(api, w, "nowhere", body={"address_id": str(uuid4())})
    problem = assert_problem(response, 404)
    assert problem["type"] == "urn:marketplace:problem:not-found"
    assert "address" in problem["detail"]
    assert api.positions() == before
    assert cart_lines(api, w) == {w.product: 2}


async def test_a_product_delisted_since_it_was_added_refuses_checkout(api: Api) -> None:
    w = World.build(api)
    api.deps.commands.catalog.delist_product(
        w.product, "recalled", context(w.seller_a, "seller"), None
    )
    before = api.positions()
    response = await checkout(api, w, "delisted")
    problem = assert_problem(response, 409)
    assert problem["type"] == "urn:marketplace:problem:rule-violated"
    assert "no longer on sale" in problem["detail"]
    assert api.positions() == before
    assert cart_lines(api, w) == {w.product: 2}


async def test_another_shoppers_cart_is_403_and_an_unknown_cart_404(api: Api) -> None:
    w = World.build(api)
    before = api.positions()
    other = await checkout(api, w, "theirs", caller=w.shopper_b)
    assert assert_problem(other, 403)["type"] == "urn:marketplace:problem:forbidden"
    unknown = await checkout(api, w, "unknown", cart=uuid4())
    assert assert_problem(unknown, 404)["type"] == "urn:marketplace:problem:not-found"
    assert api.positions() == before
    assert cart_lines(api, w) == {w.product: 2}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param({}, ("address_id",), id="missing"),
        pytest.param({"address_id": "not-a-uuid"}, ("address_id",), id="not-a-uuid"),
        pytest.param({"address_id": 7}, ("address_id",), id="number"),
        pytest.param({"address_id": None}, ("address_id",), id="null"),
        pytest.param(
            {"address_id": str(uuid4()), "coupon": "FREE"}, ("coupon",), id="unknown-field"
        ),
    ],
)
async def test_an_invalid_checkout_body_is_422(
    api: Api, body: dict[str, Any], loc: tuple[str, ...]
) -> None:
    w = World.build(api)
    before = api.positions()
    assert_validation(await checkout(api, w, f"bad-{uuid4()}", body=body), "body", *loc)
    assert api.positions() == before
