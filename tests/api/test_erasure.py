"""POST /v1/customers/{id}/erasure: refused while an order is unshipped, then the customer's
personal data reads "erased" while their orders and totals stay."""

from __future__ import annotations

from uuid import UUID, uuid4

import httpx
import pytest

from domain.customer import ERASED, Customer
from tests.api.conftest import Api, World
from tests.api.test_orders import placed_order, ship
from tests.api.test_validation import assert_problem

pytestmark = pytest.mark.postgres


@pytest.fixture
def api(shared_api: Api) -> Api:
    """One app for the module: every test builds a world of its own."""
    return shared_api


async def erase(api: Api, customer: UUID, who: UUID, role: str = "shopper") -> httpx.Response:
    return await api.client.post(
        f"/v1/customers/{customer}/erasure",
        headers=api.auth(who, role),  # type: ignore[arg-type]
    )


async def test_an_unshipped_order_refuses_erasure_with_its_reason(api: Api) -> None:
    w = World.build(api)
    before = api.positions()
    problem = assert_problem(await erase(api, w.shopper_a, w.shopper_a), 409)
    assert problem["type"].endswith(":unshipped-orders")
    assert str(w.order) in problem["detail"]
    assert api.positions() == before
    assert api.deps.commands.customers.load(w.shopper_a, Customer).name == "Shopper A"


async def test_once_shipped_the_customer_is_erased_and_the_order_stays(api: Api) -> None:
    w = World.build(api)
    assert (await ship(api, w.order, w.seller_a, seller_id=str(w.seller_a))).status_code == 200
    response = await erase(api, w.shopper_a, w.shopper_a)
    assert response.status_code == 200, response.text
    customer = api.deps.commands.customers.load(w.shopper_a, Customer)
    assert (customer.erased, customer.name, customer.email) == (True, ERASED, ERASED)
    placed = next(iter(api.deps.commands.orders.events.get(w.order)))
    assert (placed.ship_to["name"], placed.ship_to["line1"]) == (ERASED, ERASED)
    order = api.deps.commands.orders.order(w.order)
    assert (order.total.minor, order.status) == (500, "shipped")
    again = await erase(api, w.shopper_a, w.admin, "admin")
    assert again.status_code == 200
    assert again.json()["position"] is None


async def test_an_erased_customer_cannot_check_out(api: Api) -> None:
    w = World.build(api)
    assert (await ship(api, w.order, w.seller_a, seller_id=str(w.seller_a))).status_code == 200
    assert (await erase(api, w.shopper_a, w.shopper_a)).status_code == 200
    response = await api.client.post(
        f"/v1/carts/{w.cart}/checkout",
        json={"address_id": str(w.address)},
        headers=api.auth(w.shopper_a, "shopper", idempotency_key=f"order-{uuid4()}"),
    )
    assert "erased" in assert_problem(response, 409)["detail"]


async def test_a_placed_order_counts_as_unshipped_and_an_unknown_customer_is_404(
    api: Api,
) -> None:
    w = World.build(api)
    assert (await ship(api, w.order, w.seller_a, seller_id=str(w.seller_a))).status_code == 200
    order = await placed_order(api, w)
    assert str(order) in assert_problem(await erase(api, w.shopper_a, w.shopper_a), 409)["detail"]
    stranger = uuid4()
    assert_problem(await erase(api, stranger, stranger), 404)
