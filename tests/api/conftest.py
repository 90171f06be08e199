"""The command API over real PostgreSQL, driven through httpx.

`api` builds a fresh app on a fresh schema for each test; `shared_api` builds one per
module for the table-driven tests, whose rows each make their own aggregates.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest
import structlog
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import SecretStr
from starlette.routing import BaseRoute

from commands.base import ContextApplication
from domain.base import Context
from domain.money import Money
from domain.order import Order
from domain.order_lines import OrderLine
from infra.auth import Role
from infra.blobs import BlobStore, LocalBlobStore
from infra.customer_orders import PostgresCustomerOrders
from infra.idempotency import IdempotencyStore
from infra.settings import (
    AuthSettings,
    CheckoutSettings,
    EventStoreSettings,
    HttpSettings,
    PostgresSettings,
    Settings,
)
from marketplace.bootstrap import build_commands, log_tables, postgres_pool, token_codec
from writeapi.app import create_app
from writeapi.deps import WriteApiDeps

JWT_SECRET = "api-tests-secret-" + "0123456789abcdef" * 4
ISSUER = "marketplace-tests"
AUDIENCE = "marketplace-api-tests"
MAX_BODY_BYTES = 4096
CHECKOUT_EXPIRY_SECONDS = 1200
BASE_URL = "http://test"
READ_API_URL = "https://shop.example/api"
"""Where the tests' command API says the query API is: Location headers point there."""


MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def api_routes(routes: list[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute, descending into included routers (FastAPI keeps them nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None) or getattr(route, "app", None)
        nested = getattr(included, "routes", None)
        if nested is not None and included is not route:
            yield from api_routes(nested)


def mutating_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route that changes something, found two ways that must agree."""
    walked = {
        (method, route.path)
        for route in api_routes(app.routes)
        for method in route.methods & MUTATING
    }
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method.upper() in MUTATING
    }
    assert walked == documented
    return walked


def api_settings(url: str) -> Settings:
    """Settings for an API under test on the given PostgreSQL URL."""
    return Settings(
        environment="test",
        events=EventStoreSettings(store="postgres", split_logs=True),
        postgres=PostgresSettings(url=url, pool_size=4, max_overflow=4),
        auth=AuthSettings(secret=SecretStr(JWT_SECRET), issuer=ISSUER, audience=AUDIENCE),
        http=HttpSettings(max_body_bytes=MAX_BODY_BYTES),
        checkout=CheckoutSettings(expiry_seconds=CHECKOUT_EXPIRY_SECONDS),
    )


def seller_body(**extra: Any) -> dict[str, Any]:
    return {"name": "Acme Tools", "email": "sales@acme.example", **extra}


def product_body(**extra: Any) -> dict[str, Any]:
    return {
        "title": "Claw hammer",
        "description": "16 oz, steel shaft",
        "category": "tools",
        "attributes": {"weight": "16oz"},
        "price": {"amount_minor": 1999, "currency": "EUR"},
        **extra,
    }


def address_body() -> dict[str, Any]:
    return {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}


def ship_from_body(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Acme Warehouse",
        "line1": "9 Dock Rd",
        "line2": "Unit 4",
        "city": "Rotterdam",
        "postal_code": "3011 AA",
        "country": "NL",
        **extra,
    }


@dataclass
class Api:
    """One command API on its own schema, with helpers to call it as someone."""

    url: str
    deps: WriteApiDeps
    app: FastAPI
    client: httpx.AsyncClient

    def token(self, sub: UUID, role: Role) -> str:
        return self.deps.tokens.issue(sub, role)

    def auth(self, sub: UUID, role: Role, **headers: str) -> dict[str, str]:
        """Headers carrying a valid bearer token for sub in role, plus any given."""
        named = {k.replace("_", "-"): v for k, v in headers.items()}
        return {"Authorization": f"Bearer {self.token(sub, role)}", **named}

    def position(self, application: ContextApplication) -> int:
        """The highest notification id of an application's log (0 when empty)."""
        return application.recorder.max_notification_id() or 0

    def positions(self) -> dict[str, int]:
        return {a.log_name: self.position(a) for a in self.deps.commands.applications}

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run SQL in this API's schema and return the rows (none for statements)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            cursor = conn.execute(query, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    async def register_seller(self, seller: UUID) -> httpx.Response:
        response = await self.client.post(
            "/v1/sellers", json=seller_body(), headers=self.auth(seller, "seller")
        )
        assert response.status_code == 201, response.text
        return response

    async def list_product(self, seller: UUID, **extra: Any) -> UUID:
        response = await self.client.post(
            "/v1/products", json=product_body(**extra), headers=self.auth(seller, "seller")
        )
        assert response.status_code == 201, response.text
        return UUID(response.json()["id"])

    async def receive(self, seller: UUID, product: UUID, quantity: int) -> httpx.Response:
        response = await self.client.post(
            f"/v1/products/{product}/stock/receipts",
            json={"quantity": quantity},
            headers=self.auth(seller, "seller"),
        )
        assert response.status_code == 200, response.text
        return response


def context(actor: UUID, role: Role) -> Context:
    """An audit context for setting up state without going through HTTP."""
    return Context(datetime.now(UTC), str(actor), role, "setup", "setup", "setup")


def confirm_order(api: Api, order_id: UUID) -> None:
    """Take a placed order through stock, payment and confirmation, as the workers would."""
    orders = api.deps.commands.orders
    system = context(uuid4(), "admin")
    orders.reserve_stock(order_id, system)
    orders.authorise_payment(order_id, f"pay-{order_id}", orders.order(order_id).total, system)
    orders.confirm(order_id, system)


@dataclass(frozen=True)
class World:
    """Seller A with a product and 10 units in stock; shopper A with a customer, an address,
    a cart holding 2 units, and a confirmed order of 1 unit (placed without the cart)."""

    seller_a: UUID
    seller_b: UUID
    shopper_a: UUID
    shopper_b: UUID
    auditor: UUID
    admin: UUID
    product: UUID
    cart: UUID
    address: UUID
    order: UUID

    @classmethod
    def build(cls, api: Api) -> World:
        """Make the aggregates straight through the command side: fast and independent."""
        commands = api.deps.commands
        seller_a, shopper_a, product = uuid4(), uuid4(), uuid4()
        as_seller, as_shopper = context(seller_a, "seller"), context(shopper_a, "shopper")
        commands.catalog.register_seller(seller_a, "Seller A", "a@sellers.example", as_seller)
        commands.catalog.list_product(
            product, seller_a, "Widget", "", "tools", {}, Money(500, "EUR"), as_seller
        )
        commands.receive_stock(product, 10, as_seller)
        commands.customers.register_customer(shopper_a, "Shopper A", "a@shop.example", as_shopper)
        address = uuid4()
        delivery = {"line2": "", **address_body()}
        commands.customers.add_address(shopper_a, address, delivery, as_shopper, None)
        cart = commands.carts.create_cart(shopper_a, as_shopper)[0].aggregate_id
        commands.add_to_cart(cart, product, 2, as_shopper)
        line = OrderLine(product, seller_a, "Widget", Money(500, "EUR"), 1)
        expires = as_shopper.at + timedelta(hours=1)
        ship_to = {"name": "Shopper A", **delivery}
        order = Order.place(uuid4(), shopper_a, [line], expires, "world", ship_to, as_shopper)
        commands.orders.place(order)
        assert commands.customer_orders is not None
        commands.customer_orders.add(shopper_a, order.id)  # as checkout notes it
        confirm_order(api, order.id)
        return cls(
            seller_a,
            uuid4(),
            shopper_a,
            uuid4(),
            uuid4(),
            uuid4(),
            product,
            cart,
            address,
            order.id,
        )


@pytest.fixture(scope="package", autouse=True)
def json_logs() -> Iterator[None]:
    """Log as the deployed API does (JSON lines), not with the slow pretty tracebacks."""
    before = structlog.get_config()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**before)


@contextmanager
def command_api(
    url: str, blobs: BlobStore | None = None, **overrides: Any
) -> Iterator[tuple[WriteApiDeps, FastAPI]]:
    """A command API's dependencies and app on the PostgreSQL at url, with settings overrides."""
    settings = api_settings(url).updated(**overrides)
    pool = postgres_pool(settings, max_size=8)
    customer_orders = PostgresCustomerOrders(pool)
    customer_orders.create_table()
    commands = build_commands(settings, customer_orders=customer_orders)
    try:
        logs = log_tables(commands)
        idempotency = IdempotencyStore(pool, settings.idempotency.ttl_hours, logs)
        idempotency.create_table()
        deps = WriteApiDeps(
            commands=commands,
            tokens=token_codec(settings.auth),
            idempotency=idempotency,
            max_body_bytes=settings.http.max_body_bytes,
            checkout_expiry_seconds=settings.checkout.expiry_seconds,
            read_api_url=READ_API_URL,
            store_timeout_seconds=settings.deadlines.write_store_timeout_seconds,
            blobs=blobs or LocalBlobStore(Path(tempfile.mkdtemp(prefix="blobs-"))),
            images=settings.images,
        )
        yield deps, create_app(deps)
    finally:
        commands.close()
        pool.close()


async def open_api(url: str, **overrides: Any) -> AsyncIterator[Api]:
    """A command API on the PostgreSQL at url, with settings overrides."""
    with command_api(url, **overrides) as (deps, app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield Api(url, deps, app, client)


@pytest.fixture
async def api(postgres_url: str) -> AsyncIterator[Api]:
    """A fresh command API on a fresh schema."""
    async for built in open_api(postgres_url):
        yield built


@pytest.fixture(scope="module")
async def shared_api(module_postgres_url: str) -> AsyncIterator[Api]:
    """One command API for a whole module; its tests must use ids of their own."""
    async for built in open_api(module_postgres_url):
        yield built
