"""Products and their stock."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID, uuid4

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import Response

from commands.base import Outcome
from domain.base import Context
from domain.money import Money
from writeapi.deps import SellerCall
from writeapi.execution import Call, Reply
from writeapi.openapi import NOT_FOUND, command
from writeapi.schemas import (
    AdjustStock,
    Delist,
    ListProduct,
    Price,
    PurchaseLimit,
    ReceiveStock,
    UpdateProduct,
)

router = APIRouter(prefix="/v1/products", tags=["products and stock"])


@router.post("", **command(NOT_FOUND, status=201))
def list_product(body: ListProduct, call: SellerCall) -> Response:
    """List a new product for the calling seller."""
    product_id = uuid4()
    seller_id = body.seller_id or call.principal.sub
    price = Money(body.price.amount_minor, body.price.currency)
    catalog = call.commands.catalog
    return call.create(
        body,
        lambda ctx: catalog.list_product(
            product_id,
            seller_id,
            body.title,
            body.description,
            body.category,
            dict(body.attributes),
            price,
            ctx,
        ),
        "/v1/products",
    )


@router.patch("/{product_id}", **command(NOT_FOUND, if_match=True))
def update_product(product_id: UUID, body: UpdateProduct, call: SellerCall) -> Response:
    """Replace a product's title, description, category and attributes. Honors If-Match."""
    catalog = call.commands.catalog
    return call.update(
        body,
        lambda ctx, version: catalog.update_product(
            product_id,
            body.title,
            body.description,
            body.category,
            dict(body.attributes),
            ctx,
            version,
        ),
    )


@router.put("/{product_id}/price", **command(NOT_FOUND, if_match=True))
def reprice_product(product_id: UUID, body: Price, call: SellerCall) -> Response:
    """Set a product's price. Honors If-Match."""
    version = call.expected_version()
    price = Money(body.amount_minor, body.currency)
    catalog = call.commands.catalog
    return call.run(
        body, lambda ctx: Reply(catalog.reprice_product(product_id, price, ctx, version))
    )


@router.post("/{product_id}/delisting", **command(NOT_FOUND, if_match=True))
def delist_product(product_id: UUID, body: Delist, call: SellerCall) -> Response:
    """Take a product off sale. Honors If-Match."""
    catalog = call.commands.catalog
    return call.update(
        body, lambda ctx, version: catalog.delist_product(product_id, body.reason, ctx, version)
    )


@router.post("/{product_id}/stock/receipts", **command(NOT_FOUND))
def receive_stock(product_id: UUID, body: ReceiveStock, call: SellerCall) -> Response:
    """Record units delivered into stock; the answer names the product's stock item."""
    commands = call.commands
    return stock_change(
        call, product_id, body, lambda ctx: commands.receive_stock(product_id, body.quantity, ctx)
    )


@router.post("/{product_id}/stock/adjustments", **command(NOT_FOUND, if_match=True))
def adjust_stock(product_id: UUID, body: AdjustStock, call: SellerCall) -> Response:
    """Correct the units on hand (never below what is reserved or sold). Honors If-Match."""
    version = call.expected_version()
    inventory = call.commands.inventory

    def change(ctx: Context) -> Outcome:
        return inventory.adjust_stock(product_id, body.delta, body.reason, ctx, version)

    return stock_change(call, product_id, body, change)


@router.put("/{product_id}/stock/purchase-limit", **command(NOT_FOUND, if_match=True))
def set_purchase_limit(product_id: UUID, body: PurchaseLimit, call: SellerCall) -> Response:
    """Cap the units one buyer may hold or buy (flash sales); null lifts it. Honors If-Match."""
    version = call.expected_version()
    inventory = call.commands.inventory

    def change(ctx: Context) -> Outcome:
        return inventory.set_purchase_limit(product_id, body.limit, ctx, version)

    return stock_change(call, product_id, body, change)


def stock_change(
    call: Call, product_id: UUID, body: BaseModel, change: Callable[[Context], Outcome]
) -> Response:
    """Run a command that changes a product's stock; the answer names the stock item it
    changed, and whose product it is."""

    def answer(outcome: Outcome) -> Reply:
        return Reply(outcome, id_name="stock_item_id", extra={"product_id": str(product_id)})

    return call.run(body, lambda ctx: answer(change(ctx)), answer)
