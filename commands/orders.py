"""Orders context: orders from checkout to delivery, and each seller's fulfilment."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import RecordConflictError

from commands.access import ADMIN, require_owner
from commands.base import ContextApplication, Outcome
from commands.errors import Forbidden
from domain.base import Cause, Context
from domain.errors import RuleViolated
from domain.fulfilment import Fulfilment, fulfilment_id
from domain.money import Money
from domain.order import Order


class OrdersApplication(ContextApplication):
    """Places orders, moves them through payment and shipping, and opens fulfilments."""

    name = "orders"

    def place(self, order: Order) -> tuple[Outcome, bool]:
        """Append a new order; if its id exists (a repeated checkout), the existing one."""
        try:
            return self.create(order), True
        except RecordConflictError:
            existing = self.load(order.id, Order)
            return Outcome(existing.id, existing.version, self.log_name, None), False

    def order(self, order_id: UUID) -> Order:
        """The current order."""
        return self.load(order_id, Order)

    def reserve_stock(self, order_id: UUID, ctx: Context) -> Outcome:
        """Record that every line's units are held."""
        return self._change(order_id, lambda o: o.reserve_stock(ctx))

    def reject(self, order_id: UUID, product_ids: Sequence[UUID], ctx: Context) -> Outcome:
        """Refuse the order: these products are out of stock."""
        return self._change(order_id, lambda o: o.reject(product_ids, ctx))

    def authorise_payment(
        self, order_id: UUID, payment_id: str, amount: Money, ctx: Context
    ) -> Outcome:
        """Record the gateway's authorisation of the order total."""
        return self._change(order_id, lambda o: o.authorise_payment(payment_id, amount, ctx))

    def authorise_and_confirm(
        self, order_id: UUID, payment_id: str, amount: Money, ctx: Context, confirmed_at: datetime
    ) -> Outcome:
        """Record the gateway's authorisation and confirm the order (at confirmed_at) in the
        same append; the confirmation answers to the authorisation. A repeated authorisation
        confirms nothing (whoever follows the log confirms it)."""

        def authorise_then_confirm(order: Order) -> None:
            before = len(order.pending_events)
            order.authorise_payment(payment_id, amount, ctx)
            if len(order.pending_events) > before:
                cause = Cause.of(order.pending_events[-1])
                order.confirm(cause.context(max(confirmed_at, ctx.at), ctx.actor))

        return self._change(order_id, authorise_then_confirm)

    def fail_payment(self, order_id: UUID, reason: str, ctx: Context) -> Outcome:
        """Record that the gateway refused the payment."""
        return self._change(order_id, lambda o: o.fail_payment(reason, ctx))

    def confirm(self, order_id: UUID, ctx: Context) -> Outcome:
        """Confirm a paid order."""
        return self._change(order_id, lambda o: o.confirm(ctx))

    def advance_part(
        self,
        order_id: UUID,
        seller_id: UUID | None,
        step: Callable[[Order, UUID, Context], None],
        ctx: Context,
        expected_version: int | None = None,
    ) -> Outcome:
        """Take a step (Order.ship, Order.deliver) with one seller's part of an order: the
        acting seller's, or an admin's choice; an admin naming no seller takes it with the
        part of an order's only seller."""
        if seller_id is not None:
            require_owner(ctx, seller_id)
        elif ctx.role != ADMIN:
            raise Forbidden("a seller changes its own part")

        def take_step(order: Order) -> None:
            part = seller_id if seller_id is not None else only_seller(order)
            if ctx.role != ADMIN and part not in order.lines_by_seller:
                raise Forbidden("only a seller of the order may change its part")
            step(order, part, ctx)

        return self._change(order_id, take_step, expected_version)

    def cancel(
        self, order_id: UUID, reason: str, ctx: Context, expected_version: int | None = None
    ) -> Outcome:
        """Cancel the order at its shopper's (or an admin's) request."""

        def cancel(order: Order) -> None:
            require_owner(ctx, order.customer_id)
            order.cancel(reason, ctx)

        return self._change(order_id, cancel, expected_version)

    def refund(self, order_id: UUID, refund_id: str, amount: Money, ctx: Context) -> Outcome:
        """Refund part of a captured payment (a seller of the order, or an admin)."""

        def refund(order: Order) -> None:
            if ctx.role != ADMIN and ctx.actor not in {str(s) for s in order.lines_by_seller}:
                raise Forbidden("only a seller of the order may refund it")
            order.refund(refund_id, amount, ctx)

        return self._change(order_id, refund)

    def void_payment(self, order_id: UUID, ctx: Context) -> Outcome:
        """Record that the authorisation of a cancelled or expired order was voided."""
        return self._change(order_id, lambda o: o.void_payment(ctx))

    def expire(self, order_id: UUID, ctx: Context) -> Outcome:
        """Expire an order whose payment deadline has passed."""
        return self._change(order_id, lambda o: o.expire(ctx))

    def open_fulfilment(
        self, order: Order, seller_id: UUID, ship_from: Mapping[str, str] | None, ctx: Context
    ) -> Outcome:
        """Open the fulfilment of a seller's part of a confirmed order, once."""
        lines: list[dict[str, Any]] = [
            {"product_id": str(line.product_id), "title": line.title, "quantity": line.quantity}
            for line in order.lines_by_seller[seller_id]
        ]
        fulfilment = Fulfilment.open(
            order.id, seller_id, order.customer_id, lines, order.ship_to, ship_from, ctx
        )
        try:
            return self.create(fulfilment)
        except RecordConflictError:
            existing = self.load(fulfilment.id, Fulfilment)
            return Outcome(existing.id, existing.version, self.log_name, None)

    def attach_label(
        self, order_id: UUID, seller_id: UUID, blob_key: str, content_type: str, ctx: Context
    ) -> Outcome:
        """Attach the rendered shipping label to a fulfilment."""
        return self.change(
            fulfilment_id(order_id, seller_id),
            Fulfilment,
            lambda f: f.attach_label(blob_key, content_type, ctx),
        )

    def fulfilment(self, order_id: UUID, seller_id: UUID) -> Fulfilment:
        """The fulfilment of a seller's part of an order."""
        return self.load(fulfilment_id(order_id, seller_id), Fulfilment)

    def _change(
        self, order_id: UUID, decide: Callable[[Order], None], expected_version: int | None = None
    ) -> Outcome:
        return self.change(order_id, Order, decide, expected_version)


def only_seller(order: Order) -> UUID:
    """The order's one seller; an order of several sellers needs one named (RuleViolated)."""
    sellers = list(order.lines_by_seller)
    if len(sellers) != 1:
        raise RuleViolated("the order has several sellers: name the seller_id")
    return sellers[0]
