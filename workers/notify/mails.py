"""The mails an order's events cause: to whom, with which stable id, subject and text.

Every text is a function of the order's own events, so a replay composes the same mails
with the same ids. Recipients are named by kind and id; their addresses are looked up in
the mail directory when a mail is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from domain.base import Cause, event_id
from domain.money import Money
from domain.order_lines import OrderLine

MAIL_NAMESPACE = UUID("5d1c0a9e-3f47-4b8e-9e21-7c6b5a4d3e2f")
CUSTOMER = "customer"
SELLER = "seller"
TIMES = "\u00d7"


@dataclass(frozen=True)
class LineForMail:
    """One order line as a mail shows it."""

    seller_id: UUID
    title: str
    quantity: int
    unit_minor: int


@dataclass(frozen=True)
class OrderForMail:
    """What the mails about an order need from its Placed event."""

    order_id: UUID
    customer_id: UUID
    currency: str
    lines: tuple[LineForMail, ...]
    ship_to: Mapping[str, str]

    def sellers(self) -> list[UUID]:
        """The order's sellers, in order of their first line."""
        return list(dict.fromkeys(line.seller_id for line in self.lines))

    def lines_of(self, seller_id: UUID) -> tuple[LineForMail, ...]:
        """The lines one seller ships."""
        return tuple(line for line in self.lines if line.seller_id == seller_id)


@dataclass(frozen=True)
class Letter:
    """A mail as the outbox keeps it: its id, its recipient by kind and id, its text, and
    when its cause happened."""

    message_id: UUID
    recipient_kind: str
    recipient_id: UUID
    subject: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class OutboxMail(Letter):
    """A mail to put in the outbox: its id is stable for its cause and recipient."""

    cause: Cause


def order_for_mail(
    order_id: UUID,
    customer_id: UUID,
    currency: str,
    lines: Sequence[OrderLine],
    ship_to: Mapping[str, str],
) -> OrderForMail:
    """The order as mails show it, from an Order.Placed event's fields."""
    return OrderForMail(
        order_id=order_id,
        customer_id=customer_id,
        currency=currency,
        lines=tuple(
            LineForMail(
                seller_id=line.seller_id,
                title=line.title,
                quantity=line.quantity,
                unit_minor=line.unit_price.minor,
            )
            for line in lines
        ),
        ship_to=dict(ship_to),
    )


def mail_id(cause: Any, kind: str, recipient_id: UUID) -> UUID:
    """The id of the mail an event causes to one recipient: the same on every replay."""
    cause_id = event_id(cause.originator_id, cause.originator_version)
    return uuid5(MAIL_NAMESPACE, f"{cause_id}/{kind}/{recipient_id}")


def order_confirmed(cause: Any, order: OrderForMail) -> list[OutboxMail]:
    """To the shopper: the order is confirmed; to each seller: a new order to ship."""
    to_shopper = _text(
        f"Hello {order.ship_to.get('name', '')},",
        "",
        "thank you for your order: it is confirmed, and the sellers are preparing it.",
        "",
        f"Order {order.order_id}",
        "",
        *_priced(order.lines, order.currency),
        f"Total: {Money(sum(_subtotal(line) for line in order.lines), order.currency).shown()}",
        "",
        "It ships to:",
        *_address(order.ship_to),
        "",
        "We will write again as each part of it ships.",
    )
    mails = [
        _mail(cause, CUSTOMER, order.customer_id, f"Order {_ref(order)} is confirmed", to_shopper)
    ]
    for seller in order.sellers():
        lines = order.lines_of(seller)
        to_seller = _text(
            "Hello,",
            "",
            "you have a new order to ship.",
            "",
            f"Order {order.order_id}",
            "",
            *_priced(lines, order.currency),
            f"Your part: {Money(sum(_subtotal(line) for line in lines), order.currency).shown()}",
            "",
            "Ship to:",
            *_address(order.ship_to),
            "",
            "The shipping label will be attached to the fulfilment once it is ready.",
        )
        mails.append(_mail(cause, SELLER, seller, f"New order {_ref(order)}", to_seller))
    return mails


def order_shipped(cause: Any, order: OrderForMail, seller_id: UUID) -> list[OutboxMail]:
    """To the shopper: one seller's part of the order has shipped."""
    body = _text(
        f"Hello {order.ship_to.get('name', '')},",
        "",
        f"part of your order {order.order_id} is on its way:",
        "",
        *(f"  {line.quantity} {TIMES} {line.title}" for line in order.lines_of(seller_id)),
        "",
        "It ships to:",
        *_address(order.ship_to),
    )
    return [_mail(cause, CUSTOMER, order.customer_id, f"Order {_ref(order)} has shipped", body)]


def order_cancelled(cause: Any, order: OrderForMail, reason: str) -> list[OutboxMail]:
    """To the shopper: the order was cancelled, and why."""
    body = _text(
        f"Hello {order.ship_to.get('name', '')},",
        "",
        f"your order {order.order_id} was cancelled.",
        f"Reason: {reason}",
        "",
        "Nothing was charged: any payment held for it is released.",
    )
    return [_mail(cause, CUSTOMER, order.customer_id, f"Order {_ref(order)} was cancelled", body)]


def order_expired(cause: Any, order: OrderForMail) -> list[OutboxMail]:
    """To the shopper: the order expired before its payment was completed."""
    body = _text(
        f"Hello {order.ship_to.get('name', '')},",
        "",
        f"your order {order.order_id} has expired: its payment was not completed in time.",
        "",
        "Nothing was charged. You are welcome to order again.",
    )
    return [_mail(cause, CUSTOMER, order.customer_id, f"Order {_ref(order)} has expired", body)]


def _mail(cause: Any, kind: str, recipient: UUID, subject: str, body: str) -> OutboxMail:
    message_id = mail_id(cause, kind, recipient)
    return OutboxMail(message_id, kind, recipient, subject, body, cause.timestamp, Cause.of(cause))


def _ref(order: OrderForMail) -> str:
    return str(order.order_id)[:8].upper()


def _subtotal(line: LineForMail) -> int:
    return line.unit_minor * line.quantity


def _priced(lines: Sequence[LineForMail], currency: str) -> list[str]:
    return [
        f"  {line.quantity} {TIMES} {line.title} — {Money(_subtotal(line), currency).shown()}"
        for line in lines
    ]


def _address(address: Mapping[str, str]) -> list[str]:
    parts = [address.get("name", ""), address.get("line1", ""), address.get("line2", "")]
    parts.append(f"{address.get('postal_code', '')} {address.get('city', '')}".strip())
    parts.append(address.get("country", ""))
    return [f"  {part}" for part in parts if part]


def _text(*lines: str) -> str:
    return "\n".join(lines) + "\n"
