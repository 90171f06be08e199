"""Carts context: each shopper's cart."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from eventsourcing.persistence import RecordConflictError

from commands.access import require_owner
from commands.base import ContextApplication, Outcome
from domain.base import Context
from domain.cart import Cart, cart_id_for


class CartsApplication(ContextApplication):
    """Creates carts and changes their lines."""

    name = "carts"
    snapshotted = (Cart,)

    def create_cart(self, shopper_id: UUID, ctx: Context) -> tuple[Outcome, bool]:
        """Create the shopper's cart; returns the outcome and whether it was new."""
        require_owner(ctx, shopper_id)
        try:
            return self.create(Cart.create(shopper_id, ctx)), True
        except RecordConflictError:
            cart = self.load(cart_id_for(shopper_id), Cart)
            return Outcome(cart.id, cart.version, self.log_name, None), False

    def add_item(
        self,
        cart_id: UUID,
        product_id: UUID,
        quantity: int,
        currency: str,
        ctx: Context,
        expected_version: int | None = None,
    ) -> Outcome:
        """Add units of a product priced in currency to a cart."""
        return self._change(
            cart_id,
            ctx,
            lambda c: c.add_item(product_id, quantity, currency, ctx),
            expected_version,
        )

    def change_quantity(
        self,
        cart_id: UUID,
        product_id: UUID,
        quantity: int,
        ctx: Context,
        expected_version: int | None = None,
    ) -> Outcome:
        """Set the quantity of a cart line."""
        return self._change(
            cart_id, ctx, lambda c: c.change_quantity(product_id, quantity, ctx), expected_version
        )

    def remove_item(
        self, cart_id: UUID, product_id: UUID, ctx: Context, expected_version: int | None = None
    ) -> Outcome:
        """Remove a line from a cart."""
        return self._change(
            cart_id, ctx, lambda c: c.remove_item(product_id, ctx), expected_version
        )

    def clear(self, cart_id: UUID, ctx: Context, expected_version: int | None = None) -> Outcome:
        """Empty a cart."""
        return self._change(cart_id, ctx, lambda c: c.clear(ctx), expected_version)

    def _change(
        self,
        cart_id: UUID,
        ctx: Context,
        decide: Callable[[Cart], None],
        expected_version: int | None,
    ) -> Outcome:
        def owned(cart: Cart) -> None:
            require_owner(ctx, cart.shopper_id)
            decide(cart)

        return self.change(cart_id, Cart, owned, expected_version)
