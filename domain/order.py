"""Order: a shopper's checkout of a cart, from placement through payment, shipping and refunds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from domain.address import checked_address
from domain.base import Context, MarketplaceAggregate
from domain.errors import InvalidValue, RuleViolated
from domain.money import Money
from domain.order_lines import (
    CANCELLABLE,
    EXPIRABLE,
    MAX_LINES,
    OrderLine,
    OrderStatus,
    checked_line,
)
from domain.text import bounded

ORDER_NAMESPACE = UUID("9a6c1f4e-7b2d-4e0a-8c3f-1d5e6b7a8c9d")


def order_id_for(customer_id: UUID, idempotency_key: str) -> UUID:
    """The id of the order a customer's checkout with this idempotency key places."""
    return uuid5(ORDER_NAMESPACE, f"{customer_id}/{idempotency_key}")


class Order(MarketplaceAggregate):
    """An order in one currency, grouped by seller; every change of state is one event."""

    class Placed(MarketplaceAggregate.Created):
        customer_id: UUID
        currency: str
        lines: list[dict[str, Any]]
        expires_at: datetime
        idempotency_key: str
        ship_to: dict[str, str]

        @property
        def order_lines(self) -> tuple[OrderLine, ...]:
            """The lines as value objects (lines holds them as stored: OrderLine.as_record)."""
            return tuple(OrderLine.from_record(line) for line in self.lines)

    class StockReserved(MarketplaceAggregate.Event):
        def apply(self, order: Order) -> None:
            order._status = OrderStatus.STOCK_RESERVED
            order.stock_reserved = True

    class Rejected(MarketplaceAggregate.Event):
        product_ids: list[UUID]

        def apply(self, order: Order) -> None:
            order._status = OrderStatus.REJECTED
            order.rejected_product_ids = tuple(self.product_ids)

    class PaymentAuthorised(MarketplaceAggregate.Event):
        payment_id: str
        amount_minor: int
        currency: str

        def apply(self, order: Order) -> None:
            order._status = OrderStatus.PAYMENT_AUTHORISED
            order.payment_id = self.payment_id

    class PaymentFailed(MarketplaceAggregate.Event):
        reason: str

        def apply(self, order: Order) -> None:
            order._status = OrderStatus.PAYMENT_FAILED
            order.payment_failure = self.reason

    class Confirmed(MarketplaceAggregate.Event):
        def apply(self, order: Order) -> None:
            order._status = OrderStatus.CONFIRMED

    class Shipped(MarketplaceAggregate.Event):
        seller_id: UUID

        def apply(self, order: Order) -> None:
            order._shipped.add(self.seller_id)

    class PaymentCaptured(MarketplaceAggregate.Event):
        payment_id: str
        amount_minor: int
        currency: str

        def apply(self, order: Order) -> None:
            order._captured_minor += self.amount_minor

    class Delivered(MarketplaceAggregate.Event):
        seller_id: UUID

        def apply(self, order: Order) -> None:
            order._delivered.add(self.seller_id)

    class Cancelled(MarketplaceAggregate.Event):
        reason: str

        def apply(self, order: Order) -> None:
            order._status = OrderStatus.CANCELLED
            order.cancellation_reason = self.reason

    class Refunded(MarketplaceAggregate.Event):
        refund_id: str
        payment_id: str
        amount_minor: int
        currency: str

        def apply(self, order: Order) -> None:
            order._refunds[self.refund_id] = self.amount_minor

    class PaymentVoided(MarketplaceAggregate.Event):
        payment_id: str

        def apply(self, order: Order) -> None:
            order.payment_voided = True

    class Expired(MarketplaceAggregate.Event):
        def apply(self, order: Order) -> None:
            order._status = OrderStatus.EXPIRED

    def __init__(
        self,
        customer_id: UUID,
        currency: str,
        lines: list[dict[str, Any]],
        expires_at: datetime,
        idempotency_key: str,
        ship_to: dict[str, str],
    ) -> None:
        self.customer_id = customer_id
        self.currency = currency
        self.lines = tuple(OrderLine.from_record(line) for line in lines)
        self.expires_at = expires_at
        self.idempotency_key = idempotency_key
        self.ship_to = dict(ship_to)
        self.payment_voided = False
        self._status = OrderStatus.PLACED
        self.stock_reserved = False
        self.rejected_product_ids: tuple[UUID, ...] = ()
        self.payment_id: str | None = None
        self.payment_failure: str | None = None
        self.cancellation_reason: str | None = None
        self._shipped: set[UUID] = set()
        self._delivered: set[UUID] = set()
        self._captured_minor = 0
        self._refunds: dict[str, int] = {}

    @property
    def status(self) -> OrderStatus:
        """The order's state; after confirmation it follows the sellers' shipments."""
        if self._status is not OrderStatus.CONFIRMED or not self._shipped:
            return self._status
        sellers = set(self.lines_by_seller)
        if self._delivered == sellers:
            return OrderStatus.DELIVERED
        return OrderStatus.SHIPPED if self._shipped == sellers else OrderStatus.PARTIALLY_SHIPPED

    @property
    def total(self) -> Money:
        """The sum of every line's subtotal."""
        return Money(sum(line.subtotal.minor for line in self.lines), self.currency)

    @property
    def lines_by_seller(self) -> dict[UUID, tuple[OrderLine, ...]]:
        """The lines grouped by seller, sellers in order of their first line."""
        groups: dict[UUID, list[OrderLine]] = {}
        for line in self.lines:
            groups.setdefault(line.seller_id, []).append(line)
        return {seller: tuple(lines) for seller, lines in groups.items()}

    @property
    def seller_subtotals(self) -> dict[UUID, Money]:
        """What each seller's lines add up to."""
        return {
            seller: Money(sum(line.subtotal.minor for line in lines), self.currency)
            for seller, lines in self.lines_by_seller.items()
        }

    @property
    def shipped_sellers(self) -> frozenset[UUID]:
        """Sellers who have shipped their part of the order."""
        return frozenset(self._shipped)

    @property
    def delivered_sellers(self) -> frozenset[UUID]:
        """Sellers whose part of the order was delivered."""
        return frozenset(self._delivered)

    @property
    def captured(self) -> Money:
        """The amount of the payment that was captured."""
        return Money(self._captured_minor, self.currency)

    @property
    def refunded(self) -> Money:
        """The sum of every refund so far."""
        return Money(sum(self._refunds.values()), self.currency)

    @classmethod
    def place(
        cls,
        order_id: UUID,
        customer_id: UUID,
        lines: Sequence[OrderLine],
        expires_at: datetime,
        idempotency_key: str,
        ship_to: Mapping[str, str],
        ctx: Context,
    ) -> Order:
        """Place an order from 1..MAX_LINES cart lines of one currency, payable until expires_at."""
        if not 1 <= len(lines) <= MAX_LINES:
            raise InvalidValue(f"an order has from 1 to {MAX_LINES} lines")
        if len({line.product_id for line in lines}) != len(lines):
            raise InvalidValue("an order has at most one line per product")
        currencies = {line.unit_price.currency for line in lines}
        if len(currencies) > 1:
            raise RuleViolated(f"an order is paid in one currency, not {sorted(currencies)}")
        checked = [checked_line(line) for line in lines]
        (currency,) = currencies
        Money(sum(line.subtotal.minor for line in lines), currency)  # the total must be valid
        if expires_at <= ctx.at:
            raise InvalidValue("the payment deadline must be in the future")
        return cls._start(
            cls.Placed,
            order_id,
            ctx,
            customer_id=customer_id,
            currency=currency,
            lines=[line.as_record() for line in checked],
            expires_at=expires_at,
            idempotency_key=bounded("idempotency key", idempotency_key, 200),
            ship_to=checked_address(ship_to),
        )

    def reserve_stock(self, ctx: Context) -> None:
        """Record that stock is held for every line; reserving again changes nothing."""
        if self.stock_reserved:
            return
        self._require(OrderStatus.PLACED, "reserve stock for")
        self._emit(self.StockReserved, ctx)

    def reject(self, product_ids: Sequence[UUID], ctx: Context) -> None:
        """Refuse the order because these products are out of stock."""
        failed = list(dict.fromkeys(product_ids))
        known = {line.product_id for line in self.lines}
        if not failed or not set(failed) <= known:
            raise InvalidValue("name at least one product, and only products of this order")
        if self._status is OrderStatus.REJECTED and set(failed) == set(self.rejected_product_ids):
            return
        self._require(OrderStatus.PLACED, "reject")
        self._emit(self.Rejected, ctx, product_ids=failed)

    def authorise_payment(self, payment_id: str, amount: Money, ctx: Context) -> None:
        """Record the payment authorisation for exactly the total, before the deadline."""
        payment_id = bounded("payment id", payment_id, 200)
        if amount != self.total:
            raise RuleViolated(f"authorised {amount} does not equal the order total {self.total}")
        if self.payment_id == payment_id:
            return
        self._require(OrderStatus.STOCK_RESERVED, "authorise payment for")
        if ctx.at >= self.expires_at:
            raise RuleViolated("the payment deadline has passed")
        self._emit(
            self.PaymentAuthorised,
            ctx,
            payment_id=payment_id,
            amount_minor=amount.minor,
            currency=amount.currency,
        )

    def fail_payment(self, reason: str, ctx: Context) -> None:
        """Record that the payment could not be authorised."""
        reason = bounded("reason", reason, 500)
        if self._status is OrderStatus.PAYMENT_FAILED and reason == self.payment_failure:
            return
        self._require(OrderStatus.STOCK_RESERVED, "fail payment of")
        self._emit(self.PaymentFailed, ctx, reason=reason)

    def confirm(self, ctx: Context) -> None:
        """Confirm an authorised order; confirming again changes nothing."""
        if self._status is OrderStatus.CONFIRMED:
            return
        self._require(OrderStatus.PAYMENT_AUTHORISED, "confirm")
        self._emit(self.Confirmed, ctx)

    def ship(self, seller_id: UUID, ctx: Context) -> None:
        """Record a seller's shipment; the first one also records the capture of the payment."""
        self._require_seller(seller_id)
        if seller_id in self._shipped:
            return
        self._require(OrderStatus.CONFIRMED, "ship")
        first = not self._shipped
        self._emit(self.Shipped, ctx, seller_id=seller_id)
        if first:
            total = self.total
            self._emit(
                self.PaymentCaptured,
                ctx,
                payment_id=self.payment_id,
                amount_minor=total.minor,
                currency=total.currency,
            )

    def deliver(self, seller_id: UUID, ctx: Context) -> None:
        """Record the delivery of a seller's shipped part; delivering again changes nothing."""
        self._require_seller(seller_id)
        if seller_id in self._delivered:
            return
        if seller_id not in self._shipped:
            raise RuleViolated("this seller has not shipped yet")
        self._emit(self.Delivered, ctx, seller_id=seller_id)

    def cancel(self, reason: str, ctx: Context) -> None:
        """Cancel at the shopper's request before anything has shipped."""
        reason = bounded("reason", reason, 500)
        if self._status is OrderStatus.CANCELLED and reason == self.cancellation_reason:
            return
        if self._status not in CANCELLABLE or self._shipped:
            raise RuleViolated(f"cannot cancel an order that is {self.status}")
        self._emit(self.Cancelled, ctx, reason=reason)

    def refund(self, refund_id: str, amount: Money, ctx: Context) -> None:
        """Refund part of the captured payment; the same refund id and amount again is a no-op."""
        refund_id = bounded("refund id", refund_id, 200)
        if amount.currency != self.currency or amount.minor <= 0:
            raise InvalidValue(f"a refund is a positive amount in {self.currency}")
        previous = self._refunds.get(refund_id)
        if previous is not None:
            if previous != amount.minor:
                raise RuleViolated("this refund id was used for another amount")
            return
        if not self._captured_minor:
            raise RuleViolated("nothing has been captured yet")
        left = self._captured_minor - sum(self._refunds.values())
        if amount.minor > left:
            raise RuleViolated(f"only {left} minor units are left to refund")
        self._emit(
            self.Refunded,
            ctx,
            refund_id=refund_id,
            payment_id=self.payment_id,
            amount_minor=amount.minor,
            currency=amount.currency,
        )

    def void_payment(self, ctx: Context) -> None:
        """Record that the uncaptured authorisation of a cancelled or expired order was voided."""
        if self.payment_voided:
            return
        if self._status not in (OrderStatus.CANCELLED, OrderStatus.EXPIRED):
            raise RuleViolated(f"cannot void the payment of an order that is {self.status}")
        if self.payment_id is None or self._captured_minor:
            raise RuleViolated("there is no uncaptured authorisation to void")
        self._emit(self.PaymentVoided, ctx, payment_id=self.payment_id)

    def expire(self, ctx: Context) -> None:
        """Expire an unconfirmed order once its payment deadline has come."""
        if self._status is OrderStatus.EXPIRED:
            return
        if self._status not in EXPIRABLE:
            raise RuleViolated(f"cannot expire an order that is {self.status}")
        if ctx.at < self.expires_at:
            raise RuleViolated("the payment deadline has not come yet")
        self._emit(self.Expired, ctx)

    def _require(self, status: OrderStatus, action: str) -> None:
        if self._status is not status:
            raise RuleViolated(f"cannot {action} an order that is {self.status}")

    def _require_seller(self, seller_id: UUID) -> None:
        if seller_id not in self.lines_by_seller:
            raise RuleViolated("the order has no lines from this seller")
