"""The address a seller ships from: strict and bounded, set by the seller or an admin."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from domain.seller import Seller
from infra.auth import Role
from tests.api.conftest import Api, ship_from_body
from tests.api.test_validation import assert_problem, assert_validation

pytestmark = pytest.mark.postgres


@pytest.fixture
def api(shared_api: Api) -> Api:
    """One app for the module: every test registers a seller of its own."""
    return shared_api


async def put_address(
    api: Api, seller: UUID, body: Any, who: UUID | None = None, role: Role = "seller"
) -> httpx.Response:
    return await api.client.put(
        f"/v1/sellers/{seller}/address", json=body, headers=api.auth(who or seller, role)
    )


def stored_address(api: Api, seller: UUID) -> dict[str, str] | None:
    return api.deps.commands.catalog.load(seller, Seller).address


async def test_a_seller_sets_its_address_and_the_same_one_again_changes_nothing(
    api: Api,
) -> None:
    seller = uuid4()
    await api.register_seller(seller)

    response = await put_address(api, seller, ship_from_body())

    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"1"'
    assert response.headers["x-log-position"] == f"catalog:{api.positions()['catalog']}"
    assert stored_address(api, seller) == ship_from_body()
    before = api.positions()
    again = await put_address(api, seller, ship_from_body())
    assert again.status_code == 200, again.text
    assert again.headers["etag"] == '"1"'
    assert "x-log-position" not in again.headers
    assert api.positions() == before


async def test_line2_may_be_left_out(api: Api) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    body = {k: v for k, v in ship_from_body().items() if k != "line2"}
    response = await put_address(api, seller, body)
    assert response.status_code == 200, response.text
    assert stored_address(api, seller) == {**body, "line2": ""}


async def test_an_admin_sets_a_sellers_address(api: Api) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    response = await put_address(api, seller, ship_from_body(), who=uuid4(), role="admin")
    assert response.status_code == 200, response.text
    assert stored_address(api, seller) == ship_from_body()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param(ship_from_body(country="nl"), ("country",), id="lower-country"),
        pytest.param(ship_from_body(country="NLD"), ("country",), id="alpha3-country"),
        pytest.param(ship_from_body(country="N1"), ("country",), id="digit-country"),
        pytest.param(ship_from_body(country=528), ("country",), id="numeric-country"),
        pytest.param(ship_from_body(country=None), ("country",), id="null-country"),
        pytest.param(ship_from_body(phone="+31 10"), ("phone",), id="unknown-field"),
        pytest.param(
            {k: v for k, v in ship_from_body().items() if k != "name"}, ("name",), id="no-name"
        ),
        pytest.param(ship_from_body(city="   "), ("city",), id="blank-city"),
        pytest.param(ship_from_body(city="  Rotterdam "), ("city",), id="padded-city"),
        pytest.param(ship_from_body(name="x" * 121), ("name",), id="long-name"),
        pytest.param(ship_from_body(line1="x" * 201), ("line1",), id="long-line1"),
        pytest.param(ship_from_body(line2="x" * 201), ("line2",), id="long-line2"),
        pytest.param(ship_from_body(postal_code="1" * 21), ("postal_code",), id="long-postcode"),
        pytest.param(ship_from_body(postal_code=3011), ("postal_code",), id="numeric-postcode"),
    ],
)
async def test_an_invalid_address_is_422_and_writes_nothing(
    api: Api, body: dict[str, Any], loc: tuple[str, ...]
) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    before = api.positions()
    assert_validation(await put_address(api, seller, body), "body", *loc)
    assert api.positions() == before
    assert stored_address(api, seller) is None


async def test_a_suspended_seller_cannot_set_its_address(api: Api) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    suspended = await api.client.post(
        f"/v1/sellers/{seller}/suspension",
        json={"reason": "chargebacks"},
        headers=api.auth(uuid4(), "admin"),
    )
    assert suspended.status_code == 200, suspended.text
    before = api.positions()
    problem = assert_problem(await put_address(api, seller, ship_from_body()), 409)
    assert "suspended" in problem["detail"]
    assert api.positions() == before


async def test_an_unknown_seller_is_404(api: Api) -> None:
    seller = uuid4()
    response = await put_address(api, seller, ship_from_body())
    assert assert_problem(response, 404)["type"] == "urn:marketplace:problem:not-found"
