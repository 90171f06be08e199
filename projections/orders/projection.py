"""Turns order and fulfilment events into order-history view changes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple, Protocol
from uuid import UUID

from domain.customer import Customer
from domain.fulfilment import Fulfilment
from domain.order import Order
from projections.handlers import handles, nearest
from projections.runtime import Projection, Unit

PAYMENT_PENDING = "payment_pending"
"""How an order whose stock is reserved (waiting for its payment) is shown."""


OrderChanged = (
    Order.StockReserved
    | Order.Rejected
    | Order.PaymentAuthorised
    | Order.PaymentFailed
    | Order.Confirmed
    | Order.Cancelled
    | Order.Expired
    | Order.PaymentVoided
)
"""An order event that changes some of the order's fields (ORDER_CHANGES says which)."""

ORDER_CHANGES: Mapping[type, Callable[[Any], dict[str, Any]]] = MappingProxyType(
    {
        Order.StockReserved: lambda e: {"status": PAYMENT_PENDING},
        Order.Rejected: lambda e: {
            "status": "rejected",
            "rejected_product_ids": [str(product) for product in e.product_ids],
        },
        Order.PaymentAuthorised: lambda e: {
            "status": "payment_authorised",
            "payment_state": "authorised",
            "payment_id": e.payment_id,
            "authorised_minor": e.amount_minor,
        },
        Order.PaymentFailed: lambda e: {
            "status": "payment_failed",
            "payment_state": "failed",
            "payment_failure": e.reason,
        },
        Order.Confirmed: lambda e: {"status": "confirmed", "confirmed_at": e.timestamp},
        Order.Cancelled: lambda e: {"status": "cancelled", "cancellation_reason": e.reason},
        Order.Expired: lambda e: {"status": "expired"},
        Order.PaymentVoided: lambda e: {"payment_state": "voided"},
    }
)
"""The order fields each of these events sets: a reserved order waits for its payment, a
rejected one names the products it could not have, a failed payment says why."""


class PlacedLine(NamedTuple):
    """One line of an order as placed."""

    line_no: int
    seller_id: UUID
    product_id: UUID
    title: str
    quantity: int
    unit_price_minor: int


class PlacedOrder(NamedTuple):
    """An order as placed: who, what, where to, and until when it may be paid."""

    order_id: UUID
    customer_id: UUID
    currency: str
    lines: tuple[PlacedLine, ...]
    ship_to: dict[str, str]
    placed_at: datetime
    expires_at: datetime

    @property
    def total_minor(self) -> int:
        """The sum of every line's quantity times unit price."""
        return sum(line.quantity * line.unit_price_minor for line in self.lines)


class OrderHistoryUnit(Unit, Protocol):
    """The writes of one batch, named for what they mean.

    version is the event's aggregate version: a row changes only if the version it holds
    is lower, so an event applied twice changes nothing.
    """

    def place_order(self, order: PlacedOrder) -> None:
        """Record a new order and its lines, one row per line for the lines' sellers."""

    def change_order(self, order_id: UUID, version: int, at: datetime, **fields: Any) -> None:
        """Set some of an order's fields (status, payment state, reasons)."""

    def ship_part(self, order_id: UUID, seller_id: UUID, version: int, at: datetime) -> None:
        """Record that a seller shipped its lines; the order is partially shipped or shipped."""

    def deliver_part(self, order_id: UUID, seller_id: UUID, version: int, at: datetime) -> None:
        """Record that a seller's lines were delivered; the order is delivered once all are."""

    def capture_payment(
        self, order_id: UUID, amount_minor: int, version: int, at: datetime
    ) -> None:
        """Add a captured amount."""

    def refund_payment(self, order_id: UUID, amount_minor: int, version: int, at: datetime) -> None:
        """Add a refunded amount."""

    def open_fulfilment(
        self, fulfilment_id: UUID, order_id: UUID, seller_id: UUID, customer_id: UUID
    ) -> None:
        """Remember which order and seller a fulfilment belongs to."""

    def attach_label(
        self, fulfilment_id: UUID, blob_key: str, content_type: str, version: int
    ) -> None:
        """Record where a seller's shipping label is stored, and its content type."""

    def erase_customer(self, customer_id: UUID) -> None:
        """Put the erased placeholder in place of the customer's personal data in their orders."""


