"""Cart: the one shopping cart of a shopper."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from domain.base import Context, MarketplaceAggregate
from domain.errors import InvalidValue, NotFound, RuleViolated

CART_NAMESPACE = UUID("a3c5e7f9-1b2d-4e6f-8a0b-c1d2e3f4a5b6")
MAX_LINES = 50
MAX_QUANTITY_PER_LINE = 99


def cart_id_for(shopper_id: UUID) -> UUID:
    """The id of a shopper's cart."""
    return uuid5(CART_NAMESPACE, str(shopper_id))


class Cart(MarketplaceAggregate):
    """A shopper's cart: at most MAX_LINES lines of at most MAX_QUANTITY_PER_LINE units."""

    class Created(MarketplaceAggregate.Created):
        shopper_id: UUID

    class ItemAdded(MarketplaceAggregate.Event):
        product_id: UUID
        quantity: int
        currency: str | None = None
        """The product's price currency when it was added (None in events from before it)."""

        def apply(self, cart: Cart) -> None:
            cart.lines[self.product_id] = cart.lines.get(self.product_id, 0) + self.quantity
            if self.currency is not None:
                cart.currencies[self.product_id] = self.currency

    class QuantityChanged(MarketplaceAggregate.Event):
        product_id: UUID
        quantity: int

        def apply(self, cart: Cart) -> None:
            cart.lines[self.product_id] = self.quantity

    class ItemRemoved(MarketplaceAggregate.Event):
        product_id: UUID

        def apply(self, cart: Cart) -> None:
            del cart.lines[self.product_id]
            cart.currencies.pop(self.product_id, None)

    class Cleared(MarketplaceAggregate.Event):
        def apply(self, cart: Cart) -> None:
            cart.lines.clear()
            cart.currencies.clear()

    def __init__(self, shopper_id: UUID) -> None:
        self.shopper_id = shopper_id
        self.lines: dict[UUID, int] = {}
        self.currencies: dict[UUID, str] = {}

    def snapshot_state(self) -> dict[str, Any]:
        """The cart's state as plain values, for a snapshot (restore_state reads it back)."""
        return {
            "shopper_id": self.shopper_id,
            "lines": [[product_id, units] for product_id, units in self.lines.items()],
            "currencies": [[product_id, c] for product_id, c in self.currencies.items()],
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        """Take the state a snapshot holds (see snapshot_state)."""
        self.shopper_id = state["shopper_id"]
        self.lines = dict(state["lines"])
        self.currencies = dict(state["currencies"])

    @classmethod
    def create(cls, shopper_id: UUID, ctx: Context) -> Cart:
        """Create the shopper's cart."""
        return cls._start(cls.Created, cart_id_for(shopper_id), ctx, shopper_id=shopper_id)

    def add_item(self, product_id: UUID, quantity: int, currency: str, ctx: Context) -> None:
        """Add units of a product priced in currency, merging with an existing line.

        An order is paid in one currency, so a product priced in another currency than the
        cart's other lines is refused here rather than at checkout.
        """
        _require_quantity(quantity)
        others = {c for product, c in self.currencies.items() if product != product_id}
        if others and currency not in others:
            raise RuleViolated(
                f"this cart holds products priced in {', '.join(sorted(others))};"
                f" an order is paid in one currency, not {currency}"
            )
        current = self.lines.get(product_id)
        if current is None and len(self.lines) >= MAX_LINES:
            raise RuleViolated(f"a cart holds at most {MAX_LINES} lines")
        if (current or 0) + quantity > MAX_QUANTITY_PER_LINE:
            raise RuleViolated(f"a line holds at most {MAX_QUANTITY_PER_LINE} units")
        self._emit(self.ItemAdded, ctx, product_id=product_id, quantity=quantity, currency=currency)

    def change_quantity(self, product_id: UUID, quantity: int, ctx: Context) -> None:
        """Set the quantity of an existing line."""
        _require_quantity(quantity)
        current = self._line(product_id)
        if quantity != current:
            self._emit(self.QuantityChanged, ctx, product_id=product_id, quantity=quantity)

    def remove_item(self, product_id: UUID, ctx: Context) -> None:
        """Remove a line from the cart."""
        self._line(product_id)
        self._emit(self.ItemRemoved, ctx, product_id=product_id)

    def clear(self, ctx: Context) -> None:
        """Remove every line; clearing an empty cart changes nothing."""
        if self.lines:
            self._emit(self.Cleared, ctx)

    def _line(self, product_id: UUID) -> int:
        try:
            return self.lines[product_id]
        except KeyError:
            raise NotFound("the cart has no line for this product") from None


def _require_quantity(quantity: int) -> None:
    if (
        isinstance(quantity, bool)
        or not isinstance(quantity, int)
        or not 1 <= quantity <= MAX_QUANTITY_PER_LINE
    ):
        raise InvalidValue(f"quantity must be from 1 to {MAX_QUANTITY_PER_LINE}")
