"""The payment thread records an authorisation and confirms the order in one append."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from commands.orders import OrdersApplication
from domain.base import Cause, Context
from domain.money import Money
from domain.order import Order
from domain.order_lines import OrderStatus
from tests.unit.domain_support import AT, CTX, LATER, uid
from tests.unit.test_causation import LINES, SHIP_TO

TOTAL = Money(3000, "EUR")
LATER_STILL = AT + timedelta(seconds=2)


def reserved_order() -> tuple[OrdersApplication, Order, Context]:
    app = OrdersApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    order = Order.place(uid(0x0D2), uid(0xC0FFEE), LINES, LATER, "key-2", SHIP_TO, CTX)
    app.create(order)
    app.reserve_stock(order.id, CTX)
    *_, stock_reserved = app.events.get(order.id)
    ctx = Cause.of(stock_reserved).context(AT + timedelta(seconds=1), "payments")
    return app, app.order(order.id), ctx


def stored(app: OrdersApplication, order: Order) -> list[Any]:
    return list(app.events.get(order.id))


def test_the_confirmation_answers_to_the_authorisation_in_the_same_append() -> None:
    app, order, ctx = reserved_order()

    outcome = app.authorise_and_confirm(order.id, "pay_1", TOTAL, ctx, LATER_STILL)

    *_, authorised, confirmed = stored(app, order)
    assert (type(authorised), type(confirmed)) == (Order.PaymentAuthorised, Order.Confirmed)
    assert confirmed.meta["causation_id"] == Cause.of(authorised).causation_id
    assert confirmed.meta["correlation_id"] == authorised.meta["correlation_id"]
    assert authorised.meta["causation_id"] == ctx.causation_id
    assert (authorised.timestamp, confirmed.timestamp) == (ctx.at, LATER_STILL)
    assert outcome.version == confirmed.originator_version
    assert app.order(order.id).status is OrderStatus.CONFIRMED


def test_a_repeated_authorisation_appends_nothing() -> None:
    app, order, ctx = reserved_order()
    app.authorise_and_confirm(order.id, "pay_1", TOTAL, ctx, LATER_STILL)
    before = stored(app, order)

    app.authorise_and_confirm(order.id, "pay_1", TOTAL, ctx, LATER_STILL)

    assert len(stored(app, order)) == len(before)
