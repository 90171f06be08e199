"""Keeps the checkout book in step with the order log: which orders wait for what."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Protocol
from uuid import UUID

from domain.cart import Cart
from domain.customer import Customer
from domain.fulfilment import Fulfilment
from domain.inventory import StockItem
from domain.order import Order
from domain.product import Product
from domain.seller import Seller
from projections.runtime import Projection, Unit


class CheckoutBookUnit(Unit, Protocol):
    """The book changes of one batch, committed with the batch's position."""

    def open_order(
        self, order_id: UUID, total_minor: int, currency: str, expires_at: datetime
    ) -> None:
        """Start watching an order's payment deadline."""

    def await_authorisation(self, order_id: UUID) -> None:
        """Queue the authorisation of the order's total."""

    def authorised(self, order_id: UUID, payment_id: str) -> None:
        """The authorisation arrived: stop asking for it, remember its payment id."""

    def confirmed(self, order_id: UUID) -> None:
        """The deadline no longer applies."""

    def closed(self, order_id: UUID) -> None:
        """Stop everything for an order whose stock and payment are settled."""

    def abandoned(self, order_id: UUID) -> None:
        """Cancelled or expired: stop the deadline and authorisation; void a held payment."""

    def queue_capture(
        self, order_id: UUID, payment_id: str, amount_minor: int, currency: str
    ) -> None:
        """Queue the capture of the order's payment."""

    def queue_refund(
        self, order_id: UUID, refund_id: str, payment_id: str, amount_minor: int, currency: str
    ) -> None:
        """Queue the refund of part of a captured payment."""


class CheckoutBookProjection(Projection[CheckoutBookUnit]):
    """Order events to book entries; the gateway and deadline workers read the book."""

    name = "checkout"
    contexts: ClassVar[tuple[str, ...]] = ("orders",)
    ignored: ClassVar[tuple[type, ...]] = (
        Order.Shipped,
        Order.Delivered,
        Fulfilment.Event,
        Seller.Event,
        Product.Event,
        StockItem.Event,
        Cart.Event,
        Customer.Event,
    )

    def handle(self, event: Any, unit: CheckoutBookUnit) -> bool:
        """Apply one order event to the book; False for events it does not know."""
        order_id = event.originator_id
        match event:
            case Order.Placed():
                total = sum(line["unit_price"]["minor"] * line["quantity"] for line in event.lines)
                unit.open_order(order_id, total, event.currency, event.expires_at)
            case Order.StockReserved():
                unit.await_authorisation(order_id)
            case Order.PaymentAuthorised():
                unit.authorised(order_id, event.payment_id)
            case Order.Confirmed():
                unit.confirmed(order_id)
            case Order.Rejected() | Order.PaymentFailed() | Order.PaymentVoided():
                unit.closed(order_id)
            case Order.Cancelled() | Order.Expired():
                unit.abandoned(order_id)
            case Order.PaymentCaptured():
                unit.queue_capture(order_id, event.payment_id, event.amount_minor, event.currency)
            case Order.Refunded():
                unit.queue_refund(
                    order_id, event.refund_id, event.payment_id, event.amount_minor, event.currency
                )
            case _:
                return False
        return True
