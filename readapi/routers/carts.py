"""Private cart reads: the shopper who owns the cart, or an admin."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from infra.auth import Principal
from infra.openapi import problem
from infra.web import Problem
from projections.carts.redis_view import CartLines
from projections.product_detail.redis_view import RedisProductDetailView
from readapi.caching import PRIVATE, private_json
from readapi.consistency import consistency_across
from readapi.deps import ReadApiDeps, caller_as
from readapi.openapi import READS, private_read
from readapi.schemas import Cart

router = APIRouter(tags=["carts"], responses=READS)

CartReader = Annotated[Principal, Depends(caller_as("shopper", "admin"))]


def priced(cart: CartLines, products: RedisProductDetailView) -> dict[str, Any]:
    """The cart with each line priced from the product view, and totals per currency."""
    lines = []
    totals: dict[str, int] = {}
    for product_id, quantity in sorted(cart.lines.items(), key=lambda line: str(line[0])):
        doc = products.product(product_id)
        line: dict[str, Any] = {
            "product_id": str(product_id),
            "quantity": quantity,
            "title": None,
            "unit_price": None,
            "line_total": None,
            "unavailable": True,
            "reason": "missing",
        }
        if doc is not None:
            currency = doc["currency"]
            line["title"] = doc["title"]
            line["unit_price"] = {"amount_minor": doc["price_minor"], "currency": currency}
            if doc["delisted"]:
                line["reason"] = "delisted"
            else:
                amount = doc["price_minor"] * quantity
                line.update(unavailable=False, reason=None)
                line["line_total"] = {"amount_minor": amount, "currency": currency}
                totals[currency] = totals.get(currency, 0) + amount
        lines.append(line)
    return {
        "id": str(cart.cart_id),
        "shopper_id": str(cart.shopper_id),
        "version": cart.version,
        "lines": lines,
        "totals": [
            {"amount_minor": amount, "currency": currency}
            for currency, amount in sorted(totals.items())
        ],
    }


@router.get(
    "/v1/carts/{cart_id}",
    **private_read(
        {"model": Cart},
        ("carts", "product_detail"),
        {
            403: problem("Neither the cart's shopper nor an admin"),
            404: problem("No such cart (in the view, once it reached X-Min-Position)"),
            422: problem("Malformed id, X-Min-Position, or a log these views do not follow"),
        },
    ),
)
async def cart(cart_id: UUID, caller: CartReader, request: Request) -> Response:
    """A cart's lines priced from the product view, with a total per currency.

    Only the shopper who owns the cart, or an admin, may read it. Lines whose product is
    missing or delisted are flagged `unavailable` and left out of the totals. X-Min-Position
    may name the carts log and the product logs. Never cached.
    """
    deps: ReadApiDeps = request.app.state.deps
    consistency = await consistency_across(request, deps.carts, deps.product_detail)
    headers = {**consistency.headers(), "Cache-Control": PRIVATE}
    found = await run_in_threadpool(deps.carts.view.cart, cart_id)
    if found is None:
        raise Problem(404, "not-found", "Not found", "no such cart", headers)
    if caller.role != "admin" and found.shopper_id != caller.sub:
        raise Problem(403, "forbidden", "Forbidden", "this cart is another shopper's", headers)
    document = await run_in_threadpool(priced, found, deps.product_detail.view)
    return private_json(document, consistency.headers())
