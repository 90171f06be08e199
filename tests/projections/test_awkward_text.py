"""Events holding awkward text project on every store, and every view gives the text back.

The domain refuses NUL and lone surrogates now, but old events and other writers may hold
anything. So a history is written through the command side with an ASCII marker in each text
field, then each marker is replaced in the stored JSON (`<context>_events.state`) by an awkward
text: a NUL and lone surrogates (JSON escapes), U+202E, emoji with a ZWJ sequence and a flag,
Hebrew and Arabic, and in the longest fields 10,000 random four-byte characters (40,000 UTF-8
bytes that compress to no less than 17,000: past Lucene's 32,766-byte term and PostgreSQL's
index row). Each projection then catches up from 0 one batch at a time (a failing batch
raises, where a worker would retry it), and its view must read back every text with NUL and
lone surrogates as U+FFFD and all else unchanged. OpenSearch keeps the 10,000-character
keywords in their documents without indexing them. The label worker appends LabelAttached
events; the other tests compare positions with the heads they read, so any order will do.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import redis.asyncio
from psycopg import sql
from psycopg_pool import ConnectionPool

from commands.services import Commands
from domain.base import Context
from domain.fulfilment import fulfilment_id
from domain.inventory import StockItem, stock_item_id
from domain.money import Money
from domain.order import Order, order_id_for
from domain.order_lines import OrderLine
from infra.blobs import LocalBlobStore
from infra.eventstore import eventsourcing_env, with_search_path
from infra.labels import LabelContent, address_lines, render_label
from infra.settings import (
    BlobSettings,
    EventStoreSettings,
    PostgresSettings,
    RedisSettings,
    Settings,
)
from infra.stores import stores
from marketplace.projectors import opened
from projections.carts.redis_view import CartLines
from projections.catalog_search.search import SearchQuery
from projections.product_detail.redis_view import RedisProductDetailView
from projections.runtime import Worker
from projections.versions import READERS
from tests.projections.orders_fixture import drop_schema, fresh_schema
from tests.projections.rebuild_fixture import versions_of
from workers import labels
from workers.checkout.book import PostgresCheckoutBook
from workers.checkout.book_projection import CheckoutBookProjection
from workers.labels import label_key
from workers.logs import context_logs
from workers.notify import sender as notify

pytestmark = pytest.mark.postgres

AWKWARD = (
    "\u202eoverride \U0001f469\u200d\U0001f4bb \U0001f1eb\U0001f1f7 "
    "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627"
)
"""An RTL override, a ZWJ emoji sequence, a flag, Hebrew and Arabic: shown as they are."""
UNSTORABLE_JSON = "nul\\u0000 high\\ud800 low\\uDFFF"
UNSTORABLE_SHOWN = "nul\ufffd high\ufffd low\ufffd"
EMOJI = [chr(code) for code in range(0x1F300, 0x1F650)]
LONG = "".join(random.Random(20251128).choices(EMOJI, k=10_000))
"""10,000 emoji drawn at random (40,000 UTF-8 bytes), so that no store compresses them much."""
SHORT_FIELDS = [
    *("seller", "seller_email", "renamed_email", "attribute", "delist", "adjust"),
    *("kettle", "kettle_text", "kettle_category", "kettle_attribute"),
    *("customer_email", "line1", "line2", "city", "postal_code", "from_name", "from_line1"),
    *("payment", "voided", "refund", "payment_failure", "request"),
]
LONG_FIELDS = [
    *("renamed", "lampshade", "lamp_text", "lamp_category", "attribute_value"),
    *("customer", "ship_name", "cancel"),
]


@dataclass(frozen=True)
class Text:
    """One field's awkward text: the marker written, what replaces it, what views show."""

    marker: str
    stored: bytes
    shown: str


def awkward(tag: str, long: bool) -> Text:
    """The field's text: its tag (a plain word, to tell fields apart), then the awkward part."""
    tail = f" {AWKWARD} {LONG}" if long else f" {AWKWARD}"
    stored = f"{tag} {UNSTORABLE_JSON}{tail}".encode()
    return Text(f"~{tag}~", stored, f"{tag} {UNSTORABLE_SHOWN}{tail}")