class OrderHistoryProjection(Projection[OrderHistoryUnit]):
    """Every order with its status and payment, and every seller's lines with their label."""

    name = "orders"
    contexts: ClassVar[tuple[str, ...]] = ("orders", "customers")
    """The customers log only for erasures: the orders keep no one's data once it is erased."""

    @handles(Order.Placed)
    def place_order(self, event: Order.Placed, unit: OrderHistoryUnit) -> None:
        """Record a new order and its lines."""
        unit.place_order(placed_order(event))

    @handles(Fulfilment.Opened)
    def open_fulfilment(self, event: Fulfilment.Opened, unit: OrderHistoryUnit) -> None:
        """Remember which order and seller a fulfilment belongs to."""
        unit.open_fulfilment(
            event.originator_id, event.order_id, event.seller_id, event.customer_id
        )

    @handles(Fulfilment.LabelAttached)
    def attach_label(self, event: Fulfilment.LabelAttached, unit: OrderHistoryUnit) -> None:
        """Record where a seller's shipping label is stored."""
        unit.attach_label(
            event.originator_id, event.blob_key, event.content_type, event.originator_version
        )

    @handles(*ORDER_CHANGES)
    def change_order(self, event: OrderChanged, unit: OrderHistoryUnit) -> None:
        """Set the order fields the event changes (ORDER_CHANGES)."""
        fields = nearest(ORDER_CHANGES, type(event))
        unit.change_order(
            event.originator_id, event.originator_version, event.timestamp, **fields(event)
        )

    @handles(Order.Shipped)
    def ship_part(self, event: Order.Shipped, unit: OrderHistoryUnit) -> None:
        """Record that a seller shipped its lines."""
        unit.ship_part(
            event.originator_id, event.seller_id, event.originator_version, event.timestamp
        )

    @handles(Order.Delivered)
    def deliver_part(self, event: Order.Delivered, unit: OrderHistoryUnit) -> None:
        """Record that a seller's lines were delivered."""
        unit.deliver_part(
            event.originator_id, event.seller_id, event.originator_version, event.timestamp
        )

    @handles(Order.PaymentCaptured)
    def capture_payment(self, event: Order.PaymentCaptured, unit: OrderHistoryUnit) -> None:
        """Add a captured amount."""
        unit.capture_payment(
            event.originator_id, event.amount_minor, event.originator_version, event.timestamp
        )

    @handles(Customer.Erased)
    def erase_customer(self, event: Customer.Erased, unit: OrderHistoryUnit) -> None:
        """Remove an erased customer's personal data from their orders."""
        unit.erase_customer(event.originator_id)

    @handles(Order.Refunded)
    def refund_payment(self, event: Order.Refunded, unit: OrderHistoryUnit) -> None:
        """Add a refunded amount."""
        unit.refund_payment(
            event.originator_id, event.amount_minor, event.originator_version, event.timestamp
        )


def placed_order(event: Order.Placed) -> PlacedOrder:
    """The order a Placed event describes."""
    lines = tuple(
        PlacedLine(
            line_no=n,
            seller_id=line.seller_id,
            product_id=line.product_id,
            title=line.title,
            quantity=line.quantity,
            unit_price_minor=line.unit_price.minor,
        )
        for n, line in enumerate(event.order_lines)
    )
    return PlacedOrder(
        order_id=event.originator_id,
        customer_id=event.customer_id,
        currency=event.currency,
        lines=lines,
        ship_to=dict(event.ship_to),
        placed_at=event.timestamp,
        expires_at=event.expires_at,
    )


def as_uuid(value: Any) -> UUID:
    """value if it is a UUID (as the event's lines hold them once decoded), else parsed."""
    return value if type(value) is UUID else UUID(str(value))
