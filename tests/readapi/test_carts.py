"""GET /v1/carts/{cart_id}: a shopper's own cart, priced from the product view, never cached."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from commands.base import Outcome
from commands.services import Commands
from domain.base import Context
from domain.money import Money
from infra.auth import Role
from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from projections.carts.projection import CartProjection
from projections.log import ContextLog
from projections.runtime import Worker
from tests.conftest import free_port
from tests.readapi.conftest import Reader, open_reader, read_settings

pytestmark = pytest.mark.postgres

PROBLEM = "application/problem+json"


def as_shopper(shopper: uuid.UUID) -> Context:
    return Context(datetime.now(UTC), str(shopper), "shopper", "req", "corr", "cause")


@dataclass
class Shop:
    """The query API with workers for the product-detail view and the carts view."""

    reader: Reader
    carts: Worker[Any]

    @property
    def client(self) -> httpx.AsyncClient:
        return self.reader.client

    def product(self, title: str, price: Money) -> tuple[uuid.UUID, uuid.UUID]:
        """A seller and a product it lists at price (not yet projected)."""
        seller, product = uuid.uuid4(), uuid.uuid4()
        ctx = Context(datetime.now(UTC), str(seller), "seller", "req", "corr", "cause")
        self.reader.commands.catalog.register_seller(seller, "Acme", "a@acme.test", ctx)
        self.reader.commands.catalog.list_product(
            product, seller, title, "", "home", {}, price, ctx
        )
        return seller, product

    def cart(self, shopper: uuid.UUID, lines: dict[uuid.UUID, int]) -> Outcome:
        """The shopper's cart with these lines; the outcome of the last command."""
        outcome, _ = self.reader.commands.carts.create_cart(shopper, as_shopper(shopper))
        for product, quantity in lines.items():
            outcome = self.reader.commands.add_to_cart(
                outcome.aggregate_id, product, quantity, as_shopper(shopper)
            )
        return outcome

    def project(self) -> None:
        self.reader.project()
        self.carts.catch_up()

    async def get(
        self, cart: uuid.UUID, who: tuple[uuid.UUID, Role] | None, **headers: str
    ) -> httpx.Response:
        auth = self.reader.auth(*who) if who else {}
        return await self.client.get(f"/v1/carts/{cart}", headers={**auth, **headers})


@pytest.fixture
async def shop(postgres_url: str, redis_server: str, commands: Commands) -> AsyncIterator[Shop]:
    async with open_reader(read_settings(postgres_url, redis_server), commands) as reader:
        view = reader.deps.carts.view
        env = eventsourcing_env(Settings(), postgres_url)
        logs = [ContextLog(env, name) for name in reader.deps.carts.logs]
        try:
            yield Shop(reader, Worker(CartProjection(), view, logs))
        finally:
            view.clear()
            for context_log in logs:
                context_log.close()


async def test_a_cart_is_priced_per_line_and_totalled_per_currency(shop: Shop) -> None:
    _, lamp = shop.product("Lamp", Money(1999, "EUR"))
    _, mug = shop.product("Mug", Money(500, "EUR"))
    cap_seller, cap = shop.product("Cap", Money(1100, "EUR"))
    shopper = uuid.uuid4()
    outcome = shop.cart(shopper, {lamp: 2, mug: 3, cap: 1})
    ctx = Context(datetime.now(UTC), str(cap_seller), "seller", "req", "corr", "cause")
    shop.reader.commands.catalog.reprice_product(cap, Money(1250, "USD"), ctx, None)
    shop.project()

    response = await shop.get(outcome.aggregate_id, (shopper, "shopper"))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == str(outcome.aggregate_id)
    assert body["shopper_id"] == str(shopper)
    lines = {line["product_id"]: line for line in body["lines"]}
    assert lines[str(lamp)] == {
        "product_id": str(lamp),
        "quantity": 2,
        "title": "Lamp",
        "unit_price": {"amount_minor": 1999, "currency": "EUR"},
        "line_total": {"amount_minor": 3998, "currency": "EUR"},
        "unavailable": False,
        "reason": None,
    }
    assert lines[str(mug)]["line_total"] == {"amount_minor": 1500, "currency": "EUR"}
    assert lines[str(cap)]["line_total"] == {"amount_minor": 1250, "currency": "USD"}
    assert body["totals"] == [
        {"amount_minor": 5498, "currency": "EUR"},
        {"amount_minor": 1250, "currency": "USD"},
    ]
    assert response.headers["cache-control"] == "private, no-store"
    assert "etag" not in response.headers


