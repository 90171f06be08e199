"""The audit reader's contract, written once and run on every event store it reads:
PostgreSQL always, KurrentDB when KURRENTDB_URI names a server (never faked)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from kurrentdbclient import KurrentDBClient
from psycopg.sql import SQL

from auditapi.events import EventDecoder, Recorded
from auditapi.kurrentdb_reader import KurrentDBEventReader
from auditapi.postgres_reader import PostgresEventReader, table_of
from auditapi.queries import trace_point
from auditapi.reader import (
    CONTEXTS,
    WHOLE_STREAM,
    EventReader,
    LogQuery,
    StreamQuery,
    TracePoint,
)
from commands.services import Commands
from domain.inventory import stock_item_id
from infra.audit.logs import chain_hashes
from infra.eventstore import eventsourcing_env, search_path_of
from infra.personal.keys import PostgresKeyStore
from infra.postgres_pool import postgres_pool
from infra.postgres_recorder import ArrayInsertPostgresRecorder
from infra.settings import EventStoreSettings, PostgresSettings, Settings
from marketplace.bootstrap import log_tables
from tests.support.audit import START, Shop, open_shop

BACKENDS = [pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]
if os.environ.get("KURRENTDB_URI"):
    BACKENDS.append(pytest.param("kurrentdb", id="kurrentdb", marks=pytest.mark.kurrentdb))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def commands(backend: str, request: pytest.FixtureRequest) -> Iterator[Commands]:
    if backend == "postgres":
        settings = Settings(postgres=PostgresSettings(pool_size=2, max_overflow=4))
        env = eventsourcing_env(settings, request.getfixturevalue("postgres_url"))
    else:
        uri = os.environ["KURRENTDB_URI"]
        store = EventStoreSettings(
            store="kurrentdb", kurrentdb_uri=uri, encrypt_personal_data=False
        )
        env = eventsourcing_env(Settings(events=store))
    opened = Commands(env)
    yield opened
    opened.close()


@pytest.fixture
def reader(
    backend: str, commands: Commands, request: pytest.FixtureRequest
) -> Iterator[EventReader]:
    opened: EventReader
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        schema = search_path_of(url) or "public"
        tables = {app.log_name: table_of(app.log_name) for app in commands.applications}
        pool = postgres_pool(url, max_size=2)
        decoder = EventDecoder(PostgresKeyStore(pool.connection, schema))
        opened = PostgresEventReader(pool, schema, tables, decoder)
    else:
        opened = KurrentDBEventReader(KurrentDBClient(os.environ["KURRENTDB_URI"]), CONTEXTS)
    yield opened
    opened.close()


@pytest.fixture
def shop(commands: Commands) -> Shop:
    return open_shop(commands)


def test_the_logs_are_the_contexts(reader: EventReader) -> None:
    assert reader.logs == CONTEXTS


@pytest.mark.postgres
def test_the_tables_read_are_those_the_library_writes(postgres_url: str) -> None:
    commands = Commands(eventsourcing_env(Settings(), postgres_url))
    try:
        schema = search_path_of(postgres_url)
        expected = {
            app.log_name: f"{schema}.{table_of(app.log_name)}" for app in commands.applications
        }
        assert log_tables(commands) == expected
    finally:
        commands.close()


def test_a_stream_is_read_in_version_order_and_paged(reader: EventReader, shop: Shop) -> None:
    item = stock_item_id(shop.product_id)
    whole = reader.stream(item, WHOLE_STREAM, 100)
    assert [r.stored.originator_version for r in whole] == [0, 1, 2]
    assert [r.type for r in whole] == [
        "StockItem.Opened",
        "StockItem.StockReceived",
        "StockItem.UnitsReserved",
    ]
    assert {r.log for r in whole} == {"inventory"}
    assert [r.position for r in whole] == sorted(r.position for r in whole)
    assert all(r.stream_id == item for r in whole)
    after_first = reader.stream(item, StreamQuery(after_version=0), 1)
    assert [r.stored.originator_version for r in after_first] == [1]
    up_to_second = reader.stream(item, StreamQuery(to_version=1), 100)
    assert [r.stored.originator_version for r in up_to_second] == [0, 1]
    assert reader.stream(item, StreamQuery(after_version=2), 10) == []


def test_the_head_is_the_last_position_of_the_log(reader: EventReader, shop: Shop) -> None:
    (fulfilment,) = reader.log("orders", LogQuery(event_type="Fulfilment.Opened"), 100)[-1:]
    assert reader.head("orders") >= fulfilment.position
    assert reader.log("orders", LogQuery(after=reader.head("orders")), 10) == []


def test_an_unknown_stream_reads_empty(reader: EventReader) -> None:
    assert reader.stream(uuid4(), WHOLE_STREAM, 10) == []


def test_a_log_is_filtered_by_type_actor_time_stream_and_position(
    reader: EventReader, shop: Shop
) -> None:
    mine = LogQuery(actor=str(shop.seller_id))
    seller_events = reader.log("catalog", mine, 100)
    assert [r.type for r in seller_events] == ["Seller.Registered", "Product.Listed"]
    listed = reader.log(
        "catalog", LogQuery(event_type="Product.Listed", stream_id=shop.product_id), 100
    )
    assert [r.stream_id for r in listed] == [shop.product_id]
    first, second = seller_events
    assert reader.log(
        "catalog", LogQuery(after=first.position, actor=str(shop.seller_id)), 100
    ) == [second]
    upto = LogQuery(actor=str(shop.seller_id), until_position=first.position)
    assert reader.log("catalog", upto, 100) == [first]
    assert reader.log("catalog", mine, 1) == [first]
    second_minute = START + timedelta(minutes=2)
    timed = LogQuery(
        actor=str(shop.seller_id), since=second_minute, until=second_minute + timedelta(minutes=1)
    )
    assert reader.log("catalog", timed, 100) == [second]
    assert reader.log("catalog", LogQuery(actor=str(uuid4())), 100) == []


def test_a_flow_is_found_across_contexts(reader: EventReader, shop: Shop) -> None:
    found = reader.correlated(shop.correlation_id, 100)
    assert {(r.log, r.type) for r in found} == {
        ("orders", "Order.Placed"),
        ("carts", "Cart.Cleared"),
        ("inventory", "StockItem.UnitsReserved"),
        ("orders", "Order.StockReserved"),
        ("orders", "Order.PaymentAuthorised"),
        ("orders", "Order.Confirmed"),
        ("orders", "Fulfilment.Opened"),
    }
    assert len(reader.correlated(shop.correlation_id, 3)) == 3
    assert reader.correlated(f"none-{uuid4()}", 10) == []


def test_a_flow_is_paged_in_trace_order_with_a_cursor(reader: EventReader, shop: Shop) -> None:
    whole = reader.correlated(shop.correlation_id, 100)
    points = [trace_point(reader.decoder.document(r)) for r in whole]
    assert len(whole) == 7 and points == sorted(points) and len(set(points)) == 7
    paged: list[Recorded] = []
    after: TracePoint | None = None
    while page := reader.correlated(shop.correlation_id, 2, after):
        assert len(page) <= 2
        paged.extend(page)
        after = TracePoint.decode(trace_point(reader.decoder.document(page[-1])).encode())
    assert paged == whole
    assert reader.correlated(shop.correlation_id, 10, points[-1]) == []
    assert reader.correlated(shop.correlation_id, 10, points[3]) == whole[4:]


def test_an_event_decodes_to_plain_json(reader: EventReader, shop: Shop) -> None:
    (placed,) = [r for r in reader.stream(shop.order_id, WHOLE_STREAM, 1)]
    document = reader.decoder.document(placed)
    assert document["payload"]["ship_to"]["city"] == "Lyon"  # sealed personal data, opened
    assert document["stream_id"] == str(shop.order_id)
    assert (document["log"], document["version"], document["type"]) == ("orders", 0, "Order.Placed")
    assert document["position"] == placed.position
    assert document["timestamp"].startswith("2026-03-01T09:")
    (line,) = document["payload"]["lines"]
    assert line["product_id"] == str(shop.product_id)
    assert line["unit_price"] == {"minor": 4999, "currency": "EUR"}
    assert document["payload"]["customer_id"] == str(shop.shopper_id)
    meta = document["metadata"]
    assert (meta["actor"], meta["role"]) == (str(shop.shopper_id), "shopper")
    assert (meta["correlation_id"], meta["causation_id"]) == (shop.correlation_id, "req-checkout")
    assert UUID(meta["event_id"]) and meta["request_id"].startswith("req-")
    assert document["chain_hash"] is None


def test_chain_hashes_are_those_the_appends_chained(
    backend: str, reader: EventReader, commands: Commands, shop: Shop
) -> None:
    order = reader.stream(shop.order_id, WHOLE_STREAM, 10)
    positions = [r.position for r in order]
    hashes = reader.chain_hashes("orders", positions)
    expected = chain_hashes(commands.orders.recorder, positions)
    assert hashes == expected
    if backend == "postgres":
        assert sorted(hashes) == positions and all(len(h) == 64 for h in hashes.values())
    assert reader.chain_hashes("orders", []) == {}


POSTGRES_ONLY = pytest.mark.parametrize("backend", ["postgres"])  # the correlation tables


@pytest.mark.postgres
@POSTGRES_ONLY
def test_a_trace_reads_only_its_own_events_through_the_correlation_index(
    reader: EventReader, shop: Shop
) -> None:
    """The plan of a trace page: an index scan of each log's correlation table, then the
    flow's events by position; no log is scanned (with sequential scans priced out, as the
    planner would on logs of real size: on these small tables it may prefer a scan)."""
    assert isinstance(reader, PostgresEventReader)
    statement = SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + reader.trace_statement(reader.logs, None)
    params = {"correlation": shop.correlation_id, "limit": 100}
    with reader.pool.connection() as conn, conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        ((plan,),) = conn.execute(statement, params).fetchall()
    nodes = list(plan_nodes(plan[0]["Plan"]))
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan"]
    read = {
        n["Relation Name"]: n["Actual Rows"] * n["Actual Loops"]
        for n in nodes
        if "Relation Name" in n
    }
    assert {name for name in read if name.endswith("_correlation")} == {
        f"{table_of(log)}_correlation" for log in CONTEXTS
    }
    assert sum(rows for name, rows in read.items() if name.endswith("_events")) == 7


@pytest.mark.postgres
@POSTGRES_ONLY
def test_the_correlation_index_is_backfilled_once_at_upgrade(
    reader: EventReader, commands: Commands, shop: Shop
) -> None:
    before = reader.correlated(shop.correlation_id, 100)
    recorder = commands.orders.recorder
    assert isinstance(recorder, ArrayInsertPostgresRecorder)
    with recorder.datastore.get_connection() as conn:
        conn.execute(SQL("DROP TABLE {}").format(recorder.correlation.qualified))
        assert recorder.correlation.create_and_backfill(conn) >= 5
        assert recorder.correlation.create_and_backfill(conn) == 0
    assert reader.correlated(shop.correlation_id, 100) == before


def plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A plan node and every node under it."""
    yield node
    for child in node.get("Plans", []):
        yield from plan_nodes(child)
