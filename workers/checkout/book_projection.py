"""Keeps the checkout book in step with the order log: which orders wait for what."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Protocol
from uuid import UUID

from domain.base import Cause
from domain.money import Money
from domain.order import Order
from projections.handlers import handles
from projections.runtime import Projection, Unit


class CheckoutBookUnit(Unit, Protocol):
    """The book changes of one batch, committed with the batch's position."""

    def open_order(self, order_id: UUID, total: Money, expires_at: datetime, cause: Cause) -> None:
        """Start watching an order's payment deadline, set by the cause."""

    def await_authorisation(self, order_id: UUID, cause: Cause) -> None:
        """Queue the authorisation of the order's total, once per order."""

    def authorised(self, order_id: UUID, payment_id: str) -> None:
        """The authorisation arrived: stop asking for it, remember its payment id."""

    def confirmed(self, order_id: UUID) -> None:
        """The deadline no longer applies."""

    def closed(self, order_id: UUID) -> None:
        """Stop everything for an order whose stock and payment are settled."""

    def abandoned(self, order_id: UUID, cause: Cause) -> None:
        """Cancelled or expired: stop the deadline and authorisation; void a held payment."""

    def queue_capture(self, order_id: UUID, payment_id: str, amount: Money, cause: Cause) -> None:
        """Queue the capture of the order's payment."""

    def queue_refund(
        self, order_id: UUID, refund_id: str, payment_id: str, amount: Money, cause: Cause
    ) -> None:
        """Queue the refund of part of a captured payment."""


class CheckoutBookProjection(Projection[CheckoutBookUnit]):
    """Order events to book entries; the gateway and deadline workers read the book.

    Each entry keeps the event that made it (Cause.of), so what the workers later record
    answers to that event and carries its flow's correlation id.
    """

    name = "checkout"
    contexts: ClassVar[tuple[str, ...]] = ("orders",)

    @handles(Order.Placed)
    def open_order(self, event: Order.Placed, unit: CheckoutBookUnit) -> None:
        """Watch a placed order's payment deadline."""
        total = Money(sum(line.subtotal.minor for line in event.order_lines), event.currency)
        unit.open_order(event.originator_id, total, event.expires_at, Cause.of(event))

    @handles(Order.StockReserved)
    def await_authorisation(self, event: Order.StockReserved, unit: CheckoutBookUnit) -> None:
        """Ask for the payment once the stock is reserved."""
        unit.await_authorisation(event.originator_id, Cause.of(event))

    @handles(Order.PaymentAuthorised)
    def record_authorisation(self, event: Order.PaymentAuthorised, unit: CheckoutBookUnit) -> None:
        """Stop asking for an authorisation that arrived."""
        unit.authorised(event.originator_id, event.payment_id)

    @handles(Order.Confirmed)
    def drop_deadline(self, event: Order.Confirmed, unit: CheckoutBookUnit) -> None:
        """Drop a confirmed order's deadline."""
        unit.confirmed(event.originator_id)

    @handles(Order.Rejected, Order.PaymentFailed, Order.PaymentVoided)
    def close_order(
        self,
        event: Order.Rejected | Order.PaymentFailed | Order.PaymentVoided,
        unit: CheckoutBookUnit,
    ) -> None:
        """Stop everything for an order whose stock and payment are settled."""
        unit.closed(event.originator_id)

    @handles(Order.Cancelled, Order.Expired)
    def abandon_order(self, event: Order.Cancelled | Order.Expired, unit: CheckoutBookUnit) -> None:
        """Stop a cancelled or expired order's deadline and authorisation."""
        unit.abandoned(event.originator_id, Cause.of(event))

    @handles(Order.PaymentCaptured)
    def queue_capture(self, event: Order.PaymentCaptured, unit: CheckoutBookUnit) -> None:
        """Queue the capture of an order's payment."""
        amount = Money(event.amount_minor, event.currency)
        unit.queue_capture(event.originator_id, event.payment_id, amount, Cause.of(event))

    @handles(Order.Refunded)
    def queue_refund(self, event: Order.Refunded, unit: CheckoutBookUnit) -> None:
        """Queue the refund of part of a captured payment."""
        amount = Money(event.amount_minor, event.currency)
        unit.queue_refund(
            event.originator_id, event.refund_id, event.payment_id, amount, Cause.of(event)
        )
