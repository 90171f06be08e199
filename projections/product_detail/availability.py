"""The command side's sold-out check: the product-detail view's stock, less checkout claims."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from functools import cached_property
from typing import Any
from uuid import UUID

import structlog

from domain.inventory import stock_item_id
from projections.metrics import VIEW_INCOMPLETE
from projections.product_detail.claims import CLAIM, CLAIM_TTL_MS, RELEASE
from projections.product_detail.projection import ProductDetailProjection
from projections.product_detail.redis_view import RedisProductDetailView
from projections.stores.redis.unit import text

log = structlog.get_logger()


class ProjectedAvailability:
    """Units available as the product-detail view shows them, less those other checkouts
    claimed (projections.product_detail.claims).

    It may only refuse early: units are granted by the event store alone, so a product the
    view does not show is never refused; and a view that is incomplete (rebuilding from
    empty: products without their stock yet) refuses nothing.
    """

    def __init__(self, view: RedisProductDetailView, ttl_ms: int = CLAIM_TTL_MS) -> None:
        self.view = view
        self.ttl_ms = ttl_ms

    @cached_property
    def _claim(self) -> Any:
        return self.view.client.register_script(CLAIM)

    @cached_property
    def _release(self) -> Any:
        return self.view.client.register_script(RELEASE)

    def claim(self, order_id: UUID, lines: Mapping[UUID, int]) -> set[UUID]:
        """Claim the lines' units for the order, or claim none and return the products
        without enough unclaimed units left. An order claimed already is admitted again."""
        args = [*self.view.resolve_args(), self.view.base, str(order_id), self.ttl_ms]
        for product, units in lines.items():
            args += [str(product), str(stock_item_id(product)), units]
        reply = self._claim(keys=[self.view.pointer], args=args)
        if isinstance(reply, int):
            VIEW_INCOMPLETE.labels(ProductDetailProjection.name, "sold-out-check").inc()
            log.info("sold_out_check_skipped", reason="product-detail view incomplete")
            return set()
        return {UUID(text(product)) for product in reply}

    def release(self, order_id: UUID, product_ids: Collection[UUID]) -> None:
        """Drop the order's claims on these products (its checkout placed nothing)."""
        stocks = [str(stock_item_id(product)) for product in product_ids]
        self._release(args=[self.view.base, str(order_id), *stocks])
