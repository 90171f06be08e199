"""Turns order and fulfilment events into order-history view changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, NamedTuple, Protocol
from uuid import UUID

from domain.cart import Cart
from domain.customer import Customer
from domain.fulfilment import Fulfilment
from domain.inventory import StockItem
from domain.order import Order
from domain.product import Product
from domain.seller import Seller
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
    ignored: ClassVar[tuple[type, ...]] = (
        Seller.Event,
        Product.Event,
        StockItem.Event,
        Customer.Event,
        Cart.Event,
    )
    """Other contexts' events, met when every context shares one log (split_logs off)."""

    def handle(self, event: Any, unit: OrderHistoryUnit) -> bool:
        """Apply one order or fulfilment event; False for any other event."""
        match event:
            case Order.Placed():
                unit.place_order(placed_order(event))
            case Fulfilment.Opened():
                unit.open_fulfilment(
                    event.originator_id, event.order_id, event.seller_id, event.customer_id
                )
            case Fulfilment.LabelAttached():
                unit.attach_label(
                    event.originator_id,
                    event.blob_key,
                    event.content_type,
                    event.originator_version,
                )
            case _:
                return self._change(event, unit)
        return True

    @staticmethod
    def _change(event: Any, unit: OrderHistoryUnit) -> bool:
        if not isinstance(event, Order.Event):
            return False
        order, version, at = event.originator_id, event.originator_version, event.timestamp
        match event:
            case Order.StockReserved():
                unit.change_order(order, version, at, status=PAYMENT_PENDING)
            case Order.Rejected():
                rejected = [str(product) for product in event.product_ids]
                unit.change_order(
                    order, version, at, status="rejected", rejected_product_ids=rejected
                )
            case Order.PaymentAuthorised():
                unit.change_order(
                    order,
                    version,
                    at,
                    status="payment_authorised",
                    payment_state="authorised",
                    payment_id=event.payment_id,
                    authorised_minor=event.amount_minor,
                )
            case Order.PaymentFailed():
                unit.change_order(
                    order,
                    version,
                    at,
                    status="payment_failed",
                    payment_state="failed",
                    payment_failure=event.reason,
                )
            case Order.Confirmed():
                unit.change_order(order, version, at, status="confirmed", confirmed_at=at)
            case Order.Cancelled():
                unit.change_order(
                    order, version, at, status="cancelled", cancellation_reason=event.reason
                )
            case Order.Expired():
                unit.change_order(order, version, at, status="expired")
            case Order.PaymentVoided():
                unit.change_order(order, version, at, payment_state="voided")
            case Order.Shipped():
                unit.ship_part(order, event.seller_id, version, at)
            case Order.Delivered():
                unit.deliver_part(order, event.seller_id, version, at)
            case Order.PaymentCaptured():
                unit.capture_payment(order, event.amount_minor, version, at)
            case Order.Refunded():
                unit.refund_payment(order, event.amount_minor, version, at)
            case _:
                return False
        return True


def placed_order(event: Order.Placed) -> PlacedOrder:
    """The order a Placed event describes."""
    lines = tuple(
        PlacedLine(
            line_no=n,
            seller_id=as_uuid(line["seller_id"]),
            product_id=as_uuid(line["product_id"]),
            title=str(line["title"]),
            quantity=int(line["quantity"]),
            unit_price_minor=int(line["unit_price"]["minor"]),
        )
        for n, line in enumerate(event.lines)
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
