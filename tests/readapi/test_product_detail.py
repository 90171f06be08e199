"""GET /v1/products/{id}: the projected document, public caching and conditional requests."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from readapi.schemas import ProductDetail
from tests.readapi.conftest import Reader, as_seller

pytestmark = pytest.mark.postgres


async def test_the_document_has_the_catalog_fields_seller_name_and_units_available(
    reader: Reader,
) -> None:
    seller, product = reader.stocked_product(units=10)
    ctx = as_seller(seller)
    later = datetime.now(UTC) + timedelta(minutes=15)
    reader.commands.inventory.reserve(product, uuid.uuid4(), 3, later, ctx)
    sold = uuid.uuid4()
    reader.commands.inventory.reserve(product, sold, 2, later, ctx)
    reader.commands.inventory.commit(product, sold, ctx)
    reader.project()

    response = await reader.client.get(f"/v1/products/{product}")

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    ProductDetail.model_validate(body)
    assert body == {
        "id": str(product),
        "title": "Lamp",
        "description": "A red lamp",
        "category": "home",
        "attributes": {"color": "red"},
        "price": {"amount_minor": 1999, "currency": "EUR"},
        "seller": {"id": str(seller), "name": "Acme"},
        "units_available": 10 - 3 - 2,
        "delisted": False,
        "listed_at": body["listed_at"],
        "images": [],
        "version": 0,
    }
    assert datetime.fromisoformat(body["listed_at"]) <= datetime.now(UTC)
    assert "x-consistency" not in response.headers


async def test_a_delisted_product_says_so(reader: Reader) -> None:
    seller, product = reader.stocked_product()
    reader.commands.catalog.delist_product(product, "discontinued", as_seller(seller), None)
    reader.project()

    body = (await reader.client.get(f"/v1/products/{product}")).json()

    assert (body["delisted"], body["version"]) == (True, 1)


async def test_an_unknown_product_is_a_404_problem(reader: Reader) -> None:
    reader.stocked_product()
    reader.project()

    response = await reader.client.get(f"/v1/products/{uuid.uuid4()}")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:marketplace:problem:not-found"


async def test_a_malformed_id_is_a_422_problem(reader: Reader) -> None:
    response = await reader.client.get("/v1/products/not-a-uuid")

    assert response.status_code == 422
    assert response.json()["type"] == "urn:marketplace:problem:validation"


async def test_public_answers_may_be_cached_for_a_minute(reader: Reader) -> None:
    _, product = reader.stocked_product()
    reader.project()

    response = await reader.client.get(f"/v1/products/{product}")

    assert response.headers["cache-control"] == "public, max-age=60"
    assert response.headers["vary"] == "X-Min-Position"


async def test_a_matching_if_none_match_is_a_304_until_the_document_changes(
    reader: Reader,
) -> None:
    seller, product = reader.stocked_product()
    reader.project()
    path = f"/v1/products/{product}"
    first = await reader.client.get(path)
    etag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag), etag

    again = await reader.client.get(path)
    cached = await reader.client.get(path, headers={"If-None-Match": etag})
    weak = await reader.client.get(path, headers={"If-None-Match": f'"other", W/{etag}'})
    other = await reader.client.get(path, headers={"If-None-Match": '"other"'})

    assert again.headers["etag"] == etag
    assert (cached.status_code, cached.content) == (304, b"")
    assert cached.headers["etag"] == etag
    assert cached.headers["cache-control"] == "public, max-age=60"
    assert weak.status_code == 304
    assert (other.status_code, other.json()) == (200, first.json())

    reader.receive(seller, product, 1)
    reader.project()
    changed = await reader.client.get(path, headers={"If-None-Match": etag})

    assert changed.status_code == 200
    assert changed.json()["units_available"] == first.json()["units_available"] + 1
    assert changed.headers["etag"] != etag


async def test_a_seller_rename_changes_the_etag(reader: Reader) -> None:
    seller, product = reader.stocked_product()
    reader.project()
    path = f"/v1/products/{product}"
    etag = (await reader.client.get(path)).headers["etag"]

    ctx = as_seller(seller)
    reader.commands.catalog.update_seller_profile(seller, "Acme Ltd", "a@acme.test", ctx, None)
    reader.project()
    renamed = await reader.client.get(path, headers={"If-None-Match": etag})

    assert renamed.status_code == 200
    assert renamed.json()["seller"]["name"] == "Acme Ltd"


async def test_request_ids_are_echoed(reader: Reader) -> None:
    response = await reader.client.get(
        f"/v1/products/{uuid.uuid4()}", headers={"X-Request-Id": "req-7", "X-Correlation-Id": "c:1"}
    )

    assert response.headers["x-request-id"] == "req-7"
    assert response.headers["x-correlation-id"] == "c:1"
    assert response.json()["request_id"] == "req-7"
