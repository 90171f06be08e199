"""The shopper's cart."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from starlette.responses import Response

from domain.base import Context
from writeapi.deps import ShopperCall
from writeapi.execution import Reply
from writeapi.schemas import AddCartItem, ChangeCartQuantity

router = APIRouter(prefix="/v1/carts", tags=["carts"])


@router.post("", status_code=201)
def create_cart(call: ShopperCall) -> Response:
    """Create the caller's cart; 200 with the same cart if it already exists."""

    def create(ctx: Context) -> Reply:
        outcome, new = call.commands.carts.create_cart(call.principal.sub, ctx)
        return Reply(outcome, 201 if new else 200, f"/v1/carts/{outcome.aggregate_id}")

    return call.run(None, create)


@router.post("/{cart_id}/items")
def add_item(cart_id: UUID, body: AddCartItem, call: ShopperCall) -> Response:
    """Add units of a product on sale; an existing line grows. Honors If-Match."""
    version = call.expected_version()
    commands = call.commands
    return call.run(
        body,
        lambda ctx: Reply(
            commands.add_to_cart(cart_id, body.product_id, body.quantity, ctx, version)
        ),
    )


@router.put("/{cart_id}/items/{product_id}")
def change_quantity(
    cart_id: UUID, product_id: UUID, body: ChangeCartQuantity, call: ShopperCall
) -> Response:
    """Set the quantity of a line. Honors If-Match."""
    version = call.expected_version()
    carts = call.commands.carts
    return call.run(
        body,
        lambda ctx: Reply(carts.change_quantity(cart_id, product_id, body.quantity, ctx, version)),
    )


@router.delete("/{cart_id}/items/{product_id}")
def remove_item(cart_id: UUID, product_id: UUID, call: ShopperCall) -> Response:
    """Remove a line. Honors If-Match."""
    version = call.expected_version()
    carts = call.commands.carts
    return call.run(None, lambda ctx: Reply(carts.remove_item(cart_id, product_id, ctx, version)))


@router.delete("/{cart_id}/items")
def clear_cart(cart_id: UUID, call: ShopperCall) -> Response:
    """Remove every line. Honors If-Match."""
    version = call.expected_version()
    carts = call.commands.carts
    return call.run(None, lambda ctx: Reply(carts.clear(cart_id, ctx, version)))
