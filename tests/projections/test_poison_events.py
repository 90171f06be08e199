"""A poison event on each policy, on real stores: stop, park, skip, then fix, retry and rebuild.

A shop is written through the command side; then one stored catalog event (a product's last
price change, with other products' events after it) gets a topic no code knows, as a bad
deploy or another writer could leave it. product-detail stops at it (its policy is STOP);
catalog-search parks it (PARK) and goes on. After the stored event is fixed, `marketplace
deadletters retry` applies it, the projection resumes, and both the view and a rebuild
equal a full replay. Processes and the CLI run as a user runs them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
import pytest
import redis
from psycopg import sql

from commands.services import Commands
from domain.base import Context, event_id
from domain.money import Money
from infra.eventstore import eventsourcing_env
from infra.settings import PostgresSettings, RedisSettings, Settings
from marketplace.projectors import opened
from marketplace.rebuild import rebuild
from projections.failures import ProjectionStopped
from projections.stores.postgres.deadletters import DeadLetter, dead_letters_at
from projections.stores.redis.unit import delete_matching
from tests.conftest import run_marketplace as marketplace
from tests.projections.rebuild_fixture import BY_ID, pointers

pytestmark = pytest.mark.postgres

UNKNOWN_TOPIC = "nowhere.gone:PriceChanged"
OLD_PRICE, NEW_PRICE = 1200, 999


@dataclass(frozen=True)
class Shop:
    """A shop whose catalog log holds one poison event, and the settings to project it."""

    settings: Settings
    env: dict[str, str]
    poison: int
    before: int
    topic: str
    product: uuid.UUID
    version: int

    def set_topic(self, topic: str) -> None:
        """Store topic as the poison event's topic (the unknown one, or its own to fix it)."""
        with psycopg.connect(str(self.settings.postgres.url), autocommit=True) as conn:
            conn.execute(
                "UPDATE catalog_events SET topic = %s WHERE notification_id = %s",
                (topic, self.poison),
            )

    def heads(self) -> dict[str, int]:
        """The last position of each log product-detail and catalog-search follow."""
        query = sql.SQL("SELECT max(notification_id) FROM {}")
        with psycopg.connect(str(self.settings.postgres.url)) as conn:
            return {
                log: conn.execute(query.format(sql.Identifier(f"{log}_events"))).fetchone()[0]  # type: ignore[index]
                for log in ("catalog", "inventory")
            }

    def letters(self) -> list[DeadLetter]:
        with dead_letters_at(str(self.settings.postgres.url)) as book:
            return book.letters()


def ctx(actor: uuid.UUID) -> Context:
    return Context(datetime.now(UTC), str(actor), "seller", "req", "corr", "cause")


def write_shop(commands: Commands) -> uuid.UUID:
    """A seller and four products; the second's price changes last among its events."""
    seller = uuid.uuid4()
    products = [uuid.uuid4() for _ in range(4)]
    commands.catalog.register_seller(seller, "Acme", "acme@x.test", ctx(seller))
    for n, product in enumerate(products[:3]):
        price = Money(OLD_PRICE, "EUR")
        commands.catalog.list_product(
            product, seller, f"Item {n}", "d", "home", {}, price, ctx(seller)
        )
        commands.receive_stock(product, 10 + n, ctx(seller))
    commands.catalog.reprice_product(products[1], Money(NEW_PRICE, "EUR"), ctx(seller), None)
    commands.catalog.list_product(
        products[3], seller, "Item 3", "d", "home", {}, Money(700, "EUR"), ctx(seller)
    )
    commands.receive_stock(products[3], 5, ctx(seller))
    commands.catalog.reprice_product(products[0], Money(1300, "EUR"), ctx(seller), None)
    return products[1]


@pytest.fixture
def shop(postgres_url: str, redis_server: str) -> Iterator[Shop]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    settings = Settings(
        postgres=PostgresSettings(url=postgres_url),
        redis=RedisSettings(url=redis_server, prefix=prefix),
    )
    commands = Commands(eventsourcing_env(settings, postgres_url))
    try:
        product = write_shop(commands)
    finally:
        commands.close()
    with psycopg.connect(postgres_url) as conn:
        poison, topic, version = conn.execute(
            "SELECT notification_id, topic, originator_version FROM catalog_events "
            "WHERE originator_id = %s ORDER BY originator_version DESC LIMIT 1",
            (product,),
        ).fetchone()  # type: ignore[misc]
        (before,) = conn.execute(
            "SELECT max(notification_id) FROM catalog_events WHERE notification_id < %s",
            (poison,),
        ).fetchone()  # type: ignore[misc]
    env = {
        "MARKETPLACE_POSTGRES_URL": postgres_url,
        "MARKETPLACE_REDIS_URL": redis_server,
        "MARKETPLACE_REDIS_PREFIX": prefix,
    }
    made = Shop(settings, env, poison, before, topic, product, version)
    made.set_topic(UNKNOWN_TOPIC)
    yield made
    with redis.Redis.from_url(redis_server) as client:
        delete_matching(client, f"{prefix}:*")


def positions(name: str, settings: Settings) -> dict[str, int]:
    with opened(name, settings, failures=False) as worker:
        return worker.view.positions()


def assert_equals_a_full_replay(name: str, backend: str, settings: Settings) -> None:
    """The live version and a rebuild both hold what a full replay of the logs gives."""
    target = BY_ID[f"{name}@{backend}"]
    replayed = target.replay(settings)
    assert target.dump(settings, pointers(name, settings)[0]) == replayed
    rebuilt = rebuild(name, settings, grace_seconds=0)
    assert target.dump(settings, rebuilt.version) == replayed


