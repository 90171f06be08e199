"""A shopper's own orders: private, paginated newest first, never stored by caches."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from infra.auth import Principal
from infra.openapi import problem
from infra.web import Problem
from projections.orders.history import MAX_PAGE_SIZE, After, OrderRecord, Page
from projections.orders.postgres_view import PostgresOrderHistoryView
from readapi.caching import PRIVATE, private_json
from readapi.consistency import consistency_for
from readapi.deps import ReadApiDeps, caller_as
from readapi.openapi import READS, private_read
from readapi.order_schemas import Order, OrderPage

router = APIRouter(tags=["orders"], responses=READS)

Shopper = Annotated[Principal, Depends(caller_as("shopper"))]
MAX_CURSOR_LENGTH = 200
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Orders per page")]
Cursor = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the previous page"),
]
PAGES: dict[int | str, dict[str, Any]] = {
    404: problem("A cursor this API did not make: no such page"),
    422: problem(
        "A limit out of bounds, a cursor over 200 characters or a malformed X-Min-Position"
    ),
}
"""The errors of a paged read beside its 401, 403 and 503."""
T = TypeVar("T")


def encode_cursor(after: After | None) -> str | None:
    """An opaque cursor for the page after (placed_at, order_id)."""
    if after is None:
        return None
    raw = f"{after[0].isoformat()}|{after[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> After | None:
    """The keyset position a cursor names; a 404 problem if it is not one this API made (no
    such page)."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, order_id = raw.split("|")
        placed_at = datetime.fromisoformat(at)
        if placed_at.tzinfo is None:
            raise ValueError("naive time")
        return placed_at, UUID(order_id)
    except ValueError:
        raise Problem(
            404, "unknown-cursor", "No such page", "pass back a next_cursor as it was given"
        ) from None


async def orders_page(
    request: Request,
    cursor: str | None,
    read: Callable[[PostgresOrderHistoryView, After | None], Page[T]],
    document: Callable[[T], dict[str, Any]],
) -> Response:
    """A page of orders that read finds in the orders view from the cursor on, once the view
    reached X-Min-Position: each order as document shapes it, and the next page's cursor."""
    after = decode_cursor(cursor)
    deps: ReadApiDeps = request.app.state.deps
    consistency = await consistency_for(request, deps.orders)
    page = await run_in_threadpool(read, deps.orders.view, after)
    body = {
        "orders": [document(order) for order in page.items],
        "next_cursor": encode_cursor(page.after),
    }
    return private_json(body, consistency.headers())


def price(amount_minor: int, currency: str) -> dict[str, Any]:
    """An amount in minor units of a currency."""
    return {"amount_minor": amount_minor, "currency": currency}


def instant(at: datetime | None) -> str | None:
    """A time in ISO 8601, in UTC."""
    return None if at is None else at.astimezone(UTC).isoformat()


def order_document(order: OrderRecord) -> dict[str, Any]:
    """The public shape of a shopper's order."""
    currency = order.currency
    shipped, delivered = set(order.shipped_sellers), set(order.delivered_sellers)
    return {
        "id": str(order.order_id),
        "status": order.status,
        "version": order.version,
        "total": price(order.total_minor, currency),
        "lines": [
            {
                "product_id": line["product_id"],
                "seller_id": line["seller_id"],
                "title": line["title"],
                "quantity": line["quantity"],
                "unit_price": price(line["unit_price_minor"], currency),
                "subtotal": price(line["unit_price_minor"] * line["quantity"], currency),
            }
            for line in order.lines
        ],
        "ship_to": order.ship_to,
        "sellers": [
            {
                "seller_id": str(seller),
                "shipped": seller in shipped,
                "delivered": seller in delivered,
            }
            for seller in order.seller_ids
        ],
        "payment": {
            "state": order.payment_state,
            "failure_reason": order.payment_failure,
            "authorised": price(order.authorised_minor, currency),
            "captured": price(order.captured_minor, currency),
            "refunded": price(order.refunded_minor, currency),
        },
        "placed_at": instant(order.placed_at),
        "updated_at": instant(order.updated_at),
        "expires_at": instant(order.expires_at),
        "confirmed_at": instant(order.confirmed_at),
        "cancellation_reason": order.cancellation_reason,
        "rejected_product_ids": order.rejected_product_ids,
    }


@router.get(
    "/v1/me/orders",
    **private_read({"model": OrderPage}, ("orders",), {403: problem("Not a shopper"), **PAGES}),
)
async def my_orders(
    caller: Shopper, request: Request, limit: Limit = 20, cursor: Cursor = None
) -> Response:
    """The caller's orders, newest first, a page at a time (at most 100 per page).

    X-Min-Position may name the orders log. Never cached.
    """
    return await orders_page(
        request,
        cursor,
        lambda view, after: view.customer_orders(caller.sub, limit, after),
        order_document,
    )


@router.get(
    "/v1/me/orders/{order_id}",
    **private_read(
        {"model": Order},
        ("orders",),
        {
            403: problem("Not a shopper"),
            404: problem(
                "None of the caller's orders (in the view, once it reached X-Min-Position)"
            ),
            422: problem("Malformed id or X-Min-Position"),
        },
    ),
)
async def my_order(order_id: UUID, caller: Shopper, request: Request) -> Response:
    """One of the caller's orders: status, lines, payment and each seller's shipment.

    Another shopper's order is a 404, as if it did not exist. Never cached.
    """
    deps: ReadApiDeps = request.app.state.deps
    consistency = await consistency_for(request, deps.orders)
    found = await run_in_threadpool(deps.orders.view.customer_order, caller.sub, order_id)
    if found is None:
        headers = {**consistency.headers(), "Cache-Control": PRIVATE}
        raise Problem(404, "not-found", "Not found", "no such order", headers)
    return private_json(order_document(found), consistency.headers())