async def test_only_the_owning_shopper_or_an_admin_may_read_a_cart(shop: Shop) -> None:
    _, lamp = shop.product("Lamp", Money(1999, "EUR"))
    owner = uuid.uuid4()
    cart = shop.cart(owner, {lamp: 1}).aggregate_id
    shop.project()

    callers: dict[str, tuple[uuid.UUID, Role] | None] = {
        "owner": (owner, "shopper"),
        "other shopper": (uuid.uuid4(), "shopper"),
        "seller": (owner, "seller"),
        "auditor": (uuid.uuid4(), "auditor"),
        "admin": (uuid.uuid4(), "admin"),
        "anonymous": None,
    }
    answers = {name: await shop.get(cart, who) for name, who in callers.items()}

    assert {name: r.status_code for name, r in answers.items()} == {
        "owner": 200,
        "other shopper": 403,
        "seller": 403,
        "auditor": 403,
        "admin": 200,
        "anonymous": 401,
    }
    assert answers["admin"].json() == answers["owner"].json()
    for name in ("other shopper", "seller", "auditor", "anonymous"):
        assert answers[name].headers["content-type"] == PROBLEM, name
        assert str(lamp) not in answers[name].text, name
    for name in ("owner", "admin", "other shopper"):
        assert answers[name].headers["cache-control"] == "private, no-store", name


async def test_lines_of_delisted_or_unprojected_products_are_flagged_and_not_totalled(
    shop: Shop,
) -> None:
    seller, lamp = shop.product("Lamp", Money(1999, "EUR"))
    _, mug = shop.product("Mug", Money(500, "EUR"))
    shopper = uuid.uuid4()
    cart = shop.cart(shopper, {lamp: 2, mug: 1}).aggregate_id
    shop.project()
    ctx = Context(datetime.now(UTC), str(seller), "seller", "req", "corr", "cause")
    shop.reader.commands.catalog.delist_product(lamp, "recalled", ctx, None)
    shop.project()
    _, late = shop.product("Kettle", Money(3000, "EUR"))
    shop.reader.commands.add_to_cart(cart, late, 1, as_shopper(shopper))
    shop.carts.catch_up()

    response = await shop.get(cart, (shopper, "shopper"))

    assert response.status_code == 200, response.text
    lines = {line["product_id"]: line for line in response.json()["lines"]}
    assert lines[str(lamp)]["unavailable"] is True
    assert lines[str(lamp)]["reason"] == "delisted"
    assert lines[str(lamp)]["title"] == "Lamp"
    assert lines[str(lamp)]["line_total"] is None
    assert lines[str(late)]["unavailable"] is True
    assert lines[str(late)]["reason"] == "missing"
    assert lines[str(late)]["unit_price"] is None
    assert lines[str(mug)]["unavailable"] is False
    assert response.json()["totals"] == [{"amount_minor": 500, "currency": "EUR"}]


async def test_an_unknown_cart_is_a_404(shop: Shop) -> None:
    shop.project()
    shopper = uuid.uuid4()
    unprojected = shop.cart(shopper, {}).aggregate_id

    for cart, who in ((uuid.uuid4(), (uuid.uuid4(), "admin")), (unprojected, (shopper, "shopper"))):
        response = await shop.get(cart, who)  # type: ignore[arg-type]

        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM


async def test_a_read_waits_for_the_carts_position_then_answers_fresh(shop: Shop) -> None:
    _, lamp = shop.product("Lamp", Money(1999, "EUR"))
    shop.project()
    shopper = uuid.uuid4()
    outcome = shop.cart(shopper, {lamp: 4})
    assert outcome.log == "carts" and outcome.position is not None
    wanted = f"carts:{outcome.position}"

    stale = await shop.get(
        outcome.aggregate_id,
        (shopper, "shopper"),
        **{"X-Min-Position": wanted, "X-Max-Wait-Ms": "0"},
    )
    assert stale.status_code == 404
    assert stale.headers["x-consistency"] == "stale"

    projector = threading.Thread(target=shop.carts.catch_up)
    request = asyncio.create_task(
        shop.get(outcome.aggregate_id, (shopper, "shopper"), **{"X-Min-Position": wanted})
    )
    projector.start()
    fresh = await asyncio.wait_for(request, 10.0)
    projector.join(10.0)

    assert fresh.status_code == 200, fresh.text
    assert fresh.headers["x-consistency"] == "fresh"
    assert fresh.headers["cache-control"] == "private, no-store"
    assert fresh.json()["lines"][0]["quantity"] == 4
    catalog = shop.reader.deps.product_detail.view.positions()["catalog"]
    both = await shop.get(
        outcome.aggregate_id,
        (shopper, "shopper"),
        **{"X-Min-Position": f"{wanted},catalog:{catalog}", "X-Max-Wait-Ms": "0"},
    )
    assert both.headers["x-consistency"] == "fresh"
    assert f"catalog:{catalog}" in both.headers["x-view-position"]
    unknown = await shop.get(
        outcome.aggregate_id, (shopper, "shopper"), **{"X-Min-Position": "customers:1"}
    )
    assert unknown.status_code == 422


async def test_a_cart_read_while_redis_is_down_is_a_503(
    postgres_url: str, commands: Commands
) -> None:
    settings = read_settings(postgres_url, f"redis://127.0.0.1:{free_port()}/0")
    async with open_reader(settings, commands) as reader:
        response = await reader.client.get(
            f"/v1/carts/{uuid.uuid4()}", headers=reader.auth(uuid.uuid4(), "admin")
        )

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert "retry-after" in response.headers
