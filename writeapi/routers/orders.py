"""Orders after checkout: the shopper's cancellation, each seller's shipment and delivery."""

from __future__ import annotations

from uuid import UUID, uuid5

from fastapi import APIRouter
from starlette.responses import Response

from commands.base import Outcome
from domain.money import Money
from domain.order import Order
from writeapi.deps import SellerCall, ShopperCall
from writeapi.execution import Call, Reply
from writeapi.openapi import NOT_FOUND, command
from writeapi.schemas import CancelOrder, Price, SellerPart

router = APIRouter(prefix="/v1/orders", tags=["orders"])


@router.post("/{order_id}/cancellation", **command(NOT_FOUND, if_match=True))
def cancel_order(order_id: UUID, body: CancelOrder, call: ShopperCall) -> Response:
    """Cancel an order before anything has shipped (its shopper, or an admin). Honors If-Match.

    Cancelling again with the same reason changes nothing; an authorised payment is
    voided afterwards, asynchronously.
    """
    version = call.expected_version()
    orders = call.commands.orders

    def cancelled(outcome: Outcome) -> Reply:
        return Reply(outcome, extra={"status": "cancelled"})

    return call.run(
        body, lambda ctx: cancelled(orders.cancel(order_id, body.reason, ctx, version)), cancelled
    )


@router.post("/{order_id}/shipments", **command(NOT_FOUND, if_match=True))
def ship_order(order_id: UUID, body: SellerPart, call: SellerCall) -> Response:
    """Record that a seller shipped its part of a confirmed order. Honors If-Match.

    The first shipment of an order also captures its payment; shipping again changes nothing.
    """
    seller_id = seller_of_part(body, call)
    orders = call.commands.orders
    return call.update(
        body,
        lambda ctx, version: orders.advance_part(order_id, seller_id, Order.ship, ctx, version),
    )


@router.post("/{order_id}/deliveries", **command(NOT_FOUND, if_match=True))
def deliver_order(order_id: UUID, body: SellerPart, call: SellerCall) -> Response:
    """Record that a seller's shipped part reached the shopper. Honors If-Match.

    The order is delivered once every seller's part is; delivering again changes nothing.
    """
    seller_id = seller_of_part(body, call)
    orders = call.commands.orders
    return call.update(
        body,
        lambda ctx, version: orders.advance_part(order_id, seller_id, Order.deliver, ctx, version),
    )


@router.post("/{order_id}/refunds", **command(NOT_FOUND, key_required=True, status=202))
def refund_order(order_id: UUID, body: Price, call: SellerCall) -> Response:
    """Refund part of a shipped order's captured payment (a seller of the order, or an admin).

    Requires an Idempotency-Key, which names the refund: the same key never refunds twice.
    The money goes back at the gateway afterwards, asynchronously.
    """
    refund_id = str(uuid5(order_id, call.required_idempotency_key()))
    amount = Money(body.amount_minor, body.currency)
    orders = call.commands.orders

    def refunded(outcome: Outcome) -> Reply:
        return Reply(outcome, extra={"refund_id": refund_id})

    return call.run(
        body, lambda ctx: refunded(orders.refund(order_id, refund_id, amount, ctx)), refunded
    )


def seller_of_part(body: SellerPart, call: Call) -> UUID | None:
    """The seller the body names, else the calling seller; none for an admin, who then
    changes the part of the order's only seller."""
    if body.seller_id is not None or call.principal.role == "admin":
        return body.seller_id
    return call.principal.sub
