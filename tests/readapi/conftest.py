"""The query API over real PostgreSQL (the logs) and Redis (the views), driven through httpx.

Commands append events, an in-process Worker projects them, and the app from
marketplace.bootstrap.build_read_deps answers, as `marketplace serve-read` would.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis

from commands.base import Outcome
from commands.services import Commands
from domain.base import Context
from domain.money import Money
from infra.auth import Role
from infra.eventstore import eventsourcing_env
from infra.settings import PostgresSettings, RedisSettings, Settings
from marketplace.bootstrap import build_read_deps
from projections.log import ContextLog
from projections.product_detail.projection import ProductDetailProjection
from projections.runtime import Worker
from readapi.app import create_app
from readapi.deps import ReadApiDeps

BASE_URL = "http://test"


def read_settings(postgres_url: str, redis_url: str, **overrides: Any) -> Settings:
    """Settings for a query API under test, with a key prefix of its own; overrides are
    groups' fields as dicts (`deadlines={"read_wait_max_seconds": 0.3}`)."""
    return Settings(
        environment="test",
        postgres=PostgresSettings(url=postgres_url),
        redis=RedisSettings(url=redis_url, prefix=f"r{uuid.uuid4().hex[:10]}"),
    ).updated(**overrides)


def as_seller(seller: uuid.UUID) -> Context:
    return Context(datetime.now(UTC), str(seller), "seller", "req", "corr", "cause")


@asynccontextmanager
async def http_client(deps: ReadApiDeps) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on a query API built around deps."""
    transport = httpx.ASGITransport(app=create_app(deps))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@dataclass
class Reader:
    """A query API on a fresh schema and key prefix, with the command side that feeds it."""

    settings: Settings
    deps: ReadApiDeps
    commands: Commands
    worker: Worker[Any]
    client: httpx.AsyncClient

    def stocked_product(self, units: int = 10) -> tuple[uuid.UUID, uuid.UUID]:
        """A seller and a listed product with units received (not yet projected)."""
        seller, product = uuid.uuid4(), uuid.uuid4()
        ctx = as_seller(seller)
        self.commands.catalog.register_seller(seller, "Acme", "a@acme.test", ctx)
        self.commands.catalog.list_product(
            product, seller, "Lamp", "A red lamp", "home", {"color": "red"}, Money(1999, "EUR"), ctx
        )
        self.commands.receive_stock(product, units, ctx)
        return seller, product

    def receive(self, seller: uuid.UUID, product: uuid.UUID, units: int) -> Outcome:
        """Receive more units; the outcome names the log position written."""
        return self.commands.receive_stock(product, units, as_seller(seller))

    def project(self) -> int:
        """Project every event appended so far."""
        return self.worker.catch_up()

    def auth(self, sub: uuid.UUID, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.deps.tokens.issue(sub, role)}"}


@pytest.fixture
def commands(postgres_url: str) -> Iterator[Commands]:
    commands = Commands(eventsourcing_env(Settings(), postgres_url))
    yield commands
    commands.close()


@asynccontextmanager
async def open_reader(settings: Settings, commands: Commands) -> AsyncIterator[Reader]:
    """A Reader on the settings' stores; the view's keys are deleted afterwards."""
    deps = build_read_deps(settings)
    view = deps.product_detail.view
    env = eventsourcing_env(Settings(), settings.postgres.url)
    logs = [ContextLog(env, name) for name in deps.product_detail.logs]
    try:
        worker = Worker(ProductDetailProjection(), view, logs)
        async with http_client(deps) as client:
            yield Reader(settings, deps, commands, worker, client)
    finally:
        with contextlib.suppress(redis.ConnectionError):
            view.clear()
        view.client.close()
        await view.aclose()
        deps.catalog_search.view.close()
        deps.orders.view.close()
        for context_log in logs:
            context_log.close()


@pytest.fixture
async def reader(postgres_url: str, redis_server: str, commands: Commands) -> AsyncIterator[Reader]:
    """A query API with the default wait bound (2 s)."""
    async with open_reader(read_settings(postgres_url, redis_server), commands) as built:
        yield built
