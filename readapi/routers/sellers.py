"""A seller's own orders, shipping labels and hourly sales: private to the seller (or an admin)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import structlog
from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from infra.auth import Principal
from infra.blobs import BlobNotFound, BlobStoreUnavailable
from infra.openapi import problem, unavailable
from infra.web import Problem
from projections.orders.history import SellerOrder
from projections.seller_sales.postgres_view import MAX_BUCKETS, MAX_RANGE, SalesBucket
from readapi.caching import PRIVATE, private_json
from readapi.consistency import consistency_for
from readapi.deps import ReadApiDeps, caller_as
from readapi.openapi import READS, private_read
from readapi.order_schemas import SellerOrderPage, SellerSales
from readapi.problems import RETRY_AFTER_SECONDS
from readapi.routers.orders import PAGES, Cursor, Limit, instant, orders_page, price

router = APIRouter(tags=["sellers"], responses=READS)
log = structlog.get_logger()

SellerReader = Annotated[Principal, Depends(caller_as("seller", "admin"))]
FORBIDDEN = {"description": "Neither this seller nor an admin"}
LABEL_EXTENSIONS = {"application/pdf": "pdf", "image/png": "png"}


def require_seller(caller: Principal, seller_id: UUID) -> None:
    """Allow the seller itself or an admin; a 403 problem for anyone else."""
    if caller.role != "admin" and caller.sub != seller_id:
        headers = {"Cache-Control": PRIVATE}
        raise Problem(403, "forbidden", "Forbidden", "this is another seller's", headers)


def seller_order_document(order: SellerOrder) -> dict[str, Any]:
    """The public shape of a seller's part of an order."""
    currency = order.currency
    return {
        "order_id": str(order.order_id),
        "status": order.order_status,
        "placed_at": instant(order.placed_at),
        "updated_at": instant(order.updated_at),
        "shipped_at": instant(order.shipped_at),
        "delivered_at": instant(order.delivered_at),
        "label_content_type": order.label_content_type,
        "lines": [
            {
                "product_id": str(line.product_id),
                "title": line.title,
                "quantity": line.quantity,
                "unit_price": price(line.unit_price_minor, currency),
                "subtotal": price(line.unit_price_minor * line.quantity, currency),
            }
            for line in order.lines
        ],
        "subtotal": price(order.subtotal_minor, currency),
    }


