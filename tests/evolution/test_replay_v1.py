"""Version 1 releases in a real PostgreSQL log replay, through the upcaster, to the same answers.

A market trades and hands units back for every reason checkout gives; then each
ReservationReleased row of the log is put back to the bytes version 1 wrote (no cause). The
stock items, two view rebuilds (catalog search on PostgreSQL, product detail on Redis) and the
analytics replay of stock movements answer exactly as over the version 2 log, and every
release gets the cause its reason names.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from psycopg import sql

from analytics.replay import STORE_FILE
from commands.services import Commands
from domain.inventory import RELEASE_CAUSES, StockItem, release_cause, stock_item_id
from infra.eventstore import eventsourcing_env
from infra.settings import PostgresSettings, RedisSettings, Settings
from marketplace.analytics import run_replay
from tests.evolution.samples import CORPUS, Sample, corpus_mapper
from tests.projections.rebuild_fixture import BY_ID, Market, as_actor

pytestmark = pytest.mark.postgres
RELEASED = "domain.inventory:StockItem.ReservationReleased"
REASONS = [*RELEASE_CAUSES, "a reason of the seller's own"]


@pytest.fixture
def settings(postgres_url: str, redis_server: str) -> Settings:
    return Settings(
        postgres=PostgresSettings(url=postgres_url),
        redis=RedisSettings(url=redis_server, prefix=f"t{uuid.uuid4().hex[:10]}"),
    )


@pytest.fixture
def market(settings: Settings, postgres_url: str) -> Iterator[Market]:
    commands = Commands(eventsourcing_env(settings, postgres_url))
    market = Market(commands, random.Random(15)).open(sellers=2, products=4, shoppers=3)
    market.trade(80)
    hand_back_for_every_reason(commands, list(market.products))
    yield market
    commands.close()


def hand_back_for_every_reason(commands: Commands, products: list[uuid.UUID]) -> None:
    """Hold units of each product and release them for each reason."""
    system = as_actor(uuid.UUID(int=0), "system")
    due = datetime.now(UTC) + timedelta(hours=1)
    for product in products:
        for reason in REASONS:
            order = uuid.uuid4()
            commands.inventory.reserve(product, order, 2, due, system)
            commands.inventory.release(product, order, reason, system)


def answers(settings: Settings, products: list[uuid.UUID], out: Path) -> dict[str, Any]:
    """What the stock items, two view rebuilds and an analytics replay say, read afresh."""
    commands = Commands(eventsourcing_env(settings, settings.postgres.url))
    try:
        items = {p: commands.inventory.stock_of(p) for p in products}
        releases = [
            (e.order_id, e.quantity, e.reason, e.cause)
            for p in products
            for e in commands.inventory.events.get(stock_item_id(p))
            if isinstance(e, StockItem.ReservationReleased)
        ]
    finally:
        commands.close()
    run_replay("stock-movements", settings, None, out, "duckdb")
    with duckdb.connect(str(out / STORE_FILE), read_only=True) as conn:
        movements = sorted(conn.execute("SELECT * FROM stock_movements").fetchall())
    return {
        "stock": {
            p: (i.version, i.received, i.reserved, i.sold, sorted(i.released_orders))
            for p, i in items.items()
        },
        "releases": sorted(releases),
        "catalog-search": BY_ID["catalog-search@postgres"].replay(settings),
        "product-detail": BY_ID["product-detail@redis"].replay(settings),
        "stock-movements": movements,
    }


def store_as_v1(postgres_url: str) -> int:
    """Put every release in the log back to the bytes version 1 wrote; how many."""
    transcoder = corpus_mapper().transcoder
    v1_sample = Sample.from_json((CORPUS / f"{RELEASED.replace(':', '.')}.v1.json").read_text())
    v1_fields = set(json.loads(v1_sample.state))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        table = "inventory_events"
        rows = conn.execute(
            sql.SQL("SELECT notification_id, state FROM {} WHERE topic = %s").format(
                sql.Identifier(table)
            ),
            (RELEASED,),
        ).fetchall()
        for notification_id, state in rows:
            fields = transcoder.decode(bytes(state))
            assert fields.pop("class_version") == 2
            del fields["cause"]
            assert set(json.loads(transcoder.encode(fields))) == v1_fields
            conn.execute(
                sql.SQL("UPDATE {} SET state = %s WHERE notification_id = %s").format(
                    sql.Identifier(table)
                ),
                (transcoder.encode(fields), notification_id),
            )
    return len(rows)


def test_version_1_releases_replay_to_the_same_answers(
    market: Market, settings: Settings, postgres_url: str, tmp_path: Path
) -> None:
    products = list(market.products)
    before = answers(settings, products, tmp_path / "v2")

    rewritten = store_as_v1(postgres_url)

    after = answers(settings, products, tmp_path / "v1")
    assert rewritten >= len(products) * len(REASONS)
    assert after == before
    causes = {(reason, cause) for _, _, reason, cause in after["releases"]}
    assert {(reason, release_cause(reason)) for reason in REASONS} <= causes
    assert {cause for _, cause in causes} >= {*RELEASE_CAUSES.values(), "other"}
