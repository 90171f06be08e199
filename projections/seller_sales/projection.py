"""Order events to seller-sales changes: a confirmation adds, a cancellation or refund subtracts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Protocol, TypeVar
from uuid import UUID

from domain.order import Order
from projections.handlers import handles
from projections.runtime import Projection, Unit


@dataclass(frozen=True)
class SoldLine:
    """What one order line sells: which seller's product, how many, at which unit price."""

    seller_id: UUID
    product_id: UUID
    quantity: int
    unit_price_minor: int


class SellerSalesUnit(Unit, Protocol):
    """The writes of one batch, named for what they mean.

    version is the order's aggregate version: an order's sales change only if the version
    the view holds for it is lower, so an event applied twice counts once.
    """

    def remember_order(self, order_id: UUID, currency: str, lines: tuple[SoldLine, ...]) -> None:
        """Keep a placed order's lines until it is confirmed or ends."""

    def count_sale(self, order_id: UUID, hour: datetime, version: int) -> None:
        """Add a confirmed order's lines to its sellers' sales in the hour of confirmation."""

    def uncount_sale(self, order_id: UUID, version: int) -> None:
        """Take a cancelled order's lines back out of its hour, if it was confirmed."""

    def refund_sale(self, order_id: UUID, amount_minor: int, version: int) -> None:
        """Take a refund out of the revenue of the order's lines in its hour of confirmation."""


def refund_shares(amount_minor: int, line_values: list[int]) -> list[int]:
    """amount_minor split over lines in proportion to their values, in whole minor units.

    The shares add up to amount_minor exactly: each line gets its floor, and the units left
    go one each to the largest remainders (the first line first on a tie).
    """
    total = sum(line_values)
    if total <= 0:
        return [0 for _ in line_values]
    shares = [amount_minor * value // total for value in line_values]
    remainders = sorted(
        range(len(line_values)),
        key=lambda index: (-(amount_minor * line_values[index] % total), index),
    )
    for index in remainders[: amount_minor - sum(shares)]:
        shares[index] += 1
    return shares


def sold_lines(event: Order.Placed) -> tuple[SoldLine, ...]:
    """What each line of a placed order sells."""
    return tuple(
        SoldLine(
            seller_id=line.seller_id,
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price_minor=line.unit_price.minor,
        )
        for line in event.order_lines
    )


def hour_of(at: datetime) -> datetime:
    """The start of the UTC hour that holds at."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


S = TypeVar("S", bound=SellerSalesUnit)


class SalesCounting(Projection[S]):
    """A projection that keeps seller sales: its handlers of the order events.

    A confirmation counts in the period that period_of gives.
    """

    def period_of(self, at: datetime) -> datetime:
        """The start of the period that holds at: its UTC hour."""
        return hour_of(at)

    @handles(Order.Placed)
    def remember_order(self, event: Order.Placed, unit: S) -> None:
        """Keep a placed order's lines until it is confirmed or ends."""
        unit.remember_order(event.originator_id, event.currency, sold_lines(event))

    @handles(Order.Confirmed)
    def count_sale(self, event: Order.Confirmed, unit: S) -> None:
        """Add a confirmed order to its sellers' sales in the period of confirmation."""
        period = self.period_of(event.timestamp)
        unit.count_sale(event.originator_id, period, event.originator_version)

    @handles(Order.Cancelled)
    def uncount_sale(self, event: Order.Cancelled, unit: S) -> None:
        """Take a cancelled order back out of its sellers' sales, if it was confirmed."""
        unit.uncount_sale(event.originator_id, event.originator_version)

    @handles(Order.Refunded)
    def refund_sale(self, event: Order.Refunded, unit: S) -> None:
        """Take a refund out of the order's revenue in its sellers' period of confirmation."""
        unit.refund_sale(event.originator_id, event.amount_minor, event.originator_version)


class SellerSalesProjection(SalesCounting[SellerSalesUnit]):
    """Units and revenue per seller, product and UTC hour in which the order was confirmed.

    A refund (an amount on the whole order) is taken out of the revenue of the order's lines
    in proportion to their values (refund_shares), in the hour of confirmation; units stay.
    """

    name = "seller-sales"
    contexts: ClassVar[tuple[str, ...]] = ("orders",)
