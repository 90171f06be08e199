"""Inventory: one stock item per product; units are received, reserved for orders, and sold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any
from uuid import UUID, uuid5

from domain.base import Context, MarketplaceAggregate
from domain.errors import InsufficientStock, InvalidValue, PurchaseLimitExceeded, RuleViolated
from domain.text import bounded

STOCK_NAMESPACE = UUID("0b1e6f2c-3d4a-4b5c-9d6e-7f8091a2b3c4")
MAX_UNITS_PER_MOVE = 1_000_000
MAX_UNITS_PER_RESERVATION = 10_000


def stock_item_id(product_id: UUID) -> UUID:
    """The id of the one stock item that belongs to a product."""
    return uuid5(STOCK_NAMESPACE, str(product_id))


MAX_PURCHASE_LIMIT = MAX_UNITS_PER_RESERVATION
RELEASE_CAUSES = MappingProxyType(
    {
        "order expired": "expired",
        "payment failed": "payment-failed",
        "order cancelled": "cancelled",
        "order rejected": "rejected",
    }
)
"""The cause code of each reason checkout gives when it hands units back."""
OTHER_CAUSE = "other"


def release_cause(reason: str) -> str:
    """Why units came back, as a code to group by: the cause of a known reason, else "other"."""
    return RELEASE_CAUSES.get(reason, OTHER_CAUSE)


@dataclass(frozen=True)
class Reservation:
    """Units held for one order until they are committed, released or expire."""

    quantity: int
    expires_at: datetime
    buyer_id: UUID | None = None


class StockItem(MarketplaceAggregate):
    """Stock of one product. Invariant: reserved + sold never exceed received."""

    class Opened(MarketplaceAggregate.Created):
        product_id: UUID
        seller_id: UUID

    class StockReceived(MarketplaceAggregate.Event):
        quantity: int

        def apply(self, item: StockItem) -> None:
            item.received += self.quantity

    class StockAdjusted(MarketplaceAggregate.Event):
        delta: int
        reason: str

        def apply(self, item: StockItem) -> None:
            item.received += self.delta

    class UnitsReserved(MarketplaceAggregate.Event):
        order_id: UUID
        quantity: int
        expires_at: datetime
        buyer_id: UUID | None = None

        def apply(self, item: StockItem) -> None:
            item.reservations[self.order_id] = Reservation(
                self.quantity, self.expires_at, self.buyer_id
            )
            item.count_purchase(self.buyer_id, self.order_id, self.quantity)

    class PurchaseLimitSet(MarketplaceAggregate.Event):
        limit: int | None

        def apply(self, item: StockItem) -> None:
            item.purchase_limit = self.limit

    class ReservationReleased(MarketplaceAggregate.Event):
        """Held units went back to stock. Version 2 adds cause, the reason as a code (see
        RELEASE_CAUSES); a version 1 event gets the cause of its reason text."""

        class_version = 2
        order_id: UUID
        quantity: int
        reason: str
        cause: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """A v1 release's cause, read from its reason."""
            state["cause"] = release_cause(state["reason"])

        def apply(self, item: StockItem) -> None:
            del item.reservations[self.order_id]
            item.released_orders.add(self.order_id)
            item.uncount_purchase(self.order_id)

    class ReservationCommitted(MarketplaceAggregate.Event):
        order_id: UUID
        quantity: int

        def apply(self, item: StockItem) -> None:
            del item.reservations[self.order_id]
            item.sold += self.quantity
            item.committed_orders[self.order_id] = self.quantity

    class SaleCancelled(MarketplaceAggregate.Event):
        order_id: UUID
        quantity: int
        reason: str

        def apply(self, item: StockItem) -> None:
            item.sold -= self.quantity
            del item.committed_orders[self.order_id]
            item.cancelled_sales[self.order_id] = self.quantity
            item.uncount_purchase(self.order_id)

    def __init__(self, product_id: UUID, seller_id: UUID) -> None:
        self.product_id = product_id
        self.seller_id = seller_id
        self.received = 0
        self.sold = 0
        self.reservations: dict[UUID, Reservation] = {}
        self.committed_orders: dict[UUID, int] = {}
        self.released_orders: set[UUID] = set()
        self.cancelled_sales: dict[UUID, int] = {}
        self.purchase_limit: int | None = None
        self.bought: dict[UUID, int] = {}
        self._buyer_of: dict[UUID, tuple[UUID, int]] = {}

    def count_purchase(self, buyer_id: UUID | None, order_id: UUID, quantity: int) -> None:
        """Count units held or sold for a buyer (for the purchase limit)."""
        if buyer_id is not None:
            self.bought[buyer_id] = self.bought.get(buyer_id, 0) + quantity
            self._buyer_of[order_id] = (buyer_id, quantity)

    def uncount_purchase(self, order_id: UUID) -> None:
        """Stop counting an order's units for its buyer (released or sale cancelled)."""
        counted = self._buyer_of.pop(order_id, None)
        if counted is not None:
            buyer_id, quantity = counted
            self.bought[buyer_id] -= quantity

    def snapshot_state(self) -> dict[str, Any]:
        """The item's state as plain values, for a snapshot (restore_state reads it back)."""
        return {
            "product_id": self.product_id,
            "seller_id": self.seller_id,
            "received": self.received,
            "sold": self.sold,
            "reservations": [
                [order_id, r.quantity, r.expires_at, r.buyer_id]
                for order_id, r in self.reservations.items()
            ],
            "committed_orders": list(map(list, self.committed_orders.items())),
            "released_orders": list(self.released_orders),
            "cancelled_sales": list(map(list, self.cancelled_sales.items())),
            "purchase_limit": self.purchase_limit,
            "bought": list(map(list, self.bought.items())),
            "buyer_of": [[order_id, *counted] for order_id, counted in self._buyer_of.items()],
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        """Take the state a snapshot holds (see snapshot_state)."""
        self.product_id = state["product_id"]
        self.seller_id = state["seller_id"]
        self.received = state["received"]
        self.sold = state["sold"]
        self.reservations = {
            order_id: Reservation(quantity, expires_at, buyer_id)
            for order_id, quantity, expires_at, buyer_id in state["reservations"]
        }
        self.committed_orders = dict(state["committed_orders"])
        self.released_orders = set(state["released_orders"])
        self.cancelled_sales = dict(state["cancelled_sales"])
        self.purchase_limit = state["purchase_limit"]
        self.bought = dict(state["bought"])
        self._buyer_of = {order: (buyer, units) for order, buyer, units in state["buyer_of"]}

    @property
    def reserved(self) -> int:
        """Units held by open reservations."""
        return sum(r.quantity for r in self.reservations.values())

    @property
    def available(self) -> int:
        """Units that can still be reserved."""
        return self.received - self.reserved - self.sold

    @classmethod
    def open(cls, product_id: UUID, seller_id: UUID, ctx: Context) -> StockItem:
        """Open the stock item of a product, with no units yet."""
        return cls._start(
            cls.Opened, stock_item_id(product_id), ctx, product_id=product_id, seller_id=seller_id
        )

    def receive(self, quantity: int, ctx: Context) -> None:
        """Add delivered units to stock."""
        _require_units(quantity, MAX_UNITS_PER_MOVE)
        if self.received + quantity > MAX_UNITS_PER_MOVE * 100:
            raise InvalidValue("stock would exceed the largest count an item may hold")
        self._emit(self.StockReceived, ctx, quantity=quantity)

    def adjust(self, delta: int, reason: str, ctx: Context) -> None:
        """Correct the count of units on hand, never below what is reserved or sold."""
        if (
            isinstance(delta, bool)
            or not isinstance(delta, int)
            or delta == 0
            or abs(delta) > MAX_UNITS_PER_MOVE
        ):
            raise InvalidValue(f"adjustment must be non-zero and at most {MAX_UNITS_PER_MOVE}")
        if self.received + delta > MAX_UNITS_PER_MOVE * 100:
            raise InvalidValue("stock would exceed the largest count an item may hold")
        if self.received + delta < self.reserved + self.sold:
            raise InsufficientStock(
                f"cannot remove {-delta} units: only {self.available} are unreserved"
            )
        self._emit(self.StockAdjusted, ctx, delta=delta, reason=bounded("reason", reason, 500))

    def set_purchase_limit(self, limit: int | None, ctx: Context) -> None:
        """Cap the units one buyer may hold or buy (None: no cap); for flash sales."""
        if limit is not None and (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_PURCHASE_LIMIT
        ):
            raise InvalidValue(f"a purchase limit is from 1 to {MAX_PURCHASE_LIMIT} units")
        if limit != self.purchase_limit:
            self._emit(self.PurchaseLimitSet, ctx, limit=limit)

    def reserve(
        self,
        order_id: UUID,
        quantity: int,
        expires_at: datetime,
        ctx: Context,
        buyer_id: UUID | None = None,
    ) -> None:
        """Hold units for an order; reserving again for the same order changes nothing.

        With a purchase limit, a buyer's units held and bought may not exceed it.
        """
        _require_units(quantity, MAX_UNITS_PER_RESERVATION)
        if order_id in self.reservations or order_id in self.committed_orders:
            return
        if order_id in self.released_orders or order_id in self.cancelled_sales:
            raise RuleViolated("the reservation for this order was already released")
        if expires_at <= ctx.at:
            raise InvalidValue("a reservation must expire in the future")
        if quantity > self.available:
            raise InsufficientStock(f"{quantity} units requested, {self.available} available")
        if self.purchase_limit is not None and buyer_id is not None:
            already = self.bought.get(buyer_id, 0)
            if already + quantity > self.purchase_limit:
                raise PurchaseLimitExceeded(
                    f"at most {self.purchase_limit} units per buyer; {already} already held"
                )
        self._emit(
            self.UnitsReserved,
            ctx,
            order_id=order_id,
            quantity=quantity,
            expires_at=expires_at,
            buyer_id=buyer_id,
        )

    def release(self, order_id: UUID, reason: str, ctx: Context) -> None:
        """Return an order's held units to stock; releasing what is not held changes nothing."""
        if order_id in self.committed_orders:
            raise RuleViolated("the reservation for this order was already sold")
        reservation = self.reservations.get(order_id)
        if reservation is not None:
            text = bounded("reason", reason, 200)
            self._emit(
                self.ReservationReleased,
                ctx,
                order_id=order_id,
                quantity=reservation.quantity,
                reason=text,
                cause=release_cause(text),
            )

    def cancel_sale(self, order_id: UUID, reason: str, ctx: Context) -> None:
        """Put an order's sold units back on sale (the order was cancelled before shipment)."""
        if order_id in self.cancelled_sales:
            return
        quantity = self.committed_orders.get(order_id)
        if quantity is None:
            raise RuleViolated("no sale to cancel for this order")
        self._emit(
            self.SaleCancelled,
            ctx,
            order_id=order_id,
            quantity=quantity,
            reason=bounded("reason", reason, 200),
        )

    def commit(self, order_id: UUID, ctx: Context) -> None:
        """Turn an order's held units into sold units; committing twice changes nothing."""
        if order_id in self.committed_orders:
            return
        reservation = self.reservations.get(order_id)
        if reservation is None:
            raise RuleViolated("no open reservation for this order")
        self._emit(self.ReservationCommitted, ctx, order_id=order_id, quantity=reservation.quantity)


def _require_units(quantity: int, maximum: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= maximum:
        raise InvalidValue(f"quantity must be a whole number from 1 to {maximum}")
