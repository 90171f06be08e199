"""Request and correlation ids are echoed and stored, with the actor, in each event's metadata."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID, uuid4

import pytest

from commands.base import ContextApplication
from domain.base import event_id
from domain.inventory import stock_item_id
from tests.api.conftest import Api, product_body, seller_body
from tests.api.test_validation import assert_problem

pytestmark = pytest.mark.postgres


def events_of(application: ContextApplication, aggregate: UUID) -> list[Any]:
    return list(application.repository.event_store.get(aggregate))


async def test_ids_are_echoed_and_stored_in_the_event(api: Api) -> None:
    seller = uuid4()
    response = await api.client.post(
        "/v1/sellers",
        json=seller_body(),
        headers=api.auth(seller, "seller", x_request_id="req-42.a", x_correlation_id="flow:7"),
    )
    assert response.status_code == 201, response.text
    assert response.headers["x-request-id"] == "req-42.a"
    assert response.headers["x-correlation-id"] == "flow:7"

    (event,) = events_of(api.deps.commands.catalog, seller)
    assert event.meta == {
        "event_id": str(event_id(seller, 0)),
        "actor": str(seller),
        "role": "seller",
        "request_id": "req-42.a",
        "correlation_id": "flow:7",
        "causation_id": "req-42.a",
    }


async def test_meta_names_the_acting_admin_not_the_owner(api: Api) -> None:
    seller, admin = uuid4(), uuid4()
    await api.register_seller(seller)
    product = await api.list_product(seller)
    response = await api.client.post(
        f"/v1/products/{product}/stock/receipts",
        json={"quantity": 4},
        headers=api.auth(admin, "admin", x_request_id="admin-fix", x_correlation_id="ticket-9"),
    )
    assert response.status_code == 200, response.text
    events = events_of(api.deps.commands.inventory, stock_item_id(product))
    assert len(events) == 2
    for event in events:
        assert event.meta["actor"] == str(admin)
        assert event.meta["role"] == "admin"
        assert event.meta["request_id"] == "admin-fix"
        assert event.meta["correlation_id"] == "ticket-9"


async def test_every_event_of_one_request_shares_its_ids(api: Api) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    product = await api.list_product(seller)
    for n in range(3):
        response = await api.client.put(
            f"/v1/products/{product}/price",
            json={"amount_minor": 100 + n, "currency": "EUR"},
            headers=api.auth(seller, "seller", x_request_id=f"r{n}", x_correlation_id="batch"),
        )
        assert response.status_code == 200
    events = events_of(api.deps.commands.catalog, product)
    assert [e.meta["request_id"] for e in events[1:]] == ["r0", "r1", "r2"]
    assert {e.meta["correlation_id"] for e in events[1:]} == {"batch"}
    assert [e.meta["event_id"] for e in events] == [str(event_id(product, v)) for v in range(4)]


async def test_missing_ids_are_generated_and_correlation_defaults_to_request(api: Api) -> None:
    seller = uuid4()
    response = await api.register_seller(seller)
    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert response.headers["x-correlation-id"] == request_id
    (event,) = events_of(api.deps.commands.catalog, seller)
    assert event.meta["request_id"] == event.meta["correlation_id"] == request_id


@pytest.mark.parametrize("unsafe", ["has space", "x" * 129, "semi;colon", "new\u2028line"])
async def test_unsafe_ids_are_replaced(shared_api: Api, unsafe: str) -> None:
    api = shared_api
    seller = uuid4()
    response = await api.client.post(
        "/v1/sellers",
        json=seller_body(),
        headers={**api.auth(seller, "seller"), "X-Request-ID": unsafe.encode()},
    )
    assert response.status_code == 201
    assert response.headers["x-request-id"] != unsafe
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


async def test_problems_carry_the_request_id(api: Api) -> None:
    response = await api.client.post(
        "/v1/products",
        json={**product_body(), "extra": 1},
        headers=api.auth(uuid4(), "seller", x_request_id="bad-one"),
    )
    problem = assert_problem(response, 422)
    assert problem["request_id"] == "bad-one"
    assert response.headers["x-request-id"] == "bad-one"
