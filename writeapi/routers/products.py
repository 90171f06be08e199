"""Products and their stock."""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import APIRouter
from starlette.responses import Response

from domain.money import Money
from writeapi.deps import CommandsDep, Seller
from writeapi.execution import Reply, Runner, expected_version
from writeapi.schemas import AdjustStock, Delist, ListProduct, Price, ReceiveStock, UpdateProduct

router = APIRouter(prefix="/v1/products", tags=["products and stock"])


@router.post("", status_code=201)
def list_product(
    body: ListProduct, actor: Seller, commands: CommandsDep, runner: Runner
) -> Response:
    """List a new product for the calling seller."""
    product_id = uuid4()
    seller_id = body.seller_id or actor.sub
    return runner.run(
        actor,
        body,
        lambda ctx: Reply(
            commands.catalog.list_product(
                product_id,
                seller_id,
                body.title,
                body.description,
                body.category,
                dict(body.attributes),
                Money(body.price.amount_minor, body.price.currency),
                ctx,
            ),
            201,
            f"/v1/products/{product_id}",
        ),
    )


@router.patch("/{product_id}")
def update_product(
    product_id: UUID, body: UpdateProduct, actor: Seller, commands: CommandsDep, runner: Runner
) -> Response:
    """Replace a product's title, description, category and attributes. Honors If-Match."""
    version = expected_version(runner.request)
    return runner.run(
        actor,
        body,
        lambda ctx: Reply(
            commands.catalog.update_product(
                product_id,
                body.title,
                body.description,
                body.category,
                dict(body.attributes),
                ctx,
                version,
            )
        ),
    )


@router.put("/{product_id}/price")
def reprice_product(
    product_id: UUID, body: Price, actor: Seller, commands: CommandsDep, runner: Runner
) -> Response:
    """Set a product's price. Honors If-Match."""
    version = expected_version(runner.request)
    price = Money(body.amount_minor, body.currency)
    return runner.run(
        actor,
        body,
        lambda ctx: Reply(commands.catalog.reprice_product(product_id, price, ctx, version)),
    )


@router.post("/{product_id}/delisting")
def delist_product(
    product_id: UUID, body: Delist, actor: Seller, commands: CommandsDep, runner: Runner
) -> Response:
    """Take a product off sale. Honors If-Match."""
    version = expected_version(runner.request)
    return runner.run(
        actor,
        body,
        lambda ctx: Reply(commands.catalog.delist_product(product_id, body.reason, ctx, version)),
    )


@router.post("/{product_id}/stock/receipts")
def receive_stock(
    product_id: UUID, body: ReceiveStock, actor: Seller, commands: CommandsDep, runner: Runner
) -> Response:
    """Record units delivered into stock."""
    return runner.run(
        actor, body, lambda ctx: Reply(commands.receive_stock(product_id, body.quantity, ctx))
    )


@router.post("/{product_id}/stock/adjustments")
def adjust_stock(
    product_id: UUID, body: AdjustStock, actor: Seller, commands: CommandsDep, runner: Runner
) -> Response:
    """Correct the units on hand (never below what is reserved or sold). Honors If-Match."""
    version = expected_version(runner.request)
    return runner.run(
        actor,
        body,
        lambda ctx: Reply(
            commands.inventory.adjust_stock(product_id, body.delta, body.reason, ctx, version)
        ),
    )