TEXTS = {tag: awkward(tag, False) for tag in SHORT_FIELDS}
TEXTS |= {tag: awkward(tag, True) for tag in LONG_FIELDS}
M = {tag: text.marker for tag, text in TEXTS.items()}
"""The marker the command side writes in each field."""
S = {tag: text.shown for tag, text in TEXTS.items()}
"""What a view must show for each field."""
ADDRESS = ("line1", "line2", "city", "postal_code")
SHIP_TO = {"name": M["ship_name"], **{part: M[part] for part in ADDRESS}, "country": "FR"}
SHIP_FROM = {**SHIP_TO, "name": M["from_name"], "line1": M["from_line1"], "country": "PL"}
SHOWN_TO = {"name": S["ship_name"], **{part: S[part] for part in ADDRESS}, "country": "FR"}
SHOWN_FROM = {**SHOWN_TO, "name": S["from_name"], "line1": S["from_line1"], "country": "PL"}
PRICE = Money(1500, "EUR")
PDF = "application/pdf"


@dataclass(frozen=True)
class History:
    """The ids the awkward history holds, and the URL of its event store."""

    url: str
    seller: uuid.UUID
    lamp: uuid.UUID
    kettle: uuid.UUID
    delisted: uuid.UUID
    customer: uuid.UUID
    cart: uuid.UUID
    shipped: uuid.UUID
    cancelled: uuid.UUID
    failed: uuid.UUID
    unlabelled: uuid.UUID


def ctx() -> Context:
    return Context(datetime.now(UTC), str(uuid.UUID(int=0)), "admin", M["request"], "corr", "c")


def write_catalog(commands: Commands) -> tuple[uuid.UUID, ...]:
    """A renamed seller, a product listed, one described after listing, one delisted; stock."""
    catalog, seller = commands.catalog, uuid.uuid4()
    lamp, kettle, delisted = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    catalog.register_seller(seller, M["seller"], f"{M['seller_email']}@x.test", ctx())
    catalog.update_seller_profile(seller, M["renamed"], f"{M['renamed_email']}@x.test", ctx(), None)
    lamp_text = (M["lampshade"], M["lamp_text"], M["lamp_category"])
    attributes = {M["attribute"]: M["attribute_value"]}
    catalog.list_product(lamp, seller, *lamp_text, attributes, PRICE, ctx())
    catalog.list_product(kettle, seller, "Plain", "plain", "plain", {}, PRICE, ctx())
    kettle_text = (M["kettle"], M["kettle_text"], M["kettle_category"])
    catalog.update_product(kettle, *kettle_text, {"colour": M["kettle_attribute"]}, ctx(), None)
    catalog.list_product(delisted, seller, "Gone", "gone", "plain", {}, PRICE, ctx())
    catalog.delist_product(delisted, M["delist"], ctx(), None)
    commands.receive_stock(lamp, 10, ctx())
    stock = stock_item_id(lamp)
    commands.inventory.change(stock, StockItem, lambda item: item.adjust(1, M["adjust"], ctx()))
    return seller, lamp, kettle, delisted


def place(commands: Commands, customer: uuid.UUID, line: OrderLine) -> Order:
    key, at = uuid.uuid4().hex, ctx()
    expires_at = at.at + timedelta(hours=1)
    order = Order.place(order_id_for(customer, key), customer, [line], expires_at, key, SHIP_TO, at)
    commands.orders.place(order)
    return order


def paid(commands: Commands, order: Order, payment_id: str) -> None:
    commands.orders.reserve_stock(order.id, ctx())
    commands.orders.authorise_payment(order.id, payment_id, order.total, ctx())
    commands.orders.confirm(order.id, ctx())


