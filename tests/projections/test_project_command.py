"""`marketplace project` and `marketplace status` as a user runs them, and the one-log wiring."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import redis

from commands.services import Commands
from domain.base import Context
from domain.money import Money
from infra.eventstore import eventsourcing_env
from infra.settings import EventStoreSettings, PostgresSettings, RedisSettings, Settings
from marketplace.projectors import PROJECTORS, opened
from marketplace.status import lag_of, lag_table
from projections.product_detail.redis_view import RedisProductDetailView
from tests.conftest import run_marketplace as marketplace
from tests.projections.conftest import Workload, as_actor, view_prefix

pytestmark = pytest.mark.postgres


def test_an_unknown_projection_is_refused_with_the_known_names() -> None:
    result = marketplace("project", "nope", env={})

    assert result.returncode == 2
    assert "unknown projection 'nope'" in result.stderr
    assert all(name in result.stderr for name in PROJECTORS)


def lag_lines(output: str) -> list[str]:
    """The lines of status's first table (the positions), before what `up` recorded."""
    return output.split("\n\n")[0].splitlines()


def test_status_prints_each_log_head_position_and_lag(
    postgres_url: str, redis_server: str, commands: Commands, prefix: str, tmp_path: Path
) -> None:
    workload = Workload(commands, random.Random(3))
    workload.open_shop(sellers=1, products=2)
    settings = Settings(
        postgres=PostgresSettings(url=postgres_url),
        redis=RedisSettings(url=redis_server, prefix=prefix),
    )
    env = {
        "MARKETPLACE_POSTGRES_URL": postgres_url,
        "MARKETPLACE_REDIS_URL": redis_server,
        "MARKETPLACE_REDIS_PREFIX": prefix,
        "MARKETPLACE_DATA_DIR": str(tmp_path),
    }
    try:
        behind = marketplace("status", env=env)
        for name in ("product-detail", "catalog-search", "marketplace-figures"):
            with opened(name, settings) as worker:
                worker.catch_up()
        caught_up = marketplace("status", env=env)
    finally:
        RedisProductDetailView(redis.Redis.from_url(redis_server), view_prefix(prefix)).clear()

    assert behind.returncode == 0, behind.stderr
    assert caught_up.returncode == 0, caught_up.stderr
    assert behind.stdout.rstrip().endswith(f"no `marketplace up` has run on {tmp_path}")
    rows = [line.split() for line in lag_lines(behind.stdout)]
    assert rows[0] == [
        "projection",
        "log",
        "head",
        "position",
        "behind",
        "seconds",
        "behind",
        "complete",
    ]
    heads = {"catalog": 3, "inventory": 4}
    assert {(row[0], row[1]) for row in rows[1:]} == {
        ("product-detail", "catalog"),
        ("product-detail", "inventory"),
        ("carts", "carts"),
        ("catalog-search", "catalog"),
        ("catalog-search", "inventory"),
        ("orders", "orders"),
        ("orders", "customers"),
        ("seller-sales", "orders"),
        ("marketplace-figures", "catalog"),
        ("marketplace-figures", "carts"),
        ("marketplace-figures", "orders"),
        ("checkout", "orders"),
        ("labels", "orders"),
        ("labels", "customers"),
        ("images", "catalog"),
        ("notifications", "customers"),
        ("notifications", "catalog"),
        ("notifications", "orders"),
    }
    for row in [row for row in rows[1:] if row[1] in heads]:
        name, log, head, position, events, seconds, complete = row
        assert complete == ("-" if name in ("notifications", "images") else "no")
        assert (int(head), int(position), int(events)) == (
            heads[log],
            0,
            heads[log],
        )
        assert float(seconds) > 0
    complete = {"product-detail": "yes", "catalog-search": "yes", "carts": "no"}
    complete |= {"marketplace-figures": "yes"}
    complete |= {"orders": "no", "seller-sales": "no"}
    for row in [line.split() for line in lag_lines(caught_up.stdout)][1:]:
        if row[0] in ("notifications", "images") and row[1] == "catalog":  # workers not run
            assert row[2:5] == [str(heads["catalog"]), "0", str(heads["catalog"])]
        else:
            assert row[3:6] == [row[2], "0", "0.0"]
        assert row[6] == complete.get(row[0], "-"), row


def test_status_shows_an_undecodable_event_as_an_error_and_reads_the_rest(
    postgres_url: str, redis_server: str, commands: Commands, prefix: str
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO catalog_events (originator_id, originator_version, topic, state) "
            "VALUES (%s, 0, 'nowhere:Gone', %s)",
            (uuid.uuid4(), b"{}"),
        )
    Workload(commands, random.Random(4)).open_shop(sellers=1, products=1)
    env = {
        "MARKETPLACE_POSTGRES_URL": postgres_url,
        "MARKETPLACE_REDIS_URL": redis_server,
        "MARKETPLACE_REDIS_PREFIX": prefix,
    }

    result = marketplace("status", env=env)

    assert result.returncode == 0, result.stderr
    lines = lag_lines(result.stdout)
    rows = {tuple(line.split()[:2]) for line in lines[1:] if not line.startswith("  !")}
    assert ("carts", "carts") in rows and ("checkout", "orders") in rows
    catalog = [
        n for n, line in enumerate(lines) if line.split()[:2] == ["product-detail", "catalog"]
    ]
    assert lines[catalog[0] + 1].startswith("  ! next event unreadable: TopicError")


def test_one_shared_log_is_followed_past_other_contexts_events(
    postgres_url: str, redis_server: str, prefix: str
) -> None:
    settings = Settings(
        events=EventStoreSettings(split_logs=False),
        postgres=PostgresSettings(url=postgres_url),
        redis=RedisSettings(url=redis_server, prefix=prefix),
    )
    commands = Commands(eventsourcing_env(settings), split_logs=False)
    seller, product, shopper = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ctx = as_actor(seller)
    shopping = Context(datetime.now(UTC), str(shopper), "customer", "r", "c", "c")
    try:
        commands.catalog.register_seller(seller, "Acme", "a@acme.test", ctx)
        commands.catalog.list_product(
            product, seller, "Lamp", "d", "home", {}, Money(9, "EUR"), ctx
        )
        commands.receive_stock(product, 5, ctx)
        commands.customers.register_customer(shopper, "Ann", "ann@x.test", shopping)
        cart, _ = commands.carts.create_cart(shopper, shopping)
        commands.add_to_cart(cart.aggregate_id, product, 1, shopping)

        with opened("product-detail", settings) as worker:
            assert worker.catch_up() == 7
            doc = worker.view.product(product)  # type: ignore[attr-defined]
            lag = lag_of(worker)
            worker.view.clear()  # type: ignore[attr-defined]
    finally:
        commands.close()

    assert doc is not None and doc["units_available"] == 5
    assert [(row.log, row.events, row.seconds) for row in lag] == [("marketplace", 0, 0.0)]
    assert "marketplace" in lag_table(lag)
