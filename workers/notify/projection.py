"""Turns customer, seller and order events into a mail directory and an outbox of mails."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol
from uuid import UUID

from domain.customer import Customer
from domain.order import Order
from domain.seller import Seller
from projections.failures import Policy
from projections.handlers import handles
from projections.runtime import Projection, Unit
from workers.notify.mails import (
    CUSTOMER,
    SELLER,
    OrderForMail,
    OutboxMail,
    order_cancelled,
    order_confirmed,
    order_expired,
    order_for_mail,
    order_shipped,
)


class UnknownOrder(LookupError):
    """An order event arrived for an order whose Placed event the view has not seen."""


class NotificationUnit(Unit, Protocol):
    """The writes of one batch; each is harmless when repeated."""

    def remember_recipient(
        self, kind: str, recipient_id: UUID, email: str, name: str, version: int
    ) -> None:
        """Record where a customer's or seller's mail goes (a newer version wins)."""

    def remember_order(self, order: OrderForMail) -> None:
        """Keep what later mails about an order need."""

    def order(self, order_id: UUID) -> OrderForMail | None:
        """An order remembered earlier (in this batch or before)."""

    def enqueue(self, mail: OutboxMail) -> None:
        """Put a mail in the outbox unless one with its id is there."""

    def forget_customer(self, customer_id: UUID) -> None:
        """Remove an erased customer's address, name and mails; redact mails about their orders."""


class NotificationProjection(Projection[NotificationUnit]):
    """Mails to shoppers (confirmed, shipped, cancelled, expired) and sellers (new order)."""

    name = "notifications"
    contexts: ClassVar[tuple[str, ...]] = ("customers", "catalog", "orders")
    """Directory logs first: in each step they are read before the orders that need them."""
    failure_policy = Policy.PARK
    """One mail held back in the dead letters beats no mail for anyone."""

    @handles(Customer.Registered)
    def remember_customer(self, event: Customer.Registered, unit: NotificationUnit) -> None:
        """Record where a customer's mail goes."""
        unit.remember_recipient(
            CUSTOMER, event.originator_id, event.email, event.name, event.originator_version
        )

    @handles(Customer.Erased)
    def forget_customer(self, event: Customer.Erased, unit: NotificationUnit) -> None:
        """Forget an erased customer: no mail goes to them, none keeps their data."""
        unit.forget_customer(event.originator_id)

    @handles(Seller.Registered, Seller.ProfileUpdated)
    def remember_seller(
        self, event: Seller.Registered | Seller.ProfileUpdated, unit: NotificationUnit
    ) -> None:
        """Record where a seller's mail goes."""
        unit.remember_recipient(
            SELLER, event.originator_id, event.email, event.name, event.originator_version
        )

    @handles(Order.Placed)
    def remember_order(self, event: Order.Placed, unit: NotificationUnit) -> None:
        """Keep what later mails about a placed order need."""
        unit.remember_order(
            order_for_mail(
                event.originator_id,
                event.customer_id,
                event.currency,
                event.order_lines,
                event.ship_to,
            )
        )

    @handles(Order.Confirmed)
    def mail_confirmation(self, event: Order.Confirmed, unit: NotificationUnit) -> None:
        """Mail the shopper its confirmation and each seller its new order to ship."""
        self._enqueue(unit, order_confirmed(event, self._order(unit, event)))

    @handles(Order.Shipped)
    def mail_shipment(self, event: Order.Shipped, unit: NotificationUnit) -> None:
        """Tell the shopper that a seller shipped its lines."""
        order = self._order(unit, event)
        self._enqueue(unit, order_shipped(event, order, event.seller_id))

    @handles(Order.Cancelled)
    def mail_cancellation(self, event: Order.Cancelled, unit: NotificationUnit) -> None:
        """Tell the shopper that an order was cancelled, and why."""
        self._enqueue(unit, order_cancelled(event, self._order(unit, event), event.reason))

    @handles(Order.Expired)
    def mail_expiry(self, event: Order.Expired, unit: NotificationUnit) -> None:
        """Tell the shopper that an order expired unpaid."""
        self._enqueue(unit, order_expired(event, self._order(unit, event)))

    @staticmethod
    def _order(unit: NotificationUnit, event: Any) -> OrderForMail:
        order = unit.order(event.originator_id)
        if order is None:
            raise UnknownOrder(f"order {event.originator_id} was never placed in this log")
        return order

    @staticmethod
    def _enqueue(unit: NotificationUnit, mails: list[OutboxMail]) -> None:
        for mail in mails:
            unit.enqueue(mail)
