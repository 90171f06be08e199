"""The event store contract, written once and run on every backend through the applications.

In-memory and PostgreSQL always run; KurrentDB runs when KURRENTDB_URI names a server.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Notification, RecordConflictError

from commands.base import ContextApplication, Outcome
from commands.errors import StaleVersion
from commands.services import Commands
from domain.base import Context, event_id
from domain.inventory import StockItem, stock_item_id
from domain.money import Money
from domain.seller import Seller
from infra.eventstore import eventsourcing_env
from infra.settings import EventStoreSettings, PostgresSettings, Settings

BACKENDS = [
    pytest.param("memory", id="memory"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]
if os.environ.get("KURRENTDB_URI"):
    BACKENDS.append(pytest.param("kurrentdb", id="kurrentdb", marks=pytest.mark.kurrentdb))

AT = datetime(2025, 3, 14, 15, 9, 26, 535897, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))

OpenCommands = Callable[..., Commands]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_env(backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The library environment of this run's event store."""
    if backend == "memory":
        return eventsourcing_env(Settings(events=EventStoreSettings(store="memory")))
    if backend == "postgres":
        settings = Settings(
            events=EventStoreSettings(store="postgres"),
            postgres=PostgresSettings(pool_size=2, max_overflow=4),
        )
        return eventsourcing_env(settings, request.getfixturevalue("postgres_url"))
    uri = os.environ["KURRENTDB_URI"]
    return eventsourcing_env(  # the personal-data keys live in PostgreSQL
        Settings(events=EventStoreSettings(store="kurrentdb", kurrentdb_uri=uri)),
        request.getfixturevalue("postgres_url"),
    )


@pytest.fixture
def open_commands(store_env: dict[str, str]) -> Iterator[OpenCommands]:
    """Opens Commands on this run's store; closes every one opened after the test."""
    opened: list[Commands] = []

    def open_(*, split_logs: bool = True) -> Commands:
        commands = Commands(store_env, split_logs=split_logs)
        opened.append(commands)
        return commands

    yield open_
    for commands in opened:
        commands.close()


@pytest.fixture
def commands(open_commands: OpenCommands) -> Commands:
    return open_commands()


def context(actor: UUID | str, *, role: str = "seller", at: datetime = AT) -> Context:
    """A command context with audit ids of its own."""
    tag = uuid4().hex
    return Context(
        at=at,
        actor=str(actor),
        role=role,
        request_id=f"req-{tag}",
        correlation_id=f"corr-{tag}",
        causation_id=f"cause-{tag}",
    )


def register_seller(commands: Commands, name: str = "Ada Goods") -> UUID:
    seller_id = uuid4()
    commands.catalog.register_seller(seller_id, name, "ada@example.com", context(seller_id))
    return seller_id


def list_product(commands: Commands, seller_id: UUID, price_minor: int = 1250) -> Outcome:
    return commands.catalog.list_product(
        uuid4(),
        seller_id,
        "Walnut desk",
        "Solid walnut, oiled.",
        "furniture",
        {"colour": "brown"},
        Money(price_minor, "EUR"),
        context(seller_id),
    )


def stored_events(app: ContextApplication, aggregate_id: UUID) -> list[Any]:
    """The aggregate's events as decoded from storage, bypassing the aggregate cache."""
    return list(app.events.get(aggregate_id))


def replay(app: ContextApplication, aggregate_id: UUID) -> Any:
    """The aggregate rebuilt from its stored events alone."""
    aggregate: Any = None
    for event in stored_events(app, aggregate_id):
        aggregate = event.mutate(aggregate)
    return aggregate


def log_of(
    app: ContextApplication, originators: set[UUID], after: int | None = None
) -> list[Notification]:
    """The notifications in the application's log after a position, for the given aggregates."""
    wanted = {str(o) for o in originators}
    found: list[Notification] = []
    while True:
        page = app.recorder.select_notifications(start=after, limit=100, inclusive_of_start=False)
        found.extend(n for n in page if str(n.originator_id) in wanted)
        if len(page) < 100:
            return found
        after = page[-1].id


def head_of(app: ContextApplication) -> int | None:
    """The application's last position before a test writes, so reads skip older events."""
    return app.recorder.max_notification_id()


def test_append_and_read_back_an_aggregate(commands: Commands) -> None:
    seller_id = register_seller(commands)
    listed = list_product(commands, seller_id)
    commands.catalog.reprice_product(
        listed.aggregate_id, Money(1999, "EUR"), context(seller_id), expected_version=0
    )
    received = commands.receive_stock(listed.aggregate_id, 7, context(seller_id))
    commands.receive_stock(listed.aggregate_id, 5, context(seller_id))

    product = replay(commands.catalog, listed.aggregate_id)
    assert product.id == listed.aggregate_id
    assert product.version == 1
    assert product.seller_id == seller_id
    assert product.price == Money(1999, "EUR")
    assert product.attributes == {"colour": "brown"}

    item = replay(commands.inventory, stock_item_id(listed.aggregate_id))
    assert isinstance(item, StockItem)
    assert received.aggregate_id == item.id
    assert (item.version, item.received, item.available) == (2, 12, 12)
    assert [type(e).__name__ for e in stored_events(commands.inventory, item.id)] == [
        "Opened",
        "StockReceived",
        "StockReceived",
    ]
    loaded = commands.inventory.stock_of(listed.aggregate_id)
    assert (loaded.version, loaded.received) == (item.version, item.received)


