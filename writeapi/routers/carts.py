"""The shopper's cart."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from starlette.responses import Response

from domain.base import Context
from writeapi.deps import CommandsDep, Shopper
from writeapi.execution import Reply, Runner, expected_version
from writeapi.schemas import AddCartItem, ChangeCartQuantity

router = APIRouter(prefix="/v1/carts", tags=["carts"])


@router.post("", status_code=201)
def create_cart(actor: Shopper, commands: CommandsDep, runner: Runner) -> Response:
    """Create the caller's cart; 200 with the same cart if it already exists."""

    def create(ctx: Context) -> Reply:
        outcome, new = commands.carts.create_cart(actor.sub, ctx)
        return Reply(outcome, 201 if new else 200, f"/v1/carts/{outcome.aggregate_id}")

    return runner.run(actor, None, create)


@router.post("/{cart_id}/items")
def add_item(
    cart_id: UUID, body: AddCartItem, actor: Shopper, commands: CommandsDep, runner: Runner
) -> Response:
    """Add units of a product on sale; an existing line grows. Honors If-Match."""
    version = expected_version(runner.request)
    return runner.run(
        actor,
        body,
        lambda ctx: Reply(
            commands.add_to_cart(cart_id, body.product_id, body.quantity, ctx, version)
        ),
    )


@router.put("/{cart_id}/items/{product_id}")
def change_quantity(
    cart_id: UUID,
    product_id: UUID,
    body: ChangeCartQuantity,
    actor: Shopper,
    commands: CommandsDep,
    runner: Runner,
) -> Response:
    """Set the quantity of a line. Honors If-Match."""
    version = expected_version(runner.request)
    return runner.run(
        actor,
        body,
        lambda ctx: Reply(
            commands.carts.change_quantity(cart_id, product_id, body.quantity, ctx, version)
        ),
    )


@router.delete("/{cart_id}/items/{product_id}")
def remove_item(
    cart_id: UUID, product_id: UUID, actor: Shopper, commands: CommandsDep, runner: Runner
) -> Response:
    """Remove a line. Honors If-Match."""
    version = expected_version(runner.request)
    return runner.run(
        actor,
        None,
        lambda ctx: Reply(commands.carts.remove_item(cart_id, product_id, ctx, version)),
    )


@router.delete("/{cart_id}/items")
def clear_cart(cart_id: UUID, actor: Shopper, commands: CommandsDep, runner: Runner) -> Response:
    """Remove every line. Honors If-Match."""
    version = expected_version(runner.request)
    return runner.run(actor, None, lambda ctx: Reply(commands.carts.clear(cart_id, ctx, version)))
