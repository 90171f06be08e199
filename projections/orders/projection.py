"""Turns order and fulfilment events into order-history view changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, NamedTuple, Protocol
from uuid import UUID

from domain.fulfilment import Fulfilment
from domain.order import Order
from projections.handlers import handles
from projections.runtime import Projection, Unit

PAYMENT_PENDING = "payment_pending"
"""How an order whose stock is reserved (waiting for its payment) is shown."""


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


class OrderHistoryProjection(Projection[OrderHistoryUnit]):
    """Every order with its status and payment, and every seller's lines with their label."""

    name = "orders"
    contexts: ClassVar[tuple[str, ...]] = ("orders",)

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

    @handles(Order.StockReserved)
    def await_payment(self, event: Order.StockReserved, unit: OrderHistoryUnit) -> None:
        """Show an order whose stock is reserved as waiting for its payment."""
        unit.change_order(
            event.originator_id, event.originator_version, event.timestamp, status=PAYMENT_PENDING
        )

    @handles(Order.Rejected)
    def reject_order(self, event: Order.Rejected, unit: OrderHistoryUnit) -> None:
        """Show an order as rejected, with the products it could not have."""
        rejected = [str(product) for product in event.product_ids]
        unit.change_order(
            event.originator_id,
            event.originator_version,
            event.timestamp,
            status="rejected",
            rejected_product_ids=rejected,
        )

    @handles(Order.PaymentAuthorised)
    def authorise_payment(self, event: Order.PaymentAuthorised, unit: OrderHistoryUnit) -> None:
        """Record an order's authorised payment."""
        unit.change_order(
            event.originator_id,
            event.originator_version,
            event.timestamp,
            status="payment_authorised",
            payment_state="authorised",
            payment_id=event.payment_id,
            authorised_minor=event.amount_minor,
        )

    @handles(Order.PaymentFailed)
    def fail_payment(self, event: Order.PaymentFailed, unit: OrderHistoryUnit) -> None:
        """Record why an order's payment failed."""
        unit.change_order(
            event.originator_id,
            event.originator_version,
            event.timestamp,
            status="payment_failed",
            payment_state="failed",
            payment_failure=event.reason,
        )

    @handles(Order.Confirmed)
    def confirm_order(self, event: Order.Confirmed, unit: OrderHistoryUnit) -> None:
        """Show an order as confirmed, and when."""
        unit.change_order(
            event.originator_id,
            event.originator_version,
            event.timestamp,
            status="confirmed",
            confirmed_at=event.timestamp,
        )

    @handles(Order.Cancelled)
    def cancel_order(self, event: Order.Cancelled, unit: OrderHistoryUnit) -> None:
        """Show an order as cancelled, and why."""
        unit.change_order(
            event.originator_id,
            event.originator_version,
            event.timestamp,
            status="cancelled",
            cancellation_reason=event.reason,
        )

    @handles(Order.Expired)
    def expire_order(self, event: Order.Expired, unit: OrderHistoryUnit) -> None:
        """Show an order as expired."""
        unit.change_order(
            event.originator_id, event.originator_version, event.timestamp, status="expired"
        )

    @handles(Order.PaymentVoided)
    def void_payment(self, event: Order.PaymentVoided, unit: OrderHistoryUnit) -> None:
        """Show an order's payment as voided."""
        unit.change_order(
            event.originator_id, event.originator_version, event.timestamp, payment_state="voided"
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