def test_second_of_two_saves_from_the_same_version_conflicts(commands: Commands) -> None:
    seller_id = register_seller(commands, "Original")
    app = commands.catalog
    first = app.load(seller_id, Seller)
    second = app.load(seller_id, Seller)
    first.update_profile("First", "first@example.com", context(seller_id))
    second.update_profile("Second", "second@example.com", context(seller_id))

    app.save(first)
    with pytest.raises(RecordConflictError):
        app.save(second)

    stored = replay(app, seller_id)
    assert (stored.version, stored.name) == (1, "First")
    assert [e.originator_version for e in stored_events(app, seller_id)] == [0, 1]


def test_change_at_a_stale_expected_version_is_refused(commands: Commands) -> None:
    seller_id = register_seller(commands)
    ctx = context(seller_id)
    commands.catalog.update_seller_profile(seller_id, "Ada Two", "two@example.com", ctx, 0)

    with pytest.raises(StaleVersion) as refused:
        commands.catalog.update_seller_profile(seller_id, "Ada Old", "old@example.com", ctx, 0)

    assert (refused.value.expected, refused.value.actual) == (0, 1)
    assert replay(commands.catalog, seller_id).name == "Ada Two"


def test_a_writer_that_wins_between_load_and_save_makes_the_change_stale(
    commands: Commands,
) -> None:
    seller_id = register_seller(commands)
    app = commands.catalog
    ctx = context(seller_id)

    def decide_after_a_rival_wins(seller: Seller) -> None:
        rival = app.load(seller_id, Seller)
        rival.update_profile("Rival One", "rival@example.com", ctx)
        rival.update_profile("Rival Two", "rival@example.com", ctx)
        app.save(rival)
        seller.update_profile("Loser", "loser@example.com", ctx)

    with pytest.raises(StaleVersion) as refused:
        app.change(seller_id, Seller, decide_after_a_rival_wins, expected_version=0)

    assert (refused.value.expected, refused.value.actual) == (0, 2)
    stored = replay(app, seller_id)
    assert (stored.version, stored.name) == (2, "Rival Two")


def test_metadata_and_occurred_at_survive_storage(commands: Commands) -> None:
    seller_id = uuid4()
    registering = context(seller_id, at=AT)
    updating = context("admin-1", role="admin", at=datetime(2025, 3, 15, 1, 2, 3, 4, tzinfo=IST))
    commands.catalog.register_seller(seller_id, "Ada", "ada@example.com", registering)
    commands.catalog.update_seller_profile(seller_id, "Ada B", "b@example.com", updating, 0)

    events = stored_events(commands.catalog, seller_id)
    assert [e.originator_version for e in events] == [0, 1]
    for event, ctx in zip(events, [registering, updating], strict=True):
        assert event.meta == ctx.meta_for(seller_id, event.originator_version)
        assert event.meta["event_id"] == str(event_id(seller_id, event.originator_version))
        assert event.timestamp == ctx.at
        assert event.timestamp.utcoffset() == ctx.at.utcoffset()
        assert event.occurred_at == ctx.at
    assert events[1].meta["actor"] == "admin-1"
    assert events[1].meta["role"] == "admin"

    again = stored_events(commands.catalog, seller_id)
    assert [e.meta["event_id"] for e in again] == [e.meta["event_id"] for e in events]


def test_event_ids_are_unique_across_streams_and_versions(commands: Commands) -> None:
    seller_id = register_seller(commands)
    products = [list_product(commands, seller_id).aggregate_id for _ in range(3)]
    for product_id in products:
        commands.receive_stock(product_id, 3, context(seller_id))

    ids = [e.meta["event_id"] for e in stored_events(commands.catalog, seller_id)]
    for product_id in products:
        ids += [e.meta["event_id"] for e in stored_events(commands.catalog, product_id)]
        stock = stored_events(commands.inventory, stock_item_id(product_id))
        ids += [e.meta["event_id"] for e in stock]
    assert len(ids) == 1 + 3 + 3 * 2
    assert len(set(ids)) == len(ids)


