"""Inventory context: stock items, reservations and sales."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import RecordConflictError

from commands.access import require_owner
from commands.base import ContextApplication, Outcome
from domain.base import Context
from domain.errors import NotFound
from domain.inventory import StockItem, stock_item_id


class InventoryApplication(ContextApplication):
    """Receives and adjusts stock, and holds, releases and sells units for orders."""

    name = "inventory"
    snapshotted = (StockItem,)

    def receive_stock(
        self, product_id: UUID, seller_id: UUID, quantity: int, ctx: Context
    ) -> Outcome:
        """Add units to a product's stock, opening its stock item on the first receipt."""
        require_owner(ctx, seller_id)

        def receive(item: StockItem) -> None:
            require_owner(ctx, item.seller_id)
            item.receive(quantity, ctx)

        try:
            return self.change(stock_item_id(product_id), StockItem, receive)
        except NotFound:
            item = StockItem.open(product_id, seller_id, ctx)
            item.receive(quantity, ctx)
            try:
                return self.create(item)
            except RecordConflictError:
                return self.change(stock_item_id(product_id), StockItem, receive)

    def adjust_stock(
        self,
        product_id: UUID,
        delta: int,
        reason: str,
        ctx: Context,
        expected_version: int | None = None,
    ) -> Outcome:
        """Correct the units on hand of a product."""

        def adjust(item: StockItem) -> None:
            require_owner(ctx, item.seller_id)
            item.adjust(delta, reason, ctx)

        return self.change(stock_item_id(product_id), StockItem, adjust, expected_version)

    def reserve(
        self,
        product_id: UUID,
        order_id: UUID,
        quantity: int,
        expires_at: datetime,
        ctx: Context,
        buyer_id: UUID | None = None,
    ) -> Outcome:
        """Hold units of a product for an order, idempotently, within the buyer's limit."""
        return self.change(
            stock_item_id(product_id),
            StockItem,
            lambda item: item.reserve(order_id, quantity, expires_at, ctx, buyer_id=buyer_id),
        )

    def set_purchase_limit(
        self, product_id: UUID, limit: int | None, ctx: Context, expected_version: int | None = None
    ) -> Outcome:
        """Cap the units one buyer may hold or buy of a product (None lifts the cap)."""

        def set_limit(item: StockItem) -> None:
            require_owner(ctx, item.seller_id)
            item.set_purchase_limit(limit, ctx)

        return self.change(stock_item_id(product_id), StockItem, set_limit, expected_version)

    def release(self, product_id: UUID, order_id: UUID, reason: str, ctx: Context) -> Outcome:
        """Return an order's held units to stock."""
        return self.change(
            stock_item_id(product_id), StockItem, lambda item: item.release(order_id, reason, ctx)
        )

    def commit(self, product_id: UUID, order_id: UUID, ctx: Context) -> Outcome:
        """Mark an order's held units as sold."""
        return self.change(
            stock_item_id(product_id), StockItem, lambda item: item.commit(order_id, ctx)
        )

    def return_units(self, product_id: UUID, order_id: UUID, reason: str, ctx: Context) -> Outcome:
        """Put an order's units back on sale, whether they are still held or already sold."""

        def give_back(item: StockItem) -> None:
            if order_id in item.committed_orders:
                item.cancel_sale(order_id, reason, ctx)
            else:
                item.release(order_id, reason, ctx)

        return self.change(stock_item_id(product_id), StockItem, give_back)

    def stock_of(self, product_id: UUID) -> StockItem:
        """The current stock item of a product."""
        return self.load(stock_item_id(product_id), StockItem)