def write_orders(
    commands: Commands, customer: uuid.UUID, seller: uuid.UUID, lamp: uuid.UUID
) -> tuple[uuid.UUID, ...]:
    """Orders shipped and refunded, cancelled, failed, and two fulfilments opened."""
    orders = commands.orders
    shipped = place(commands, customer, OrderLine(lamp, seller, M["lampshade"], PRICE, 2))
    paid(commands, shipped, M["payment"])
    orders.advance_part(shipped.id, seller, Order.ship, ctx())
    orders.refund(shipped.id, M["refund"], Money(100, "EUR"), ctx())
    orders.open_fulfilment(shipped, seller, SHIP_FROM, ctx())
    cancelled = place(commands, customer, OrderLine(lamp, seller, M["lampshade"], PRICE, 1))
    paid(commands, cancelled, M["voided"])
    orders.cancel(cancelled.id, M["cancel"], ctx())
    failed = place(commands, customer, OrderLine(lamp, seller, M["lampshade"], PRICE, 1))
    orders.reserve_stock(failed.id, ctx())
    orders.fail_payment(failed.id, M["payment_failure"], ctx())
    unlabelled = place(commands, customer, OrderLine(lamp, seller, M["lampshade"], PRICE, 3))
    paid(commands, unlabelled, "plain-payment-id")
    orders.open_fulfilment(unlabelled, seller, None, ctx())  # the label shows the seller's name
    return shipped.id, cancelled.id, failed.id, unlabelled.id


def write_history(url: str) -> History:
    """Every kind of event with text, through the command side, markers for the texts.
    Personal data is written unsealed, as before sealing existed, so that its awkward text
    too is in the stored rows (sealed, it would be ciphertext)."""
    unsealed = Settings(events=EventStoreSettings(encrypt_personal_data=False))
    commands = Commands(eventsourcing_env(unsealed, url))
    try:
        seller, lamp, kettle, delisted = write_catalog(commands)
        customer = uuid.uuid4()
        email = f"{M['customer_email']}@x.test"
        commands.customers.register_customer(customer, M["customer"], email, ctx())
        cart, _ = commands.carts.create_cart(customer, ctx())
        commands.add_to_cart(cart.aggregate_id, lamp, 2, ctx())
        orders = write_orders(commands, customer, seller, lamp)
    finally:
        commands.close()
    return History(url, seller, lamp, kettle, delisted, customer, cart.aggregate_id, *orders)


def rewrite_markers(url: str) -> None:
    """Replace each marker in every stored event by its awkward text; each must be found."""
    found: set[str] = set()
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name LIKE '%\\_events'"
        ).fetchall()
        for (table,) in tables:
            name = sql.Identifier(table)
            rows = conn.execute(sql.SQL("SELECT notification_id, state FROM {}").format(name))
            for position, state in rows.fetchall():
                new = bytes(state)
                for tag, text in TEXTS.items():
                    if text.marker.encode() in new:
                        found.add(tag)
                        new = new.replace(text.marker.encode(), text.stored)
                update = sql.SQL("UPDATE {} SET state = %s WHERE notification_id = %s")
                conn.execute(update.format(name), (new, position))
    assert found == set(TEXTS)


@pytest.fixture(scope="module")
def history(postgres_server: str) -> Iterator[History]:
    """The awkward history, in a schema of its own that this module's tests share."""
    schema = fresh_schema(postgres_server)
    url = with_search_path(postgres_server, schema)
    written = write_history(url)
    rewrite_markers(url)
    yield written
    drop_schema(postgres_server, schema)


def project(worker: Worker[Any]) -> None:
    """Project every log to its head one batch at a time (an error raises, not retried)."""
    heads = {log.log_name: log.head() for log in worker.logs}
    while any(worker.positions().get(name, 0) < head for name, head in heads.items()):
        assert worker.step() > 0
    assert worker.view.positions() == heads
    assert all(heads.values())


@contextmanager
def projected(
    name: str, history: History, redis_url: str, opensearch_url: str | None = None
) -> Iterator[Any]:
    """The named projector's view, on the history's stores under prefixes of its own, projected
    to the heads of its logs; every version of it is dropped after."""
    settings = Settings(
        postgres=PostgresSettings(url=history.url),
        redis=RedisSettings(url=redis_url, prefix=f"t{uuid.uuid4().hex[:10]}"),
    )
    if opensearch_url is not None:
        prefix = f"t{uuid.uuid4().hex[:10]}-"
        settings = settings.updated(opensearch={"url": opensearch_url, "index_prefix": prefix})
    try:
        with opened(name, settings) as worker:
            project(worker)
            yield worker.view
    finally:
        versions = versions_of(name, settings)
        try:
            for version in versions.existing():
                versions.drop(version)
        finally:
            versions.close()


def details(doc: dict[str, Any]) -> tuple[Any, ...]:
    return doc["title"], doc["description"], doc["category"], doc["attributes"]


