"""Domain refusals reach the client as problem+json with the right status, and write nothing."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from tests.api.conftest import Api, product_body, seller_body
from tests.api.test_validation import assert_problem

pytestmark = pytest.mark.postgres


@pytest.fixture
def api(shared_api: Api) -> Api:
    return shared_api


async def stocked_product(api: Api) -> tuple[UUID, UUID]:
    seller = uuid4()
    await api.register_seller(seller)
    product = await api.list_product(seller)
    await api.receive(seller, product, 10)
    return seller, product


async def test_duplicate_registration_is_409_without_store_internals(api: Api) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    before = api.positions()
    response = await api.client.post(
        "/v1/sellers", json=seller_body(), headers=api.auth(seller, "seller")
    )
    problem = assert_problem(response, 409)
    assert problem["type"] == "urn:marketplace:problem:conflict"
    for leak in ("constraint", "DETAIL", "events", "pkey", str(seller)):
        assert leak not in problem["detail"]
    assert api.positions() == before


async def test_duplicate_registration_replayed_by_key_is_also_clean(api: Api) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    headers = api.auth(seller, "seller", idempotency_key="again")
    first = await api.client.post("/v1/sellers", json=seller_body(), headers=headers)
    replay = await api.client.post("/v1/sellers", json=seller_body(), headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    for response in (first, replay):
        problem = assert_problem(response, 409)
        assert "constraint" not in problem["detail"]


async def test_suspended_seller_can_neither_list_nor_restock(api: Api) -> None:
    seller, product = await stocked_product(api)
    suspended = await api.client.post(
        f"/v1/sellers/{seller}/suspension",
        json={"reason": "chargebacks"},
        headers=api.auth(uuid4(), "admin"),
    )
    assert suspended.status_code == 200, suspended.text
    before = api.positions()

    listing = await api.client.post(
        "/v1/products", json=product_body(), headers=api.auth(seller, "seller")
    )
    restock = await api.client.post(
        f"/v1/products/{product}/stock/receipts",
        json={"quantity": 5},
        headers=api.auth(seller, "seller"),
    )

    for response in (listing, restock):
        problem = assert_problem(response, 409)
        assert problem["type"] == "urn:marketplace:problem:rule-violated"
        assert "suspended" in problem["detail"]
    assert api.positions() == before


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PUT", "/price", {"amount_minor": 5, "currency": "EUR"}),
        ("POST", "/stock/receipts", {"quantity": 1}),
        ("POST", "/stock/adjustments", {"delta": 1, "reason": "found"}),
        ("POST", "/delisting", {}),
    ],
)
async def test_unknown_product_is_404(api: Api, method: str, suffix: str, body: dict) -> None:
    response = await api.client.request(
        method, f"/v1/products/{uuid4()}{suffix}", json=body, headers=api.auth(uuid4(), "seller")
    )
    problem = assert_problem(response, 404)
    assert problem["type"] == "urn:marketplace:problem:not-found"


async def test_zero_adjustment_is_a_domain_422(api: Api) -> None:
    seller, product = await stocked_product(api)
    response = await api.client.post(
        f"/v1/products/{product}/stock/adjustments",
        json={"delta": 0, "reason": "nothing"},
        headers=api.auth(seller, "seller"),
    )
    problem = assert_problem(response, 422)
    assert problem["type"] == "urn:marketplace:problem:invalid-value"


async def test_delisted_product_cannot_be_added_to_a_cart(api: Api) -> None:
    seller, product = await stocked_product(api)
    delisted = await api.client.post(
        f"/v1/products/{product}/delisting", json={}, headers=api.auth(seller, "seller")
    )
    assert delisted.status_code == 200, delisted.text
    shopper = uuid4()
    cart = (await api.client.post("/v1/carts", headers=api.auth(shopper, "shopper"))).json()["id"]
    response = await api.client.post(
        f"/v1/carts/{cart}/items",
        json={"product_id": str(product), "quantity": 1},
        headers=api.auth(shopper, "shopper"),
    )
    problem = assert_problem(response, 409)
    assert "delisted" in problem["detail"]


async def test_cart_line_over_99_units_is_409(api: Api) -> None:
    _, product = await stocked_product(api)
    shopper = uuid4()
    headers = api.auth(shopper, "shopper")
    cart = (await api.client.post("/v1/carts", headers=headers)).json()["id"]
    line = {"product_id": str(product), "quantity": 60}
    first = await api.client.post(f"/v1/carts/{cart}/items", json=line, headers=headers)
    assert first.status_code == 200
    second = await api.client.post(f"/v1/carts/{cart}/items", json=line, headers=headers)
    problem = assert_problem(second, 409)
    assert problem["type"] == "urn:marketplace:problem:rule-violated"


async def test_a_product_in_another_currency_than_the_cart_is_409_when_added(api: Api) -> None:
    seller, euros = await stocked_product(api)
    yen = await api.list_product(seller, price={"amount_minor": 1500, "currency": "JPY"})
    shopper = uuid4()
    headers = api.auth(shopper, "shopper")
    cart = (await api.client.post("/v1/carts", headers=headers)).json()["id"]
    added = await api.client.post(
        f"/v1/carts/{cart}/items", json={"product_id": str(euros), "quantity": 1}, headers=headers
    )
    assert added.status_code == 200, added.text
    before = api.positions()
    response = await api.client.post(
        f"/v1/carts/{cart}/items", json={"product_id": str(yen), "quantity": 1}, headers=headers
    )
    problem = assert_problem(response, 409)
    assert "one currency" in problem["detail"] and "EUR" in problem["detail"]
    assert api.positions() == before
