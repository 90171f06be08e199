"""The checkout process manager: from a placed order to reserved stock, payment and fulfilment.

It reacts to order events and issues the next command. Every command it issues is
idempotent (reservations are keyed by order, state changes repeat as no-ops, gateway
calls carry the order's keys), so replaying events after a crash repeats no effect.
Gateway calls are not made here: the order's payment work is queued in the checkout
book and done by PaymentSettlement, so a slow gateway never holds up the log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

import structlog

from commands.catalog import CatalogApplication
from commands.inventory import InventoryApplication
from commands.orders import OrdersApplication
from commands.payments import GatewayAnswer, PaymentGateway
from domain.base import Cause, Context, event_id
from domain.errors import InsufficientStock, InvalidValue, NotFound, RuleViolated
from domain.money import Money
from domain.order import Order
from domain.order_lines import OrderLine, OrderStatus
from domain.seller import Seller

log = structlog.get_logger()

ACTOR = "checkout"
PaymentKind = Literal["authorise", "capture", "void", "refund"]
FanOut = Callable[[Iterable[Callable[[], object]]], None]
"""Runs independent commands, perhaps at once; returns when all are done, raises if one did."""


def one_by_one(calls: Iterable[Callable[[], object]]) -> None:
    """Run independent commands in turn."""
    for call in calls:
        call()


@dataclass(eq=False)
class CheckoutProcess:
    """Reserves every line of a placed order (all or nothing), confirms paid orders,
    sells their units and opens one fulfilment per seller; gives stock back when an
    order fails, expires or is cancelled."""

    orders: OrdersApplication
    inventory: InventoryApplication
    catalog: CatalogApplication
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    fan_out: FanOut = one_by_one

    def react(self, event: Any) -> Cause | None:
        """Issue the commands that follow from one order event; for a Placed event whose
        stock this call reserved, the cause its StockReserved event gives what follows."""
        ctx = Cause.of(event).context(self.clock(), ACTOR)
        order_id = event.originator_id
        match event:
            case Order.Placed():
                return self._reserve(order_id, ctx)
            case Order.PaymentAuthorised():
                self._ignore_if_moved_on(lambda: self.orders.confirm(order_id, ctx))
            case Order.Confirmed():
                self._fulfil(order_id, ctx)
            case Order.PaymentFailed():
                self._give_back(order_id, "payment failed", ctx)
            case Order.Expired():
                self._give_back(order_id, "order expired", ctx)
            case Order.Cancelled():
                self._give_back(order_id, "order cancelled", ctx)
        return None

    def _reserve(self, order_id: UUID, ctx: Context) -> Cause | None:
        order = self.orders.order(order_id)
        if order.status is not OrderStatus.PLACED or ctx.at >= order.expires_at:
            return None
        refused: set[UUID] = set()

        def hold(line: OrderLine) -> Callable[[], None]:
            def reserve() -> None:
                try:
                    self.inventory.reserve(
                        line.product_id,
                        order.id,
                        line.quantity,
                        order.expires_at,
                        ctx,
                        buyer_id=order.customer_id,
                    )
                except (InsufficientStock, RuleViolated, NotFound, InvalidValue):
                    refused.add(line.product_id)

            return reserve

        self.fan_out([hold(line) for line in order.lines])
        failed = [line.product_id for line in order.lines if line.product_id in refused]
        if not failed:
            try:
                reserved = self.orders.reserve_stock(order_id, ctx)
            except RuleViolated as error:
                log.info("checkout_step_moot", reason=str(error))
                return None
            if reserved.position is None:  # reserved before: its event is in the log
                return None
            return Cause(str(event_id(order_id, reserved.version)), ctx.correlation_id)
        # A line that failed holds nothing for the order (a repeated reserve succeeds), so
        # only the others are given back: a one-line order's rejection costs no stock change.
        held = [line for line in order.lines if line.product_id not in refused]
        self._return_lines(order.id, held, "order rejected", ctx)
        self._ignore_if_moved_on(lambda: self.orders.reject(order_id, failed, ctx))
        return None

    def _fulfil(self, order_id: UUID, ctx: Context) -> None:
        """Sell every line's units and open each seller's fulfilment: independent streams."""
        order = self.orders.order(order_id)

        def sell(line: OrderLine) -> Callable[[], object]:
            return lambda: self.inventory.commit(line.product_id, order.id, ctx)

        def open_for(seller_id: UUID) -> Callable[[], object]:
            def open_fulfilment() -> object:
                seller = self.catalog.recent(seller_id, Seller)
                return self.orders.open_fulfilment(order, seller_id, seller.address, ctx)

            return open_fulfilment

        self.fan_out(
            [*(sell(line) for line in order.lines), *(open_for(s) for s in order.lines_by_seller)]
        )

    def _give_back(self, order_id: UUID, reason: str, ctx: Context) -> None:
        """Put every line's units back, held or sold; a product never stocked holds none."""
        self._return_lines(order_id, self.orders.order(order_id).lines, reason, ctx)

    def _return_lines(
        self, order_id: UUID, lines: Sequence[OrderLine], reason: str, ctx: Context
    ) -> None:
        for line in lines:
            with suppress(NotFound):
                self.inventory.return_units(line.product_id, order_id, reason, ctx)

    @staticmethod
    def _ignore_if_moved_on(command: Callable[[], object]) -> None:
        """Run a state change that is moot if the order already left that state."""
        try:
            command()
        except RuleViolated as error:
            log.info("checkout_step_moot", reason=str(error))