def test_positions_increase_and_match_the_stored_notifications(commands: Commands) -> None:
    seller_id = uuid4()
    ctx = context(seller_id)
    head = head_of(commands.catalog)
    outcomes = [commands.catalog.register_seller(seller_id, "Ada", "ada@example.com", ctx)]
    outcomes += [list_product(commands, seller_id, price_minor=100 + i) for i in range(4)]
    outcomes += [
        commands.catalog.reprice_product(o.aggregate_id, Money(999, "EUR"), ctx, 0)
        for o in outcomes[1:3]
    ]
    outcomes.append(commands.catalog.update_seller_profile(seller_id, "Ada B", "b@ex.com", ctx, 0))

    positions = [o.position for o in outcomes]
    assert all(isinstance(p, int) for p in positions)
    assert positions == sorted(set(positions))
    recorder = commands.catalog.recorder
    for outcome in outcomes:
        assert outcome.position is not None
        (at_position,) = recorder.select_notifications(start=outcome.position, limit=1)
        assert at_position.id == outcome.position
        assert str(at_position.originator_id) == str(outcome.aggregate_id)
        assert at_position.originator_version == outcome.version

    log = log_of(commands.catalog, {o.aggregate_id for o in outcomes}, after=head)
    assert [n.id for n in log] == positions
    assert [(str(n.originator_id), n.originator_version) for n in log] == [
        (str(o.aggregate_id), o.version) for o in outcomes
    ]


def test_a_save_of_several_events_reports_the_position_of_its_last(commands: Commands) -> None:
    head = head_of(commands.inventory)
    seller_id = register_seller(commands)
    product_id = list_product(commands, seller_id).aggregate_id
    opened = commands.receive_stock(product_id, 4, context(seller_id))
    topped_up = commands.receive_stock(product_id, 1, context(seller_id))

    log = log_of(commands.inventory, {opened.aggregate_id}, head)
    assert [n.originator_version for n in log] == [0, 1, 2]
    assert [n.id for n in log] == sorted({n.id for n in log})
    assert opened.version == 1
    assert opened.position == log[1].id
    assert topped_up.position == log[2].id


def test_concurrent_saves_each_report_the_position_of_their_own_event(
    commands: Commands,
) -> None:
    head = head_of(commands.catalog)
    writers = 16
    start = threading.Barrier(writers)
    outcomes: list[Outcome] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            start.wait()
            seller_id = uuid4()
            ctx = context(seller_id)
            outcome = commands.catalog.register_seller(seller_id, "Ada", "ada@example.com", ctx)
            outcomes.append(outcome)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=register) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(outcomes) == writers
    log = log_of(commands.catalog, {o.aggregate_id for o in outcomes}, head)
    position_of = {str(n.originator_id): n.id for n in log}
    assert len(log) == writers
    assert [n.id for n in log] == sorted({n.id for n in log})
    assert {str(o.aggregate_id): o.position for o in outcomes} == position_of


def test_split_logs_keep_each_context_in_its_own_log(
    open_commands: OpenCommands, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "kurrentdb":
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="every KurrentDB application reads the one $all log: logs are not split",
            )
        )
    commands = open_commands(split_logs=True)
    heads = head_of(commands.catalog), head_of(commands.inventory)
    seller_id = register_seller(commands)
    listed = list_product(commands, seller_id)
    stocked = commands.receive_stock(listed.aggregate_id, 2, context(seller_id))
    catalog_ids = {seller_id, listed.aggregate_id}

    assert (listed.log, stocked.log) == ("catalog", "inventory")
    catalog_log = log_of(commands.catalog, catalog_ids | {stocked.aggregate_id}, heads[0])
    inventory_log = log_of(commands.inventory, catalog_ids | {stocked.aggregate_id}, heads[1])
    assert {str(n.originator_id) for n in catalog_log} == {str(i) for i in catalog_ids}
    assert {str(n.originator_id) for n in inventory_log} == {str(stocked.aggregate_id)}
    assert not any("inventory" in n.topic for n in catalog_log)
    assert not any("product" in n.topic or "seller" in n.topic for n in inventory_log)


def test_unsplit_logs_put_every_context_in_one_log(
    open_commands: OpenCommands, backend: str, request: pytest.FixtureRequest
) -> None:
    commands = open_commands(split_logs=False)
    head = head_of(commands.catalog)
    seller_id = register_seller(commands)
    listed = list_product(commands, seller_id)
    stocked = commands.receive_stock(listed.aggregate_id, 2, context(seller_id))
    repriced = commands.catalog.reprice_product(
        listed.aggregate_id, Money(4321, "EUR"), context(seller_id), 0
    )
    ids = {seller_id, listed.aggregate_id, stocked.aggregate_id}

    assert {app.log_name for app in commands.applications} == {"marketplace"}
    assert {listed.log, stocked.log, repriced.log} == {"marketplace"}
    for app in (commands.catalog, commands.inventory):
        log = log_of(app, ids, head)
        assert [(str(n.originator_id), n.originator_version) for n in log] == [
            (str(seller_id), 0),
            (str(listed.aggregate_id), 0),
            (str(stocked.aggregate_id), 0),
            (str(stocked.aggregate_id), 1),
            (str(listed.aggregate_id), 1),
        ]
        assert [n.id for n in log] == sorted({n.id for n in log})
        assert log[3].id == stocked.position
        assert log[4].id == repriced.position
