"""The command side's sold-out check: the product-detail view's stock, less checkout claims."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import cached_property
from typing import Any
from uuid import UUID

import structlog

from projections.carts.redis_view import RedisCartView
from projections.completeness import ViewIncomplete
from projections.metrics import VIEW_INCOMPLETE
from projections.product_detail.claims import CLAIM, CLAIM_TTL_MS, RELEASE
from projections.product_detail.projection import ProductDetailProjection
from projections.product_detail.redis_view import RedisProductDetailView, stock_key_id
from projections.stores.redis.unit import ScriptClient, text

log = structlog.get_logger()


class ProjectedAvailability:
    """Units available as the product-detail view shows them, less those other checkouts
    claimed (projections.product_detail.claims).

    It may only refuse early: units are granted by the event store alone, so a product the
    view does not show is never refused; and a view that is incomplete (rebuilding from
    empty: products without their stock yet) refuses nothing.
    """

    def __init__(
        self,
        view: RedisProductDetailView,
        ttl_ms: int = CLAIM_TTL_MS,
        *,
        carts: RedisCartView | None = None,
        scripts: ScriptClient | None = None,
    ) -> None:
        self.view = view
        self.ttl_ms = ttl_ms
        self.carts = carts
        self._claim_async = None if scripts is None else scripts.register_script(CLAIM)
        self._ping = None if scripts is None else scripts.register_script("return 1")

    async def warm(self) -> None:
        """Open the async client's connection now: a burst of checkouts keeps the event loop
        too busy to open it within its timeout."""
        if self._ping is not None:
            await self._ping(keys=[], args=[])

    @cached_property
    def _claim(self) -> Any:
        return self.view.client.register_script(CLAIM)

    @cached_property
    def _release(self) -> Any:
        return self.view.client.register_script(RELEASE)

    def claim(self, order_id: UUID, lines: Mapping[UUID, int]) -> set[UUID]:
        """Claim the lines' units for the order, or claim none and return the products
        without enough unclaimed units left. An order claimed already is admitted again."""
        return self._refused(
            self._claim(keys=[self.view.pointer], args=self._args(order_id, lines))
        )

    async def claim_cart(
        self, order_id: UUID, cart_id: UUID, shopper_id: UUID, version: int
    ) -> set[UUID] | None:
        """As claim(), for the lines of the shopper's cart as the carts view shows it at
        version, without a thread or the event store; None when the view does not show that
        cart at that version (or is incomplete): the caller then reads the cart itself."""
        if self.carts is None or self._claim_async is None:
            return None
        try:
            cart = await self.carts.cart_async(cart_id)
        except ViewIncomplete:
            return None
        if cart is None or cart.version != version or cart.shopper_id != shopper_id:
            return None
        args = self._args(order_id, cart.lines)
        return self._refused(await self._claim_async(keys=[self.view.pointer], args=args))

    def _args(self, order_id: UUID, lines: Mapping[UUID, int]) -> list[str | int]:
        args: list[str | int] = [*self.view.resolve_args(), self.view.base, str(order_id)]
        args.append(self.ttl_ms)
        for product, units in lines.items():
            args += [str(product), stock_key_id(str(product)), units]
        return args

    def _refused(self, reply: list[bytes] | int) -> set[UUID]:
        if isinstance(reply, int):
            VIEW_INCOMPLETE.labels(ProductDetailProjection.name, "sold-out-check").inc()
            log.info("sold_out_check_skipped", reason="product-detail view incomplete")
            return set()
        return {UUID(text(product)) for product in reply}

    def release(self, order_id: UUID, product_ids: Collection[UUID]) -> None:
        """Drop the order's claims on these products (its checkout placed nothing)."""
        stocks = [stock_key_id(str(product)) for product in product_ids]
        self._release(args=[self.view.base, str(order_id), *stocks])