@dataclass(frozen=True)
class PaymentJob:
    """Gateway work due for an order: authorise its total, capture, void or refund it.

    reference tells apart calls of one kind for one order (the refund id of a refund);
    cause is the order event that queued the work, which the events it records answer to.
    """

    order_id: UUID
    kind: PaymentKind
    amount_minor: int
    currency: str
    payment_id: str | None
    attempts: int
    reference: str
    cause: Cause


@dataclass(frozen=True)
class Settled:
    """What became of a payment job: done, or retry later; and any late authorisation to void."""

    done: bool
    void_payment_id: str | None = None


@dataclass(eq=False)
class PaymentSettlement:
    """Does one payment job at the gateway and records the answer on the order."""

    orders: OrdersApplication
    gateway: PaymentGateway
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def settle(self, job: PaymentJob) -> Settled:
        """Call the gateway once (the client retries inside) and record what it said."""
        ctx = job.cause.context(self.clock(), "payments")
        key = f"{job.order_id}:{job.kind}"
        if job.kind == "authorise":
            answer = self.gateway.authorise(
                key, job.amount_minor, job.currency, reference=str(job.order_id)
            )
            return self._record_authorisation(job, answer, ctx)
        if job.payment_id is None:
            raise ValueError(f"a {job.kind} job needs a payment id")
        if job.kind in ("capture", "refund"):
            return self._move_money(job, key)
        answer = self.gateway.void(job.payment_id, f"{job.payment_id}:void")
        if answer.status == "unavailable":
            return Settled(done=False)
        with suppress(RuleViolated):  # a late authorisation never reached the order
            self.orders.void_payment(job.order_id, ctx)
        return Settled(done=True)

    def _move_money(self, job: PaymentJob, key: str) -> Settled:
        """Capture or refund: recorded on the order already, done at the gateway here."""
        assert job.payment_id is not None
        if job.kind == "capture":
            answer = self.gateway.capture(job.payment_id, key, job.amount_minor, job.currency)
        else:
            answer = self.gateway.refund(
                job.payment_id, f"{key}:{job.reference}", job.amount_minor, job.currency
            )
        if answer.status == "declined":
            log.error(
                "payment_refused", kind=job.kind, order_id=str(job.order_id), reason=answer.reason
            )
        return Settled(done=answer.status != "unavailable")

    def _record_authorisation(
        self, job: PaymentJob, answer: GatewayAnswer, ctx: Context
    ) -> Settled:
        if answer.status == "unavailable":
            return Settled(done=False)
        try:
            if answer.status == "declined":
                self.orders.fail_payment(job.order_id, answer.reason or "declined", ctx)
                return Settled(done=True)
            if answer.payment_id is None:
                raise ValueError("an approved authorisation has a payment id")
            amount = Money(job.amount_minor, job.currency)
            self.orders.authorise_and_confirm(
                job.order_id, answer.payment_id, amount, ctx, confirmed_at=self.clock()
            )
        except (RuleViolated, NotFound) as error:
            log.info("payment_arrived_late", order_id=str(job.order_id), reason=str(error))
            late = answer.payment_id if answer.status == "approved" else None
            return Settled(done=True, void_payment_id=late)
        return Settled(done=True)
