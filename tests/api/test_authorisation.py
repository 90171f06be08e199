"""Who may call what: every mutating route against every kind of caller.

Each cell builds its own seller A (with a product and stock) and shopper A (with a
customer record, an address, a cart and a confirmed order from seller A), then calls
one route as one caller. Anyone not listed in
a row's `allowed` gets 403, or 401 when anonymous, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import pytest

from tests.api.conftest import (
    Api,
    World,
    address_body,
    mutating_operations,
    product_body,
    seller_body,
    ship_from_body,
)
from tests.api.test_validation import assert_problem
from tests.support.images import encoded, picture

pytestmark = pytest.mark.postgres

CALLERS = ("seller_a", "seller_b", "shopper_a", "shopper_b", "auditor", "admin", "anonymous")
ROLES = {
    "seller_a": "seller",
    "seller_b": "seller",
    "shopper_a": "shopper",
    "shopper_b": "shopper",
    "auditor": "auditor",
    "admin": "admin",
}


@dataclass(frozen=True)
class Row:
    """One route, its request, and the status each allowed caller gets."""

    method: str
    path: str
    allowed: dict[str, int]
    body: Callable[[World], Any] = field(default=lambda w: None)
    headers: Callable[[], dict[str, str]] = field(default=dict)
    files: Callable[[], dict[str, Any] | None] = field(default=lambda: None)


def png_upload() -> dict[str, Any]:
    return {"image": ("photo.png", encoded(picture(32, 24), "png"), "image/png")}


def details(w: World) -> dict[str, Any]:
    return {k: v for k, v in product_body().items() if k != "price"}


ROWS = [
    Row(
        "POST",
        "/v1/sellers",
        {"seller_a": 409, "admin": 409},
        lambda w: seller_body(seller_id=str(w.seller_a)),
    ),
    Row(
        "PATCH", "/v1/sellers/{seller_id}", {"seller_a": 200, "admin": 200}, lambda w: seller_body()
    ),
    Row(
        "PUT",
        "/v1/sellers/{seller_id}/address",
        {"seller_a": 200, "admin": 200},
        lambda w: ship_from_body(),
    ),
    Row(
        "POST",
        "/v1/sellers/{seller_id}/suspension",
        {"admin": 200},
        lambda w: {"reason": "fraud review"},
    ),
    Row(
        "POST",
        "/v1/customers",
        {"shopper_a": 409, "admin": 409},
        lambda w: seller_body(customer_id=str(w.shopper_a)),
    ),
    Row(
        "POST",
        "/v1/customers/{customer_id}/addresses/{address_id}",
        {"shopper_a": 201, "admin": 201},
        lambda w: address_body(),
    ),
    Row("POST", "/v1/customers/{customer_id}/erasure", {"shopper_a": 409, "admin": 409}),
    Row(
        "POST",
        "/v1/products",
        {"seller_a": 201, "admin": 201},
        lambda w: product_body(seller_id=str(w.seller_a)),
    ),
    Row("PATCH", "/v1/products/{product_id}", {"seller_a": 200, "admin": 200}, details),
    Row(
        "PUT",
        "/v1/products/{product_id}/price",
        {"seller_a": 200, "admin": 200},
        lambda w: {"amount_minor": 750, "currency": "EUR"},
    ),
    Row(
        "POST",
        "/v1/products/{product_id}/delisting",
        {"seller_a": 200, "admin": 200},
        lambda w: {"reason": "discontinued"},
    ),
    Row(
        "POST",
        "/v1/products/{product_id}/stock/receipts",
        {"seller_a": 200, "admin": 200},
        lambda w: {"quantity": 5},
    ),
    Row(
        "POST",
        "/v1/products/{product_id}/stock/adjustments",
        {"seller_a": 200, "admin": 200},
        lambda w: {"delta": -3, "reason": "damaged"},
    ),
    Row(
        "PUT",
        "/v1/products/{product_id}/stock/purchase-limit",
        {"seller_a": 200, "admin": 200},
        lambda w: {"limit": 2},
    ),
    Row(
        "POST",
        "/v1/products/{product_id}/images",
        {"seller_a": 202, "admin": 202},
        files=png_upload,
    ),
    Row(
        "PUT",
        "/v1/products/{product_id}/image-order",
        {"seller_a": 409, "admin": 409},
        lambda w: {"image_ids": [str(uuid4())]},
    ),
    Row("DELETE", "/v1/products/{product_id}/images/{image_id}", {"seller_a": 404, "admin": 404}),
    Row("POST", "/v1/carts", {"shopper_a": 200, "shopper_b": 201, "admin": 201}),
    Row(
        "POST",
        "/v1/carts/{cart_id}/items",
        {"shopper_a": 200, "admin": 200},
        lambda w: {"product_id": str(w.product), "quantity": 1},
    ),
    Row(
        "PUT",
        "/v1/carts/{cart_id}/items/{product_id}",
        {"shopper_a": 200, "admin": 200},
        lambda w: {"quantity": 7},
    ),
    Row("DELETE", "/v1/carts/{cart_id}/items/{product_id}", {"shopper_a": 200, "admin": 200}),
    Row("DELETE", "/v1/carts/{cart_id}/items", {"shopper_a": 200, "admin": 200}),
    Row(
        "POST",
        "/v1/carts/{cart_id}/checkout",
        {"shopper_a": 202, "admin": 202},
        lambda w: {"address_id": str(w.address)},
        lambda: {"Idempotency-Key": f"checkout-{uuid4()}"},
    ),
    Row(
        "POST",
        "/v1/orders/{order_id}/cancellation",
        {"shopper_a": 200, "admin": 200},
        lambda w: {"reason": "changed my mind"},
    ),
    Row(
        "POST",
        "/v1/orders/{order_id}/shipments",
        {"seller_a": 200, "admin": 200},
        lambda w: {"seller_id": str(w.seller_a)},
    ),
    Row(
        "POST",
        "/v1/orders/{order_id}/deliveries",
        {"seller_a": 409, "admin": 409},
        lambda w: {"seller_id": str(w.seller_a)},
    ),
    Row(
        "POST",
        "/v1/orders/{order_id}/refunds",
        {"seller_a": 409, "admin": 409},
        lambda w: {"amount_minor": 100, "currency": "EUR"},
        lambda: {"Idempotency-Key": f"refund-{uuid4()}"},
    ),
]

SELLER_ROUTES = {
    r.path
    for r in ROWS
    if r.path.startswith(("/v1/sellers", "/v1/products"))
    or r.path.endswith(("/shipments", "/deliveries", "/refunds"))
}


def expected(row: Row, caller: str) -> int:
    if caller == "anonymous":
        return 401
    return row.allowed.get(caller, 403)


def url_for(row: Row, w: World) -> str:
    return row.path.format(
        seller_id=w.seller_a,
        product_id=w.product,
        cart_id=w.cart,
        customer_id=w.shopper_a,
        address_id=uuid4(),
        image_id=uuid4(),
        order_id=w.order,
    )


def caller_id(w: World, caller: str) -> UUID:
    ids = {
        "seller_a": w.seller_a,
        "seller_b": w.seller_b,
        "shopper_a": w.shopper_a,
        "shopper_b": w.shopper_b,
        "auditor": w.auditor,
        "admin": w.admin,
    }
    return ids[caller]


def test_the_matrix_covers_every_mutating_route(shared_api: Api) -> None:
    table = {(row.method, row.path) for row in ROWS}
    assert len(table) == len(ROWS), "a route appears twice in the matrix"
    assert table == mutating_operations(shared_api.app)


def test_the_matrix_encodes_the_policy() -> None:
    for row in ROWS:
        assert "auditor" not in row.allowed and "anonymous" not in row.allowed
        if row.path in SELLER_ROUTES:
            assert set(row.allowed) <= {"seller_a", "admin"}, row.path
        else:
            assert not {"seller_a", "seller_b"} & set(row.allowed), row.path
            assert row.allowed.get("shopper_a") in (200, 201, 202, 409), row.path
    suspension = next(r for r in ROWS if r.path.endswith("/suspension"))
    assert set(suspension.allowed) == {"admin"}


CELLS = [
    pytest.param(row, caller, id=f"{row.method} {row.path} as {caller}")
    for row in ROWS
    for caller in CALLERS
]


@pytest.fixture(scope="module")
def untouched_world(shared_api: Api) -> World:
    """The world for refused calls: they write nothing, which each cell checks."""
    return World.build(shared_api)


@pytest.mark.parametrize(("row", "caller"), CELLS)
async def test_authorisation(
    shared_api: Api, untouched_world: World, row: Row, caller: str
) -> None:
    api = shared_api
    status = expected(row, caller)
    world = untouched_world if status in (401, 403) else World.build(api)
    headers = row.headers()
    if caller != "anonymous":
        headers |= api.auth(caller_id(world, caller), ROLES[caller])
    before = api.positions()

    response = await api.client.request(
        row.method, url_for(row, world), json=row.body(world), files=row.files(), headers=headers
    )

    assert response.status_code == status, response.text
    if status == 401:
        problem = assert_problem(response, 401)
        assert problem["type"] == "urn:marketplace:problem:unauthenticated"
        assert response.headers["www-authenticate"].startswith("Bearer")
    elif status == 403:
        problem = assert_problem(response, 403)
        assert problem["type"] == "urn:marketplace:problem:forbidden"
    elif status < 300 and (row.path, caller) != ("/v1/carts", "shopper_a"):
        log, position = response.headers["x-log-position"].split(":")
        assert int(position) == api.positions()[log] > before[log]
    if status >= 400 or "x-log-position" not in response.headers:
        assert api.positions() == before
