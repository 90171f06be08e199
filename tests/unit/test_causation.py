"""What the platform does on its own answers to a cause: the event that led to it, and the
correlation id of the request that started the flow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from domain.base import Cause, event_id
from domain.money import Money
from domain.order import Order
from domain.order_lines import OrderLine
from infra.mail import Mail, message_for
from tests.unit.domain_support import AT, CTX, LATER, history, uid
from workers.checkout.book_projection import CheckoutBookProjection

ORDER_ID = uid(0x0D1)
LINES = [OrderLine(uid(0x9D), uid(0x5E1), "Teapot", Money(1500, "EUR"), 2)]
SHIP_TO = {
    "name": "Ada",
    "line1": "1 Loop Rd",
    "line2": "",
    "city": "Lyon",
    "postal_code": "69001",
    "country": "FR",
}


def placed_order(order_id: UUID = ORDER_ID) -> Order:
    return Order.place(order_id, uid(0xC0FFEE), LINES, LATER, "key-1", SHIP_TO, CTX)


def test_an_event_causes_what_follows_with_its_id_and_its_flow() -> None:
    (placed,) = history(placed_order())

    cause = Cause.of(placed)

    assert cause == Cause(str(event_id(ORDER_ID, 0)), CTX.correlation_id)


@pytest.mark.parametrize("meta", [{"correlation_id": ""}, {}])
def test_an_event_without_a_correlation_id_starts_a_flow_of_its_own(
    meta: dict[str, str],
) -> None:
    (placed,) = history(placed_order())
    object.__setattr__(placed, "meta", meta)

    cause = Cause.of(placed)

    own_id = str(event_id(ORDER_ID, 0))
    assert cause == Cause(own_id, own_id)


def test_a_command_for_a_cause_acts_as_the_system_in_the_flow() -> None:
    ctx = Cause("event-9", "flow-1").context(AT, "payments")

    assert (ctx.at, ctx.actor, ctx.role) == (AT, "payments", "system")
    assert (ctx.request_id, ctx.correlation_id, ctx.causation_id) == (
        "event-9",
        "flow-1",
        "event-9",
    )


def test_each_step_of_a_flow_links_to_the_one_before_and_keeps_the_request_correlation() -> None:
    order = placed_order()
    steps: list[tuple[Any, ...]] = [
        (Order.reserve_stock,),
        (Order.authorise_payment, "pay_1", Money(3000, "EUR")),
        (Order.confirm,),
    ]
    for method, *args in steps:
        (cause,) = [Cause.of(event) for event in order.pending_events[-1:]]
        method(order, *args, ctx=cause.context(AT + timedelta(seconds=1), "checkout"))
    events = order.collect_events()

    assert [e.meta["causation_id"] for e in events] == [
        CTX.causation_id,
        *(e.meta["event_id"] for e in events[:-1]),
    ]
    assert {e.meta["correlation_id"] for e in events} == {CTX.correlation_id}
    assert [e.meta["role"] for e in events] == ["seller", "system", "system", "system"]


@dataclass
class RecordingBook:
    """A checkout book unit that remembers the cause each entry was given."""

    causes: dict[str, Cause] = field(default_factory=dict)

    def track(self, log: str, after: int, position: int) -> None:
        """Positions are not this test's business."""

    def open_order(self, order_id: UUID, total: Money, expires_at: datetime, cause: Cause) -> None:
        self.causes["deadline"] = cause

    def await_authorisation(self, order_id: UUID, cause: Cause) -> None:
        self.causes["authorise"] = cause

    def authorised(self, order_id: UUID, payment_id: str) -> None:
        """No gateway work follows from an authorisation."""

    def confirmed(self, order_id: UUID) -> None:
        """No gateway work follows from a confirmation."""

    def closed(self, order_id: UUID) -> None:
        """Closing an order queues nothing."""

    def abandoned(self, order_id: UUID, cause: Cause) -> None:
        self.causes["void"] = cause

    def queue_capture(self, order_id: UUID, payment_id: str, amount: Money, cause: Cause) -> None:
        self.causes["capture"] = cause

    def queue_refund(
        self, order_id: UUID, refund_id: str, payment_id: str, amount: Money, cause: Cause
    ) -> None:
        self.causes["refund"] = cause


def test_every_book_entry_keeps_the_event_that_made_it() -> None:
    paid = (
        (Order.reserve_stock,),
        (Order.authorise_payment, "pay_1", Money(3000, "EUR")),
        (Order.confirm,),
    )
    shipped = history(
        placed_order(),
        *paid,
        (Order.ship, LINES[0].seller_id),
        (Order.refund, "r1", Money(5, "EUR")),
    )
    cancelled = history(placed_order(uid(0x0D2)), *paid, (Order.cancel, "changed my mind"))
    book = RecordingBook()

    for event in [*shipped, cancelled[-1]]:
        CheckoutBookProjection().project(event, book)

    by_type = {type(event).__name__: Cause.of(event) for event in [*shipped, cancelled[-1]]}
    assert book.causes == {
        "deadline": by_type["Placed"],
        "authorise": by_type["StockReserved"],
        "capture": by_type["PaymentCaptured"],
        "refund": by_type["Refunded"],
        "void": by_type["Cancelled"],
    }
    assert len(set(book.causes.values())) == len(book.causes)


def test_a_mail_an_event_caused_names_its_flow_and_its_cause_and_others_do_not() -> None:
    caused = Mail("m-1", "ada@example.test", "Ada", "Order confirmed", "Hi\n", "flow-1", "event-9")
    uncaused = Mail("m-2", "ada@example.test", "Ada", "Test", "Hi\n")

    traced = message_for(caused, "shop@example.test")
    untraced = message_for(uncaused, "shop@example.test")

    assert (traced["X-Correlation-ID"], traced["X-Causation-ID"]) == ("flow-1", "event-9")
    assert (untraced["X-Correlation-ID"], untraced["X-Causation-ID"]) == (None, None)