def test_stop_stops_at_the_poison_event_says_why_and_resumes_after_a_fix_and_retry(
    shop: Shop,
) -> None:
    run = marketplace("project", "product-detail", "--batch-size", "3", env=shop.env)

    assert run.returncode == 1, run.stderr
    assert f"product-detail stopped at catalog {shop.poison} (poison)" in run.stderr
    assert "TopicError" in run.stderr
    assert positions("product-detail", shop.settings)["catalog"] == shop.before
    (letter,) = shop.letters()
    assert (letter.projection, letter.log, letter.position) == (
        "product-detail",
        "catalog",
        shop.poison,
    )
    assert (letter.state, letter.kind, letter.attempts) == ("stopped", "poison", 1)
    assert letter.topic == UNKNOWN_TOPIC and letter.error.startswith("TopicError")
    assert letter.event_id == str(event_id(shop.product, shop.version))
    assert letter.stream == f"{shop.product}/{shop.version}"

    with opened("product-detail", shop.settings) as worker, pytest.raises(ProjectionStopped):
        worker.catch_up()  # a restart meets it again
    status = marketplace("status", env=shop.env)
    refused = marketplace("deadletters", "retry", str(letter.id), env=shop.env)

    assert status.returncode == 0, status.stderr
    assert f"product-detail STOPPED at catalog {shop.poison} (poison, 2 attempts" in status.stdout
    assert f"  ! {letter.error}" in status.stdout
    row = next(
        line
        for line in status.stdout.splitlines()
        if line.split()[:2] == ["product-detail", "catalog"]
    )
    assert row.split()[3] == str(shop.before)
    assert refused.returncode == 1 and "TopicError" in refused.stderr
    assert [(again.state, again.attempts) for again in shop.letters()] == [("stopped", 3)]

    shop.set_topic(shop.topic)
    retried = marketplace("deadletters", "retry", str(letter.id), "--actor", "ops", env=shop.env)

    assert retried.returncode == 0, retried.stderr
    assert positions("product-detail", shop.settings)["catalog"] == shop.poison
    (done,) = shop.letters()
    assert (done.state, done.resolved_by) == ("retried", "ops")
    with opened("product-detail", shop.settings) as worker:
        worker.catch_up()
        assert worker.view.positions() == shop.heads()
        assert worker.view.product(shop.product)["price_minor"] == NEW_PRICE  # type: ignore[attr-defined]
    assert "STOPPED" not in marketplace("status", env=shop.env).stdout
    assert_equals_a_full_replay("product-detail", "redis", shop.settings)


def test_park_parks_the_poison_event_goes_on_and_a_retry_applies_it_after_the_fix(
    shop: Shop,
) -> None:
    with opened("catalog-search", shop.settings) as worker:
        worker.catch_up()
        assert worker.view.positions() == shop.heads()

    (letter,) = shop.letters()
    assert (letter.projection, letter.position, letter.state) == (
        "catalog-search",
        shop.poison,
        "parked",
    )
    status = marketplace("status", env=shop.env)
    listed = marketplace("deadletters", "list", env=shop.env)
    shown = marketplace("deadletters", "show", str(letter.id), env=shop.env)

    assert "catalog-search: 1 events parked" in status.stdout
    assert "STOPPED" not in status.stdout
    assert [line.split()[:5] for line in listed.stdout.splitlines()[1:]] == [
        [str(letter.id), "catalog-search", "catalog", str(shop.poison), "parked"]
    ]
    fields = dict(line.split(None, 1) for line in shown.stdout.splitlines())
    assert (fields["topic"], fields["state"], fields["attempts"]) == (UNKNOWN_TOPIC, "parked", "1")

    shop.set_topic(shop.topic)
    retried = marketplace("deadletters", "retry", str(letter.id), env=shop.env)

    assert retried.returncode == 0, retried.stderr
    assert [letter.state for letter in shop.letters()] == ["retried"]
    assert positions("catalog-search", shop.settings) == shop.heads()
    assert_equals_a_full_replay("catalog-search", "postgres", shop.settings)


def test_skip_is_recorded_with_who_and_why_and_the_projection_passes_over_the_event(
    shop: Shop,
) -> None:
    with opened("product-detail", shop.settings) as worker, pytest.raises(ProjectionStopped):
        worker.catch_up()
    (letter,) = shop.letters()

    skipped = marketplace(
        "deadletters",
        "skip",
        str(letter.id),
        "--reason",
        "bad import",
        "--actor",
        "alice",
        env=shop.env,
    )
    again = marketplace("deadletters", "skip", str(letter.id), "--reason", "x", env=shop.env)

    assert skipped.returncode == 0, skipped.stderr
    (done,) = shop.letters()
    assert (done.state, done.resolved_by, done.reason) == ("skipped", "alice", "bad import")
    assert done.resolved_at is not None
    assert again.returncode == 1 and "skipped already" in again.stderr
    with opened("product-detail", shop.settings) as worker:
        worker.catch_up()
        assert worker.view.positions() == shop.heads()
        assert worker.view.product(shop.product)["price_minor"] == OLD_PRICE  # type: ignore[attr-defined]


def test_retry_and_skip_refuse_an_unknown_dead_letter(shop: Shop) -> None:
    retried = marketplace("deadletters", "retry", "424242", env=shop.env)
    skipped = marketplace("deadletters", "skip", "424242", "--reason", "x", env=shop.env)

    assert (retried.returncode, skipped.returncode) == (1, 1)
    assert "no dead letter 424242" in retried.stderr and "no dead letter 424242" in skipped.stderr
