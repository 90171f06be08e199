"""Turns customer, seller and order events into a mail directory and an outbox of mails."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol
from uuid import UUID

from domain.cart import Cart
from domain.customer import Customer
from domain.fulfilment import Fulfilment
from domain.inventory import StockItem
from domain.order import Order
from domain.product import Product
from domain.seller import Seller
from projections.notifications.mails import (
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
from projections.runtime import Projection, Unit


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


class NotificationProjection(Projection[NotificationUnit]):
    """Mails to shoppers (confirmed, shipped, cancelled, expired) and sellers (new order)."""

    name = "notifications"
    contexts: ClassVar[tuple[str, ...]] = ("customers", "catalog", "orders")
    """Directory logs first: in each step they are read before the orders that need them."""
    ignored: ClassVar[tuple[type, ...]] = (
        Customer.AddressAdded,
        Seller.AddressSet,
        Seller.Suspended,
        Product.Event,
        StockItem.Event,
        Cart.Event,
        Fulfilment.Event,
        Order.StockReserved,
        Order.Rejected,
        Order.PaymentAuthorised,
        Order.PaymentFailed,
        Order.PaymentCaptured,
        Order.Delivered,
        Order.Refunded,
        Order.PaymentVoided,
    )

    def handle(self, event: Any, unit: NotificationUnit) -> bool:
        """Apply one event; False if this projection does not know the event."""
        match event:
            case Customer.Registered():
                unit.remember_recipient(
                    CUSTOMER, event.originator_id, event.email, event.name, event.originator_version
                )
            case Seller.Registered() | Seller.ProfileUpdated():
                unit.remember_recipient(
                    SELLER, event.originator_id, event.email, event.name, event.originator_version
                )
            case Order.Placed():
                unit.remember_order(
                    order_for_mail(
                        event.originator_id,
                        event.customer_id,
                        event.currency,
                        event.lines,
                        event.ship_to,
                    )
                )
            case Order.Confirmed():
                self._enqueue(unit, order_confirmed(event, self._order(unit, event)))
            case Order.Shipped():
                order = self._order(unit, event)
                self._enqueue(unit, order_shipped(event, order, event.seller_id))
            case Order.Cancelled():
                self._enqueue(unit, order_cancelled(event, self._order(unit, event), event.reason))
            case Order.Expired():
                self._enqueue(unit, order_expired(event, self._order(unit, event)))
            case _:
                return False
        return True

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