def test_the_long_text_is_past_every_store_limit() -> None:
    stored = LONG.encode()
    assert len(LONG) == 10_000 and len(stored) == 40_000
    assert len(zlib.compress(stored, 9)) > 16_000


def test_product_detail_on_redis(history: History, redis_server: str) -> None:
    with projected("product-detail", history, redis_server) as view:
        lamp, kettle = view.product(history.lamp), view.product(history.kettle)
        delisted = view.product(history.delisted)
        body = asyncio.run(product_json(redis_server, view.base, history.lamp))

    lamp_text = (S["lampshade"], S["lamp_text"], S["lamp_category"])
    kettle_text = (S["kettle"], S["kettle_text"], S["kettle_category"])
    assert details(lamp) == (*lamp_text, {S["attribute"]: S["attribute_value"]})
    assert details(kettle) == (*kettle_text, {"colour": S["kettle_attribute"]})
    assert (lamp["seller_name"], lamp["units_available"]) == (S["renamed"], 11)
    assert (lamp["delisted"], kettle["delisted"], delisted["delisted"]) == (False, False, True)
    assert (details(body), body["seller"]["name"]) == (details(lamp), S["renamed"])


async def product_json(redis_url: str, base: str, product: uuid.UUID) -> Any:
    """The query API's body for a product, as Redis renders it from the readers' version."""
    client = redis.Redis.from_url(redis_url)
    reader = redis.asyncio.Redis.from_url(redis_url)
    view = RedisProductDetailView(client, base, reader, follows=READERS)
    try:
        body = await view.product_json_async(str(product))
    finally:
        await view.aclose()
        client.close()
    assert body is not None
    return json.loads(body)


def test_carts_on_redis(history: History, redis_server: str) -> None:
    """Cart events hold text only in their metadata (the request id)."""
    with projected("carts", history, redis_server) as view:
        cart = view.cart(history.cart)

    assert cart == CartLines(history.cart, history.customer, 1, {history.lamp: 2})


