"""Strict bodies: every invalid request is a problem+json answer and writes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from domain.money import Money
from tests.api.conftest import MAX_BODY_BYTES, Api, product_body

pytestmark = pytest.mark.postgres


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem with the given status; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("urn:marketplace:problem:")
    assert problem["title"]
    assert problem["instance"] == response.request.url.path
    return problem


def assert_validation(response: httpx.Response, *loc_tail: str | int) -> None:
    """A 422 validation problem whose errors name a location ending with loc_tail."""
    problem = assert_problem(response, 422)
    assert problem["type"] == "urn:marketplace:problem:validation"
    assert isinstance(problem["errors"], list) and problem["errors"]
    for error in problem["errors"]:
        assert {"loc", "msg", "type"} <= error.keys()
    locs = [tuple(e["loc"]) for e in problem["errors"]]
    assert any(loc[-len(loc_tail) :] == loc_tail for loc in locs), locs


@pytest.fixture
def api(shared_api: Api) -> Api:
    """One app for the module: these tests only add aggregates of their own."""
    return shared_api


@pytest.fixture
async def seller(api: Api) -> AsyncIterator[UUID]:
    seller = uuid4()
    await api.register_seller(seller)
    yield seller


def with_price(**price: Any) -> dict[str, Any]:
    return product_body(price={"amount_minor": 1999, "currency": "EUR", **price})


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param({**product_body(), "colour": "red"}, ("colour",), id="unknown-field"),
        pytest.param(
            product_body(price={"amount_minor": 100, "currency": "EUR", "tax": 1}),
            ("price", "tax"),
            id="unknown-nested-field",
        ),
        pytest.param(with_price(amount_minor=-5), ("price", "amount_minor"), id="negative-price"),
        pytest.param(with_price(amount_minor=0), ("price", "amount_minor"), id="zero-price"),
        pytest.param(with_price(amount_minor=19.99), ("price", "amount_minor"), id="float-price"),
        pytest.param(with_price(amount_minor="1999"), ("price", "amount_minor"), id="str-price"),
        pytest.param(with_price(amount_minor=True), ("price", "amount_minor"), id="bool-price"),
        pytest.param(with_price(amount_minor=10**13), ("price", "amount_minor"), id="huge-price"),
        pytest.param(with_price(currency="eur"), ("price", "currency"), id="lower-currency"),
        pytest.param(with_price(currency="EURO"), ("price", "currency"), id="long-currency"),
        pytest.param(with_price(currency=978), ("price", "currency"), id="numeric-currency"),
        pytest.param(with_price(currency="ABC"), ("price", "currency"), id="not-iso-4217"),
        pytest.param(with_price(currency="XXX"), ("price", "currency"), id="no-currency-code"),
        pytest.param(with_price(currency="XAU"), ("price", "currency"), id="gold-no-minor-unit"),
        pytest.param(
            product_body(attributes={f"a{i}": "v" for i in range(31)}),
            ("attributes",),
            id="too-many-attributes",
        ),
        pytest.param(
            product_body(attributes={"colour": ""}), ("attributes", "colour"), id="empty-attr"
        ),
        pytest.param(
            {k: v for k, v in product_body().items() if k != "title"}, ("title",), id="no-title"
        ),
        pytest.param(product_body(title="   "), ("title",), id="blank-title"),
        pytest.param(product_body(title="x" * 201), ("title",), id="long-title"),
        pytest.param(product_body(title=5), ("title",), id="int-title"),
        pytest.param(product_body(seller_id="not-a-uuid"), ("seller_id",), id="bad-seller-id"),
    ],
)
async def test_invalid_product_is_422_and_writes_nothing(
    api: Api, seller: UUID, body: dict[str, Any], loc: tuple[str, ...]
) -> None:
    before = api.positions()
    response = await api.client.post("/v1/products", json=body, headers=api.auth(seller, "seller"))
    assert_validation(response, "body", *loc)
    assert api.positions() == before


async def test_a_whole_number_written_with_a_fraction_is_that_integer(
    api: Api, seller: UUID
) -> None:
    body = with_price(amount_minor=20.0)
    response = await api.client.post("/v1/products", json=body, headers=api.auth(seller, "seller"))

    assert response.status_code == 201, response.text
    product = api.deps.commands.catalog.listed_product(UUID(response.json()["id"]))
    assert product.price == Money(20, "EUR")


@pytest.mark.parametrize(
    ("quantity", "accepted"),
    [
        (10**9, False),
        (1_000_001, False),
        (0, False),
        (-3, False),
        ("5", False),
        (True, False),
        (5.5, False),
        (5.0, True),
        (None, False),
        (1_000_000, True),
        (1, True),
    ],
)
async def test_stock_receipt_quantity_is_strict_and_bounded(
    api: Api, seller: UUID, quantity: Any, accepted: bool
) -> None:
    product = await api.list_product(seller)
    response = await api.client.post(
        f"/v1/products/{product}/stock/receipts",
        json={"quantity": quantity},
        headers=api.auth(seller, "seller"),
    )
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert_validation(response, "body", "quantity")


@pytest.mark.parametrize(
    ("limit", "accepted"),
    [
        (0, False),
        (10_001, False),
        ("2", False),
        (2.5, False),
        (True, False),
        (2.0, True),
        (1, True),
        (None, True),
    ],
)
async def test_purchase_limit_is_strict_and_bounded(
    api: Api, seller: UUID, limit: Any, accepted: bool
) -> None:
    product = await api.list_product(seller)
    headers = api.auth(seller, "seller")
    stocked = await api.client.post(
        f"/v1/products/{product}/stock/receipts", json={"quantity": 5}, headers=headers
    )
    assert stocked.status_code == 200, stocked.text
    response = await api.client.put(
        f"/v1/products/{product}/stock/purchase-limit", json={"limit": limit}, headers=headers
    )
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert_validation(response, "body", "limit")


@pytest.mark.parametrize(
    ("quantity", "accepted"),
    [
        (1000, False),
        (100, False),
        (0, False),
        ("5", False),
        (True, False),
        (2.5, False),
        (2.0, True),
        (99, True),
    ],
)
async def test_cart_quantity_is_strict_and_bounded(
    api: Api, seller: UUID, quantity: Any, accepted: bool
) -> None:
    product = await api.list_product(seller)
    shopper = uuid4()
    created = await api.client.post("/v1/carts", headers=api.auth(shopper, "shopper"))
    assert created.status_code == 201, created.text
    cart = created.json()["id"]
    response = await api.client.post(
        f"/v1/carts/{cart}/items",
        json={"product_id": str(product), "quantity": quantity},
        headers=api.auth(shopper, "shopper"),
    )
    if accepted:
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 1
    else:
        assert_validation(response, "body", "quantity")


async def test_missing_body_is_422(api: Api, seller: UUID) -> None:
    response = await api.client.post("/v1/products", headers=api.auth(seller, "seller"))
    assert_validation(response, "body")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": "Acme"}, id="no-email"),
        pytest.param({"name": "Acme", "email": "not-an-email"}, id="bad-email"),
        pytest.param({"name": "Acme", "email": ["a@b.c"]}, id="list-email"),
    ],
)
async def test_invalid_seller_is_422(api: Api, body: dict[str, Any]) -> None:
    before = api.positions()
    response = await api.client.post("/v1/sellers", json=body, headers=api.auth(uuid4(), "seller"))
    assert_validation(response, "body", "email")
    assert api.positions() == before


CONTROL_CHARACTERS = ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\u2028"]


@pytest.mark.parametrize("char", [*CONTROL_CHARACTERS, "\n", "\r", "\t"])
@pytest.mark.parametrize("field", ["title", "category"])
async def test_control_characters_in_one_line_fields_are_422(
    api: Api, seller: UUID, field: str, char: str
) -> None:
    before = api.positions()
    body = product_body(**{field: f"Lamp{char}shade"})
    response = await api.client.post("/v1/products", json=body, headers=api.auth(seller, "seller"))
    assert_validation(response, "body", field)
    assert api.positions() == before


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x0b", "\x1b", "\x7f", "\x85"])
async def test_control_characters_in_a_description_are_422(
    api: Api, seller: UUID, char: str
) -> None:
    body = product_body(description=f"Warm{char}light")
    response = await api.client.post("/v1/products", json=body, headers=api.auth(seller, "seller"))
    assert_validation(response, "body", "description")


async def test_a_description_keeps_its_line_breaks_and_tabs(api: Api, seller: UUID) -> None:
    body = product_body(description="Warm light.\r\nDimmable:\tyes\n")
    response = await api.client.post("/v1/products", json=body, headers=api.auth(seller, "seller"))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"name": "Ann\x00", "email": "ann@shop.example"}, id="nul-in-name"),
        pytest.param({"name": "Ann", "email": "ann\x00@shop.example"}, id="nul-in-email"),
        pytest.param({"name": "\x1bAnn", "email": "ann@shop.example"}, id="escape-in-name"),
    ],
)
async def test_control_characters_in_a_customer_are_422(api: Api, body: dict[str, Any]) -> None:
    before = api.positions()
    response = await api.client.post(
        "/v1/customers", json=body, headers=api.auth(uuid4(), "shopper")
    )
    assert_problem(response, 422)
    assert api.positions() == before


@pytest.mark.parametrize(
    ("title", "accepted"),
    [
        pytest.param(" Lamp", False, id="leading-blank"),
        pytest.param("Lamp\u3000", False, id="trailing-ideographic-space"),
        pytest.param("x" * 200, True, id="at-the-limit"),
        pytest.param("\r" + "x" * 199, False, id="carriage-return-not-trimmed"),
        pytest.param("Lamp \u202e\U0001f600 shade", True, id="bidi-and-emoji"),
    ],
)
async def test_titles_are_checked_as_sent_not_trimmed(
    api: Api, seller: UUID, title: str, accepted: bool
) -> None:
    body = product_body(title=title)
    response = await api.client.post("/v1/products", json=body, headers=api.auth(seller, "seller"))
    if accepted:
        assert response.status_code == 201, response.text
    else:
        assert_validation(response, "body", "title")


async def test_a_lone_surrogate_is_refused_as_malformed_json(api: Api, seller: UUID) -> None:
    content = (
        b'{"title": "Lamp \\ud800", "category": "home",'
        b' "price": {"amount_minor": 100, "currency": "EUR"}}'
    )
    response = await api.client.post(
        "/v1/products",
        content=content,
        headers={**api.auth(seller, "seller"), "content-type": "application/json"},
    )
    assert_problem(response, 422)


async def test_path_ids_must_be_uuids(api: Api, seller: UUID) -> None:
    response = await api.client.put(
        "/v1/products/123/price",
        json={"amount_minor": 5, "currency": "EUR"},
        headers=api.auth(seller, "seller"),
    )
    assert_validation(response, "path", "product_id")


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"name": "Acme", "email": ', id="truncated"),
        pytest.param(b"{'name': 'Acme'}", id="single-quotes"),
        pytest.param(b"\xff\xfe garbage", id="not-utf8"),
        pytest.param(b"[" * 2000 + b"]" * 2000, id="deeply-nested"),
        pytest.param(b"", id="empty"),
        pytest.param(b"null", id="null"),
        pytest.param(b'"a string"', id="string"),
    ],
)
async def test_malformed_json_is_a_problem(api: Api, content: bytes) -> None:
    before = api.positions()
    response = await api.client.post(
        "/v1/sellers",
        content=content,
        headers=api.auth(uuid4(), "seller", content_type="application/json"),
    )
    assert response.status_code in (400, 422)
    problem = assert_problem(response, response.status_code)
    if response.status_code == 422:
        assert problem["errors"]
    assert api.positions() == before


async def test_declared_oversize_body_is_413(api: Api, seller: UUID) -> None:
    body = product_body(description="x" * (MAX_BODY_BYTES + 1))
    before = api.positions()
    response = await api.client.post("/v1/products", json=body, headers=api.auth(seller, "seller"))
    problem = assert_problem(response, 413)
    assert problem["type"] == "urn:marketplace:problem:too-large"
    assert response.headers["x-request-id"]
    assert api.positions() == before


async def test_non_numeric_content_length_is_refused(api: Api, seller: UUID) -> None:
    request = api.client.build_request(
        "POST", "/v1/products", json=product_body(), headers=api.auth(seller, "seller")
    )
    request.headers["content-length"] = "12abc"
    response = await api.client.send(request)
    assert response.status_code in (400, 413)
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_streamed_oversize_body_is_413(api: Api, seller: UUID) -> None:
    chunk = b" " * 1024
    chunks = MAX_BODY_BYTES // len(chunk) + 2
    sent = 0
    before = api.positions()

    async def stream() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(chunks):
            sent += 1
            yield chunk
        yield b"{}"

    response = await api.client.post(
        "/v1/products",
        content=stream(),
        headers=api.auth(seller, "seller", content_type="application/json"),
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    problem = assert_problem(response, 413)
    assert problem["type"] == "urn:marketplace:problem:too-large"
    assert str(MAX_BODY_BYTES) in problem["detail"]
    assert sent < chunks, "the server stopped reading once the limit was passed"
    assert api.positions() == before


async def test_streamed_body_under_the_limit_is_accepted(api: Api, seller: UUID) -> None:
    payload = httpx.Request("POST", "/", json=product_body()).content

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 16):
            yield payload[i : i + 16]

    response = await api.client.post(
        "/v1/products",
        content=stream(),
        headers=api.auth(seller, "seller", content_type="application/json"),
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/nowhere", 404), ("GET", "/v1/products", 405), ("DELETE", "/v1/sellers", 405)],
)
async def test_unknown_routes_and_methods_are_problems(
    api: Api, method: str, path: str, status: int
) -> None:
    response = await api.client.request(method, path, headers=api.auth(uuid4(), "seller"))
    assert_problem(response, status)
