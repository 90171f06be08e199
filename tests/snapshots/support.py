"""Inventory and carts on this test's PostgreSQL, with or without snapshots, and their states."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg import sql

from commands.base import ContextApplication
from commands.carts import CartsApplication
from commands.inventory import InventoryApplication
from domain.base import Context, MarketplaceAggregate
from infra.eventstore import eventsourcing_env
from infra.settings import EventStoreSettings, Settings

SELLER = uuid4()


def ctx(actor: UUID = SELLER, role: str = "seller") -> Context:
    """A context acting now."""
    rid = uuid4().hex
    return Context(datetime.now(UTC), str(actor), role, rid, rid, rid)


def due_later() -> datetime:
    """An expiry for reservations well after the test."""
    return datetime.now(UTC) + timedelta(hours=1)


def env(postgres_url: str, every: int) -> dict[str, str]:
    """The event store's environment, snapshotting every so many events (0: never)."""
    return eventsourcing_env(
        Settings(events=EventStoreSettings(snapshot_every=every)), postgres_url
    )


@contextmanager
def inventory(postgres_url: str, every: int) -> Iterator[InventoryApplication]:
    """A fresh inventory application (nothing cached)."""
    app = InventoryApplication(env(postgres_url, every))
    try:
        yield app
    finally:
        app.close()


@contextmanager
def carts(postgres_url: str, every: int) -> Iterator[CartsApplication]:
    """A fresh carts application (nothing cached)."""
    app = CartsApplication(env(postgres_url, every))
    try:
        yield app
    finally:
        app.close()


def state(aggregate: MarketplaceAggregate) -> dict[str, Any]:
    """Everything an aggregate holds, its id and version included."""
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def snapshot_versions(app: ContextApplication, aggregate_id: UUID) -> list[int]:
    """The versions of the aggregate's stored snapshots, read from the recorder."""
    assert app.snapshots is not None
    stored = app.snapshots.recorder.select_events(aggregate_id)
    return [s.originator_version for s in stored]


def delete_snapshots(postgres_url: str, log: str) -> int:
    """Delete every snapshot of a log; how many there were."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        table = sql.Identifier(f"{log}_snapshots")
        return conn.execute(sql.SQL("DELETE FROM {}").format(table)).rowcount