@pytest.mark.parametrize("backend", ["postgres", "opensearch"])
def test_catalog_search(
    history: History, redis_server: str, backend: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("opensearch_server") if backend == "opensearch" else None
    with projected("catalog-search", history, redis_server, url) as view:
        listed = view.search(SearchQuery())
        by_word = view.search(SearchQuery(text="lampshade"))
        by_category = view.search(SearchQuery(category=S["kettle_category"]))

    hits = {hit.id: hit for hit in listed.hits}
    assert set(hits) == {history.lamp, history.kettle}
    lamp, kettle = hits[history.lamp], hits[history.kettle]
    assert (lamp.title, lamp.category) == (S["lampshade"], S["lamp_category"])
    assert (lamp.seller_name, lamp.units_available) == (S["renamed"], 11)
    assert (kettle.title, kettle.category) == (S["kettle"], S["kettle_category"])
    assert [hit.id for hit in by_word.hits] == [history.lamp]
    assert [hit.id for hit in by_category.hits] == [history.kettle]
    categories = {bucket.key: bucket.count for bucket in listed.facets.categories}
    if backend == "postgres":
        assert categories == {S["lamp_category"]: 1, S["kettle_category"]: 1}
    else:  # a keyword over Lucene's term limit stays in its document, out of the index
        assert categories == {S["kettle_category"]: 1}


def test_orders_on_postgres(history: History, redis_server: str) -> None:
    with projected("orders", history, redis_server) as view:
        shipped = view.customer_order(history.customer, history.shipped)
        cancelled = view.customer_order(history.customer, history.cancelled)
        failed = view.customer_order(history.customer, history.failed)
        sellers = view.seller_orders(history.seller, 10).items

    assert [line["title"] for line in shipped.lines] == [S["lampshade"]]
    assert shipped.ship_to == SHOWN_TO
    assert cancelled.cancellation_reason == S["cancel"]
    assert failed.payment_failure == S["payment_failure"]
    assert [line.title for order in sellers for line in order.lines] == [S["lampshade"]] * 4


def test_seller_sales_on_postgres(history: History, redis_server: str) -> None:
    now = datetime.now(UTC)
    with projected("seller-sales", history, redis_server) as view:
        hours = view.hourly(history.seller, now - timedelta(days=1), now + timedelta(days=1))

    sold = [(hour.units, hour.revenue_minor, hour.orders) for hour in hours]
    assert {hour.product_id for hour in hours} == {history.lamp}
    assert [sum(column) for column in zip(*sold, strict=True)] == [5, 7500 - 100, 2]  # refunded


def test_checkout_book(history: History) -> None:
    settings = Settings(postgres=PostgresSettings(url=history.url))
    projection = CheckoutBookProjection()
    logs = context_logs(projection, settings, stores(settings))
    with ConnectionPool(history.url, min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
        book = PostgresCheckoutBook(pool)
        book.create()
        try:
            project(Worker(projection, book, logs))
        finally:
            for context_log in logs:
                context_log.close()
        due = book.claim_payments(datetime.now(UTC) + timedelta(days=1), 10, timedelta(hours=1))

    jobs = sorted(due, key=lambda job: job.kind)
    assert [astuple(job)[:-1] for job in jobs] == [
        (history.shipped, "capture", 3000, "EUR", S["payment"], 1, ""),
        (history.shipped, "refund", 100, "EUR", S["payment"], 1, S["refund"]),
        (history.cancelled, "void", 1500, "EUR", S["voided"], 1, ""),
    ]
    assert {job.cause.correlation_id for job in jobs} == {"corr"}


def test_notification_outbox(history: History) -> None:
    with notify.opened(Settings(postgres=PostgresSettings(url=history.url))) as (worker, sender):
        project(worker)
        mails = {(row.recipient_kind, row.subject): row.body for row in sender.outbox.rows()}
    with psycopg.connect(history.url) as conn:
        directory = conn.execute("SELECT kind, id, email, name FROM mail_directory").fetchall()

    assert sorted(directory) == [
        ("customer", history.customer, f"{S['customer_email']}@x.test", S["customer"]),
        ("seller", history.seller, f"{S['renamed_email']}@x.test", S["renamed"]),
    ]
    assert len(mails) == 8
    shipped, cancelled = (str(order)[:8].upper() for order in (history.shipped, history.cancelled))
    confirmed = mails[("customer", f"Order {shipped} is confirmed")]
    line = f"  2 \u00d7 {S['lampshade']}"
    address = [S["ship_name"], S["line1"], S["line2"], f"{S['postal_code']} {S['city']}", "FR"]
    assert confirmed.startswith(f"Hello {S['ship_name']},\n")
    assert f"{line} \u2014 30.00 EUR\n" in confirmed
    assert "".join(f"  {part}\n" for part in address) in confirmed
    assert f"{line} \u2014 30.00 EUR\n" in mails[("seller", f"New order {shipped}")]
    assert f"{line}\n" in mails[("customer", f"Order {shipped} has shipped")]
    assert mails[("customer", f"Order {cancelled} was cancelled")] == (
        f"Hello {S['ship_name']},\n\nyour order {history.cancelled} was cancelled.\n"
        f"Reason: {S['cancel']}\n\nNothing was charged: any payment held for it is released.\n"
    )


def test_label_worker(history: History, tmp_path: Path) -> None:
    settings = Settings(
        postgres=PostgresSettings(url=history.url), blobs=BlobSettings(local_dir=tmp_path)
    )
    with labels.opened(settings) as worker:
        project(worker)
    commands = Commands(eventsourcing_env(settings, history.url))
    try:
        orders = (history.shipped, history.unlabelled)
        attached = [commands.orders.fulfilment(order, history.seller).label for order in orders]
    finally:
        commands.close()
    keys = [label_key(fulfilment_id(order, history.seller)) for order in orders]
    shipped, unlabelled = (LocalBlobStore(tmp_path).get(key) for key in keys)

    assert attached == [(key, PDF) for key in keys]
    to, lines = address_lines(SHOWN_TO), ((S["lampshade"], 2),)
    expected = LabelContent(str(history.shipped), address_lines(SHOWN_FROM), to, lines)
    assert shipped == (render_label(expected), PDF)
    assert shipped[0].count(b"/Type /Page\n") > 1
    assert b"(from_name nul? high? low? ?override ??? ?? ???? ?????) Tj" in shipped[0]
    by_name = LabelContent(str(history.unlabelled), (S["renamed"],), to, ((S["lampshade"], 3),))
    assert unlabelled == (render_label(by_name), PDF)
