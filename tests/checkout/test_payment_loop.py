"""The payment loop keeps every thread busy: a slow gateway call holds up no other call."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from psycopg_pool import ConnectionPool

from commands.checkout import PaymentSettlement
from commands.services import Commands
from domain.base import Cause
from domain.money import Money
from infra.eventstore import eventsourcing_env
from infra.settings import PostgresSettings, Settings
from tests.checkout.shop import wait_for
from workers.checkout.book import PostgresCheckoutBook
from workers.checkout.manager import PaymentLoop

pytestmark = pytest.mark.postgres

CAUSE = Cause("reserved-event", "flow-1")


@dataclass(frozen=True)
class Declined:
    status: str = "declined"
    payment_id: str | None = None
    reason: str = "test card"


@dataclass
class HoldingGateway:
    """A gateway (outside our system) that declines every authorisation, holding one
    until released."""

    held: str
    release: threading.Event = field(default_factory=threading.Event)
    answered: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def authorise(
        self, key: str, amount_minor: int, currency: str, *, reference: str | None = None
    ) -> Declined:
        if reference == self.held:
            self.release.wait(60)
        with self.lock:
            self.answered.append(str(reference))
        return Declined()


@pytest.fixture
def book(postgres_url: str) -> Iterator[PostgresCheckoutBook]:
    with ConnectionPool(postgres_url, min_size=1, max_size=6, kwargs={"autocommit": True}) as pool:
        created = PostgresCheckoutBook(pool)
        created.create()
        yield created


def queue_authorisations(book: PostgresCheckoutBook, count: int) -> list[str]:
    """Orders with reserved stock, each queued for authorisation in turn (oldest first)."""
    ids = []
    for position in range(count):
        order_id = uuid.uuid4()
        with book.unit_of_work() as unit:
            expires = datetime.now(UTC) + timedelta(minutes=15)
            unit.open_order(order_id, Money(4200, "EUR"), expires, CAUSE)
            unit.await_authorisation(order_id, CAUSE)
            unit.track("orders", position, position + 1)
        ids.append(str(order_id))
    return ids


def test_a_free_thread_claims_the_next_call_while_another_call_is_held(
    book: PostgresCheckoutBook, postgres_url: str
) -> None:
    ids = queue_authorisations(book, 6)
    gateway = HoldingGateway(held=ids[0])
    commands = Commands(eventsourcing_env(Settings(postgres=PostgresSettings(url=postgres_url))))
    settlement = PaymentSettlement(commands.orders, gateway)  # type: ignore[arg-type]
    loop = PaymentLoop(book, settlement, workers=2, lease=timedelta(minutes=5))
    stop = threading.Event()
    runner = threading.Thread(target=loop.run, args=(stop,))
    runner.start()
    try:
        wait_for(lambda: sorted(gateway.answered) == sorted(ids[1:]), 60)
    finally:
        gateway.release.set()
        wait_for(lambda: len(gateway.answered) == len(ids), 60)
        stop.set()
        runner.join(30)
        commands.close()

    assert sorted(gateway.answered) == sorted(ids)
    assert book.pending() == {"awaiting": 6}
