"""The shopper's cart."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from starlette.responses import Response

from commands.base import Outcome
from commands.carts import CartsApplication
from domain.base import Context
from domain.cart import Cart, cart_id_for
from infra.auth import Principal
from writeapi.deps import CheckoutExpiry, ShopperCall
from writeapi.execution import Reply
from writeapi.openapi import CREATED_HEADERS, LIMITED, NOT_FOUND, command, success
from writeapi.schemas import AddCartItem, ChangeCartQuantity, Checkout
from writeapi.sold_out_gate import CHECKED

router = APIRouter(prefix="/v1/carts", tags=["carts"])


@router.post(
    "",
    **command(
        LIMITED, {200: success("The caller's cart exists already", CREATED_HEADERS)}, status=201
    ),
)
def create_cart(call: ShopperCall) -> Response:
    """Create the caller's cart; 200 with the same cart if it already exists."""

    def create(ctx: Context) -> Reply:
        outcome, new = call.commands.carts.create_cart(call.principal.sub, ctx)
        return created(outcome) if new else Reply(outcome, 200, location(outcome))

    def created(outcome: Outcome) -> Reply:
        return Reply(outcome, 201, location(outcome))

    return call.run(None, create, created)


def location(outcome: Outcome) -> str:
    """Where the query API shows the cart."""
    return f"/v1/carts/{outcome.aggregate_id}"


@router.post("/{cart_id}/items", **command(LIMITED, NOT_FOUND, if_match=True))
def add_item(cart_id: UUID, body: AddCartItem, call: ShopperCall) -> Response:
    """Add units of a product on sale; an existing line grows. Honors If-Match."""
    commands = call.commands
    return call.update(
        body,
        lambda ctx, version: commands.add_to_cart(
            cart_id, body.product_id, body.quantity, ctx, version
        ),
    )


@router.put("/{cart_id}/items/{product_id}", **command(LIMITED, NOT_FOUND, if_match=True))
def change_quantity(
    cart_id: UUID, product_id: UUID, body: ChangeCartQuantity, call: ShopperCall
) -> Response:
    """Set the quantity of a line. Honors If-Match."""
    carts = call.commands.carts
    return call.update(
        body,
        lambda ctx, version: carts.change_quantity(
            cart_id, product_id, body.quantity, ctx, version
        ),
    )


@router.delete("/{cart_id}/items/{product_id}", **command(LIMITED, NOT_FOUND, if_match=True))
def remove_item(cart_id: UUID, product_id: UUID, call: ShopperCall) -> Response:
    """Remove a line. Honors If-Match."""
    carts = call.commands.carts
    return call.update(
        None, lambda ctx, version: carts.remove_item(cart_id, product_id, ctx, version)
    )


@router.delete("/{cart_id}/items", **command(LIMITED, NOT_FOUND, if_match=True))
def clear_cart(cart_id: UUID, call: ShopperCall) -> Response:
    """Remove every line. Honors If-Match."""
    carts = call.commands.carts
    return call.update(None, lambda ctx, version: carts.clear(cart_id, ctx, version))


@router.post(
    "/{cart_id}/checkout",
    **command(LIMITED, NOT_FOUND, key_required=True, status=202, if_match=True),
)
def check_out(cart_id: UUID, body: Checkout, call: ShopperCall, expiry: CheckoutExpiry) -> Response:
    """Place an order from the cart at today's prices and empty the cart.

    An Idempotency-Key is required: the order id derives from the shopper and the key,
    so a retry with the same key answers with the same order and never places a second.
    Stock and payment follow asynchronously; the order's status is at the Location.
    With If-Match (the cart's ETag), a first checkout is refused 412 unless the cart is
    still at that version, and a flash sale's sold-out answer comes without a store read.
    """
    key = call.required_idempotency_key()
    cart_version = call.expected_version()
    commands = call.commands
    checked = getattr(call.request.state, CHECKED, False)
    if cart_id == cart_id_for(call.principal.sub) and not checked:
        commands.refuse_if_sold_out(call.principal.sub, key)

    def place(ctx: Context) -> Reply:
        shopper_id = cart_owner(commands.carts, cart_id, call.principal)
        outcome = commands.check_out(
            shopper_id, body.address_id, key, ctx.at + expiry, ctx, cart_version
        )
        order_id = outcome.aggregate_id
        placed_now = outcome.position is not None
        status = "placed" if placed_now else str(commands.orders.order(order_id).status)
        return Reply(
            outcome,
            202,
            f"/v1/me/orders/{order_id}",
            {"order_id": str(order_id), "status": status},
        )

    return call.run(body, place, repeatable=True)


def cart_owner(carts: CartsApplication, cart_id: UUID, caller: Principal) -> UUID:
    """The shopper whose cart this is: the caller's own without a read, else as stored."""
    if cart_id == cart_id_for(caller.sub):
        return caller.sub
    return carts.recent(cart_id, Cart).shopper_id
