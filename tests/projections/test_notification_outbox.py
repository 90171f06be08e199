"""The notifications projection fills the mail outbox: exactly the mails events cause, once."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from psycopg_pool import ConnectionPool

from commands.services import SINGLE_LOG, Commands
from domain.base import Context, MarketplaceAggregate
from domain.money import Money
from infra.eventstore import eventsourcing_env
from infra.mail import Mail, MailRejected, MailUnavailable
from infra.settings import EventStoreSettings, Settings
from projections.log import ContextLog
from projections.runtime import Worker
from tests.projections.mail_shop import SHIP_TO, MailShop, admin
from workers.notify.outbox import MailOutbox, PostgresNotificationView
from workers.notify.projection import NotificationProjection
from workers.notify.sender import OutboxSender

pytestmark = pytest.mark.postgres

ADDRESS = {**SHIP_TO, "name": "Acme Depot", "city": "Paris", "postal_code": "75001"}


class Stranger(MarketplaceAggregate):
    """An aggregate no projection knows, to put an event type no handler takes into a log."""

    class Arrived(MarketplaceAggregate.Created):
        note: str

    def __init__(self, note: str) -> None:
        self.note = note


@pytest.fixture
def pool(postgres_url: str) -> Iterator[ConnectionPool]:
    with ConnectionPool(
        postgres_url, min_size=1, max_size=3, kwargs={"autocommit": True}, open=True
    ) as pool:
        yield pool


def worker_for(
    postgres_url: str, pool: ConnectionPool, names: tuple[str, ...], batch_size: int = 1000
) -> Worker[Any]:
    view = PostgresNotificationView(pool)
    view.create()
    env = eventsourcing_env(Settings(), postgres_url)
    logs = [ContextLog(env, name) for name in names]
    return Worker(NotificationProjection(), view, logs, batch_size=batch_size)


def close(worker: Worker[Any]) -> None:
    for context_log in worker.logs:
        context_log.close()


def outbox_of(pool: ConnectionPool) -> dict[uuid.UUID, tuple[str, uuid.UUID, str]]:
    return {
        row.message_id: (row.recipient_kind, row.recipient_id, row.subject)
        for row in MailOutbox(pool).rows()
    }


def expected_of(shop: MailShop) -> dict[uuid.UUID, tuple[str, uuid.UUID, str]]:
    return {m.message_id: (m.kind, m.recipient_id, m.subject) for m in shop.expected}


def two_seller_history(shop: MailShop) -> dict[str, uuid.UUID]:
    """Orders of every fate; the ids of the people and orders involved."""
    ada, bob = shop.customer("Ada"), shop.customer("Bob")
    acme = shop.seller("Acme", address=ADDRESS)
    bolt = shop.seller("Bolt")
    shop.rename_seller(bolt, "Bolt & Co", "orders@bolt.test")
    shipped = shop.place(ada, [(acme, "Teapot", 1500, 2), (bolt, "Kettle", 4000, 1)])
    shop.confirm(shipped)
    shop.ship(shipped, acme)
    shop.ship(shipped, bolt)
    cancelled = shop.place(bob, [(bolt, "Cup", 250, 4)])
    shop.confirm(cancelled)
    shop.cancel(cancelled, "found it cheaper")
    shop.expire(shop.place(bob, [(acme, "Saucer", 300, 1)]))
    shop.reject(shop.place(ada, [(acme, "Lid", 100, 1)]))
    shop.fail_payment(shop.place(ada, [(bolt, "Spoon", 90, 3)]))
    return {"ada": ada, "acme": acme, "bolt": bolt, "shipped": shipped.id}


def test_the_outbox_holds_exactly_the_mails_the_order_events_cause(
    postgres_url: str, commands: Commands, pool: ConnectionPool
) -> None:
    shop = MailShop(commands)
    ids = two_seller_history(shop)
    worker = worker_for(postgres_url, pool, NotificationProjection.contexts)
    try:
        worker.catch_up()
    finally:
        close(worker)

    rows = {row.message_id: row for row in MailOutbox(pool).rows()}
    assert outbox_of(pool) == expected_of(shop)
    assert Counter(kind for kind, _, _ in outbox_of(pool).values()) == {
        "customer": 6,
        "seller": 3,
    }
    assert all(row.sent_at is None and row.attempts == 0 for row in rows.values())
    by_subject = {(row.recipient_id, row.subject): row.body for row in rows.values()}
    ref = str(ids["shipped"])[:8].upper()
    confirmed = by_subject[(ids["ada"], f"Order {ref} is confirmed")]
    assert confirmed.startswith("Hello Ada Lovelace,\n")
    assert "  2 \u00d7 Teapot — 30.00 EUR\n" in confirmed
    assert "  1 \u00d7 Kettle — 40.00 EUR\n" in confirmed
    assert "Total: 70.00 EUR\n" in confirmed
    assert "  69001 Lyon\n" in confirmed
    to_acme = by_subject[(ids["acme"], f"New order {ref}")]
    assert "Teapot" in to_acme and "Kettle" not in to_acme
    assert "Your part: 30.00 EUR" in to_acme
    with pool.connection() as conn:
        directory = conn.execute(
            "SELECT kind, id, email, name FROM mail_directory WHERE id = %s", (ids["bolt"],)
        ).fetchall()
    assert directory == [("seller", ids["bolt"], "orders@bolt.test", "Bolt & Co")]


def test_a_replay_from_zero_adds_no_mail_and_keeps_what_was_sent(
    postgres_url: str, commands: Commands, pool: ConnectionPool
) -> None:
    shop = MailShop(commands)
    two_seller_history(shop)
    worker = worker_for(postgres_url, pool, NotificationProjection.contexts, batch_size=7)
    try:
        worker.catch_up()
        with pool.connection() as conn:
            conn.execute("UPDATE mail_outbox SET sent_at = now(), attempts = 1")
        before = MailOutbox(pool).rows()
        with pool.connection() as conn:
            conn.execute("DELETE FROM projection_positions WHERE view = 'notifications'")
        replayed = worker.catch_up()
    finally:
        close(worker)

    assert replayed > 0
    assert MailOutbox(pool).rows() == before
    assert MailOutbox(pool).unsent() == 0


def test_one_shared_log_gives_the_same_mails_past_every_other_event(
    postgres_url: str, pool: ConnectionPool
) -> None:
    env = eventsourcing_env(Settings(events=EventStoreSettings(split_logs=False)), postgres_url)
    commands = Commands(env, split_logs=False)
    try:
        shop = MailShop(commands)
        ids = two_seller_history(shop)
        product, ctx = uuid.uuid4(), admin()
        commands.catalog.list_product(
            product, ids["acme"], "Lamp", "d", "home", {}, Money(900, "EUR"), ctx
        )
        commands.receive_stock(product, 5, ctx)
        cart, _ = commands.carts.create_cart(ids["ada"], ctx)
        commands.add_to_cart(cart.aggregate_id, product, 1, ctx)
        order = commands.orders.order(ids["shipped"])
        commands.orders.open_fulfilment(order, ids["acme"], ADDRESS, ctx)
        commands.orders.attach_label(order.id, ids["acme"], "labels/x.pdf", "application/pdf", ctx)
        worker = worker_for(postgres_url, pool, (SINGLE_LOG,))
        try:
            worker.catch_up()
        finally:
            close(worker)
    finally:
        commands.close()

    assert outbox_of(pool) == expected_of(shop)


def test_an_event_type_no_handler_takes_is_passed_over(
    postgres_url: str, commands: Commands, pool: ConnectionPool
) -> None:
    shop = MailShop(commands)
    ada, acme = shop.customer("Ada"), shop.seller("Acme")
    shop.confirm(shop.place(ada, [(acme, "Teapot", 1500, 1)]))
    ctx = Context(datetime.now(UTC), "x", "admin", "r", "c", "c")
    commands.orders.create(
        Stranger._create(Stranger.Arrived, id=uuid.uuid4(), note="hi", meta={}, timestamp=ctx.at)
    )
    shop.confirm(shop.place(ada, [(acme, "Kettle", 4000, 1)]))
    worker = worker_for(postgres_url, pool, NotificationProjection.contexts, batch_size=4)
    try:
        worker.catch_up()
        position = worker.view.positions()["orders"]
        head = worker.logs[-1].head()
    finally:
        close(worker)

    assert position == head
    assert outbox_of(pool) == expected_of(shop)


class FakeSender:
    """Answers each send from a script: None accepts, an exception is raised."""

    def __init__(self, *answers: Exception | None) -> None:
        self.answers = list(answers)
        self.sent: list[Mail] = []

    def send(self, mail: Mail) -> None:
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        self.sent.append(mail)

    def close(self) -> None:
        pass


def test_the_sender_sends_each_due_mail_once_and_retries_refusals_later(
    postgres_url: str, commands: Commands, pool: ConnectionPool
) -> None:
    shop = MailShop(commands)
    ada, acme = shop.customer("Ada"), shop.seller("Acme")
    shop.confirm(shop.place(ada, [(acme, "Teapot", 1500, 1)]))
    worker = worker_for(postgres_url, pool, NotificationProjection.contexts)
    try:
        worker.catch_up()
    finally:
        close(worker)
    outbox = MailOutbox(pool)
    down = OutboxSender(outbox, FakeSender(MailUnavailable("connection refused")))
    with pytest.raises(MailUnavailable):
        down.send_due()
    assert [row.attempts for row in outbox.rows()] == [0, 0]

    fake = FakeSender(MailRejected(450, "mailbox busy"))
    assert OutboxSender(outbox, fake).send_due() == 2
    assert OutboxSender(outbox, fake).send_due() == 0

    rows = {row.recipient_id: row for row in outbox.rows()}
    assert [mail.to_address for mail in fake.sent] == [shop.emails[acme]]
    refused = rows[ada]
    assert (refused.sent_at, refused.attempts, refused.last_error) == (None, 1, "450 mailbox busy")
    assert rows[acme].sent_at is not None and rows[acme].attempts == 1
    with pool.connection() as conn:
        waits = conn.execute(
            "SELECT next_attempt_at - now() FROM mail_outbox WHERE recipient_id = %s", (ada,)
        ).fetchone()
    assert waits is not None and 0.9 < waits[0].total_seconds() <= 2.0


def test_a_mail_waits_until_its_recipient_is_in_the_directory(
    postgres_url: str, commands: Commands, pool: ConnectionPool
) -> None:
    shop = MailShop(commands)
    acme = shop.seller("Acme")
    stranger = uuid.uuid4()
    shop.emails[stranger] = "never-registered@shop.test"
    shop.confirm(shop.place(stranger, [(acme, "Teapot", 1500, 1)]))
    worker = worker_for(postgres_url, pool, NotificationProjection.contexts)
    try:
        worker.catch_up()
    finally:
        close(worker)
    fake = FakeSender()

    assert OutboxSender(MailOutbox(pool), fake).send_due() == 1
    assert [mail.to_address for mail in fake.sent] == [shop.emails[acme]]
    assert MailOutbox(pool).unsent() == 1
