"""Schemathesis finds nothing: the query API does what its OpenAPI document says."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import schemathesis

from commands.services import Commands
from domain.base import Context
from domain.money import Money
from infra.apps import Serving
from infra.auth import Role
from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from marketplace import catalog_search
from marketplace.bootstrap import build_read_deps
from marketplace.order_views import marketplace_figures_view, order_history_view, seller_sales_view
from projections.carts.projection import CartProjection
from projections.catalog_search.projection import CatalogSearchProjection
from projections.log import ContextLog
from projections.marketplace_figures.projection import MarketplaceFiguresProjection
from projections.orders.projection import OrderHistoryProjection
from projections.product_detail.projection import ProductDetailProjection
from projections.runtime import Projection, Worker
from projections.seller_sales.projection import SellerSalesProjection
from readapi.app import create_app
from tests.projections.orders_fixture import START, OrderDesk
from tests.readapi.conftest import read_settings
from tests.support import fuzzing

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


WAIT_SECONDS = 0.05
"""The fuzzer asks for positions no view reaches: each such read waits this long, then
answers stale."""


def roles_for(method: str, path: str) -> tuple[Role, ...]:
    """Who may read what: as readapi.deps's caller_as says for each router."""
    if path.startswith("/v1/me/orders"):
        return ("shopper",)
    if path.startswith("/v1/carts"):
        return ("shopper", "admin")
    if path.startswith("/v1/sellers"):
        return ("seller", "admin")
    if path.startswith("/v1/analytics"):
        return ("analyst", "admin")
    return ("shopper", "seller", "admin")


def shop_with_an_order(commands: Commands) -> None:
    """A product of the fuzzing seller's, and an order of it placed by the fuzzing shopper."""
    seller, product = fuzzing.SUBJECTS["seller"], uuid.uuid4()
    ctx = Context(START, str(seller), "seller", "req", "corr", "cause")
    commands.catalog.register_seller(seller, "Acme", "sales@acme.test", ctx)
    commands.catalog.list_product(
        product, seller, "Lamp", "A red lamp", "home", {"color": "red"}, Money(1999, "EUR"), ctx
    )
    commands.receive_stock(product, 10, ctx)
    desk = OrderDesk(commands)
    line = (seller, product, "Lamp", 1999, 2)
    order = desk.place(fuzzing.SUBJECTS["shopper"], [line])
    desk.reserve(order)
    desk.authorise(order)
    desk.confirm(order)


@pytest.fixture(scope="module")
def query_api_schema(
    module_postgres_url: str, redis_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[schemathesis.BaseSchema]:
    """The query API over every view, each projected from a small shop."""
    settings = read_settings(
        module_postgres_url,
        redis_server,
        blobs={"local_dir": tmp_path_factory.mktemp("blobs")},
        deadlines={"read_wait_max_seconds": WAIT_SECONDS},
    )
    env = eventsourcing_env(Settings(), module_postgres_url)
    commands = Commands(env)
    shop_with_an_order(commands)
    deps = build_read_deps(settings)
    views: list[Any] = [
        catalog_search.projector_view(settings, module_postgres_url),
        order_history_view(module_postgres_url),
        seller_sales_view(module_postgres_url),
        marketplace_figures_view(module_postgres_url),
    ]
    projections: list[Projection[Any]] = [
        CatalogSearchProjection(),
        OrderHistoryProjection(),
        SellerSalesProjection(),
        MarketplaceFiguresProjection(),
        ProductDetailProjection(),
        CartProjection(),
    ]
    logs: list[ContextLog] = []
    for projection, view in zip(
        projections, [*views, deps.product_detail.view, deps.carts.view], strict=True
    ):
        followed = [ContextLog(env, name) for name in projection.contexts]
        logs.extend(followed)
        Worker(projection, view, followed).catch_up()
    app = create_app(deps, Serving(owned=deps.closers()))
    try:
        yield fuzzing.load(app, deps.tokens, roles_for)
    finally:
        with contextlib.suppress(redis.ConnectionError):
            deps.product_detail.view.clear()
        fuzzing.stop(app)
        catalog_search.close_view(views[0])
        for view in views[1:]:
            view.close()
        for context_log in logs:
            context_log.close()
        commands.close()


def test_schemathesis_finds_nothing(query_api_schema: schemathesis.BaseSchema) -> None:
    findings = fuzzing.run(query_api_schema)
    assert not findings.failures and not findings.errors, findings.report()
    assert set(findings.scenarios) >= {"examples", "coverage", "fuzzing"}
