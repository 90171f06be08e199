"""The command side's sold-out check, answered from the product-detail view."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

import structlog

from projections.completeness import ViewIncomplete
from projections.metrics import VIEW_INCOMPLETE
from projections.product_detail.redis_view import RedisProductDetailView

log = structlog.get_logger()


class ProjectedAvailability:
    """Units available as the product-detail view shows them (readers' version).

    It may only refuse early: units are granted by the event store alone, so a product the
    view does not show, or shows without a count, is never called sold out; and a view that
    is incomplete (rebuilding from empty: products without their stock yet) calls nothing
    sold out.
    """

    def __init__(self, view: RedisProductDetailView) -> None:
        self.view = view

    def sold_out(self, product_ids: Collection[UUID]) -> set[UUID]:
        """Those of the products a complete view shows with no unit available."""
        gone = set()
        try:
            for product_id in product_ids:
                document = self.view.product(product_id)
                if document is not None and int(document.get("units_available", 1)) <= 0:
                    gone.add(product_id)
        except ViewIncomplete as incomplete:
            VIEW_INCOMPLETE.labels(incomplete.view, "sold-out-check").inc()
            log.info("sold_out_check_skipped", reason=str(incomplete))
            return set()
        return gone
