"""The command side as one object: every context's application and the cross-context rules."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from commands.base import ContextApplication, Outcome
from commands.carts import CartsApplication
from commands.catalog import CatalogApplication
from commands.customers import CustomersApplication
from commands.inventory import InventoryApplication
from domain.base import Context

SINGLE_LOG = "marketplace"


class Commands:
    """Holds one application per bounded context.

    With split_logs each context appends to its own log; otherwise all share one log
    named "marketplace" (kept for comparison and for small installations).
    """

    def __init__(self, env: Mapping[str, str], *, split_logs: bool = True) -> None:
        if split_logs:
            self.catalog = CatalogApplication(env)
            self.inventory = InventoryApplication(env)
            self.carts = CartsApplication(env)
            self.customers = CustomersApplication(env)
        else:
            self.catalog = CatalogApplication(env, SINGLE_LOG)
            shared = self.catalog.recorder
            self.inventory = InventoryApplication(env, SINGLE_LOG, shared)
            self.carts = CartsApplication(env, SINGLE_LOG, shared)
            self.customers = CustomersApplication(env, SINGLE_LOG, shared)

    @property
    def applications(self) -> tuple[ContextApplication, ...]:
        """Every context's application."""
        return (self.catalog, self.inventory, self.carts, self.customers)

    def receive_stock(self, product_id: UUID, quantity: int, ctx: Context) -> Outcome:
        """Receive units for a product the actor sells, unless its seller is suspended."""
        product = self.catalog.product_owned_by_actor(product_id, ctx)
        self.catalog.active_seller(product.seller_id)
        return self.inventory.receive_stock(product_id, product.seller_id, quantity, ctx)

    def add_to_cart(
        self,
        cart_id: UUID,
        product_id: UUID,
        quantity: int,
        ctx: Context,
        expected_version: int | None = None,
    ) -> Outcome:
        """Add a product that is on sale to a cart."""
        self.catalog.listed_product(product_id)
        return self.carts.add_item(cart_id, product_id, quantity, ctx, expected_version)

    def close(self) -> None:
        """Release every application's connections."""
        for app in self.applications:
            app.close()