@router.get(
    "/v1/sellers/{seller_id}/orders",
    **private_read({"model": SellerOrderPage}, ("orders",), {403: FORBIDDEN, **PAGES}),
)
async def seller_orders(
    seller_id: UUID,
    caller: SellerReader,
    request: Request,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> Response:
    """The orders with lines of this seller, newest first, with only this seller's lines.

    At most 100 orders per page. X-Min-Position may name the orders log. Never cached.
    """
    require_seller(caller, seller_id)
    return await orders_page(
        request,
        cursor,
        lambda view, after: view.seller_orders(seller_id, limit, after),
        seller_order_document,
    )


@router.get(
    "/v1/sellers/{seller_id}/orders/{order_id}/label",
    **private_read(
        {"description": "The label", "content": {"application/pdf": {}, "image/png": {}}},
        ("orders",),
        {
            403: FORBIDDEN,
            404: problem("The order has no lines of this seller, or no label yet"),
            422: problem("Malformed id or X-Min-Position"),
            503: unavailable("The read store or the blob store does not answer; see Retry-After"),
        },
    ),
)
async def label(
    seller_id: UUID, order_id: UUID, caller: SellerReader, request: Request
) -> Response:
    """The shipping label of this seller's part of an order (PDF or PNG), once attached.

    X-Min-Position may name the orders log. Never cached.
    """
    require_seller(caller, seller_id)
    deps: ReadApiDeps = request.app.state.deps
    consistency = await consistency_for(request, deps.orders)
    headers = {**consistency.headers(), "Cache-Control": PRIVATE}
    found = await run_in_threadpool(deps.orders.view.seller_label, seller_id, order_id)
    if found is None:
        raise Problem(404, "not-found", "Not found", "no such order for this seller", headers)
    if found.blob_key is None or found.content_type is None:
        raise Problem(404, "label-not-ready", "No label yet", "the label is not attached", headers)
    try:
        data, _ = await run_in_threadpool(deps.blobs.get, found.blob_key)
    except BlobNotFound:
        log.warning("label_blob_missing", order_id=str(order_id), key=found.blob_key)
        raise Problem(
            404, "label-missing", "Label missing", "the label is not stored", headers
        ) from None
    except BlobStoreUnavailable:
        retry = {**headers, "Retry-After": str(RETRY_AFTER_SECONDS)}
        raise Problem(
            503, "store-unavailable", "Blob store unavailable", "retry shortly", retry
        ) from None
    extension = LABEL_EXTENSIONS.get(found.content_type, "bin")
    headers["Content-Disposition"] = f'attachment; filename="label-{order_id}.{extension}"'
    headers["X-Content-Type-Options"] = "nosniff"
    return Response(data, 200, headers, media_type=found.content_type)


def as_utc(at: datetime) -> datetime:
    """An aware time in UTC; a time without an offset is taken as UTC. A time whose offset
    takes it past either end of the calendar stops at that end."""
    if at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    try:
        return at.astimezone(UTC)
    except OverflowError:
        return (datetime.min if at.year == 1 else datetime.max).replace(tzinfo=UTC)


def hours_in_one_answer(
    buckets: list[SalesBucket], end: datetime
) -> tuple[list[SalesBucket], datetime]:
    """The rows one answer holds, and where it ends: before the hour of the first row left
    out when there are more than MAX_BUCKETS; a 422 problem if one hour alone holds more."""
    if len(buckets) <= MAX_BUCKETS:
        return buckets, end
    end = buckets[MAX_BUCKETS].hour
    kept = [bucket for bucket in buckets if bucket.hour < end]
    if not kept:
        raise Problem(
            422,
            "too-many-buckets",
            "Too many hourly rows",
            f"one hour holds more than {MAX_BUCKETS} rows: ask for one product",
            {"Cache-Control": PRIVATE},
        )
    return kept, end


def sales_document(
    seller_id: UUID, start: datetime, end: datetime, buckets: list[SalesBucket]
) -> dict[str, Any]:
    """Hourly buckets, per-product sums and per-currency totals."""
    products: dict[tuple[UUID, str], list[int]] = {}
    totals: dict[str, list[int]] = {}
    for bucket in buckets:
        product = products.setdefault((bucket.product_id, bucket.currency), [0, 0, 0])
        total = totals.setdefault(bucket.currency, [0, 0])
        product[0] += bucket.units
        product[1] += bucket.revenue_minor
        product[2] += bucket.orders
        total[0] += bucket.units
        total[1] += bucket.revenue_minor
    return {
        "seller_id": str(seller_id),
        "from": instant(start),
        "to": instant(end),
        "buckets": [
            {
                "hour": instant(b.hour),
                "product_id": str(b.product_id),
                "units": b.units,
                "revenue": price(b.revenue_minor, b.currency),
                "orders": b.orders,
            }
            for b in buckets
        ],
        "products": [
            {
                "product_id": str(product_id),
                "units": units,
                "revenue": price(revenue, currency),
                "orders": orders,
            }
            for (product_id, currency), (units, revenue, orders) in sorted(
                products.items(), key=lambda item: (str(item[0][0]), item[0][1])
            )
        ],
        "totals": [
            {"units": units, "revenue": price(revenue, currency)}
            for currency, (units, revenue) in sorted(totals.items())
        ],
    }


@router.get(
    "/v1/sellers/{seller_id}/sales",
    **private_read(
        {"model": SellerSales},
        ("seller_sales",),
        {
            403: FORBIDDEN,
            422: problem(
                "A malformed time or X-Min-Position, or one hour with more rows than an answer "
                "holds"
            ),
        },
    ),
)
async def sales(
    seller_id: UUID,
    caller: SellerReader,
    request: Request,
    start: Annotated[datetime, Query(alias="from", description="ISO 8601; UTC if no offset")],
    end: Annotated[datetime, Query(alias="to", description="ISO 8601, exclusive")],
    product_id: UUID | None = None,
) -> Response:
    """Units and revenue per product and UTC hour of confirmation, net of cancellations.

    Revenue is also net of refunds: a refund is split over its order's lines by value and
    taken out of the hour of confirmation (units stay).

    Hours starting from `from` up to (not including) `to`; hours without sales are left out,
    and `to` not after `from` finds none. One answer covers at most 31 days and 10 000 rows:
    its `to` says where it ends, so ask again from there. Totals are per currency.
    X-Min-Position may name the orders log. Never cached.
    """
    require_seller(caller, seller_id)
    start, end = as_utc(start), as_utc(end)
    if end - start > MAX_RANGE:
        end = start + MAX_RANGE
    deps: ReadApiDeps = request.app.state.deps
    consistency = await consistency_for(request, deps.seller_sales)
    buckets: list[SalesBucket] = []
    if end > start:
        buckets = await run_in_threadpool(
            deps.seller_sales.view.hourly, seller_id, start, end, product_id, MAX_BUCKETS + 1
        )
    buckets, end = hours_in_one_answer(buckets, end)
    return private_json(sales_document(seller_id, start, end, buckets), consistency.headers())
