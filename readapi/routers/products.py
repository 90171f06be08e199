"""Public product reads."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from starlette.responses import Response

from infra.openapi import problem
from infra.web import Problem
from readapi.caching import PUBLIC, public_json
from readapi.consistency import consistency_for
from readapi.deps import ReadApiDeps
from readapi.openapi import READS, public_read
from readapi.schemas import ProductDetail

router = APIRouter(tags=["products"], responses=READS)


@router.get(
    "/v1/products/{product_id}",
    **public_read(
        ProductDetail,
        PUBLIC,
        ("product_detail",),
        {
            404: problem("No such product (in the view, once it reached X-Min-Position)"),
            422: problem("Malformed id, X-Min-Position, or a log this view does not follow"),
        },
    ),
)
async def product_detail(product_id: UUID, request: Request) -> Response:
    """A product with its price, seller name and units available. Public and cacheable."""
    deps: ReadApiDeps = request.app.state.deps
    consistency = await consistency_for(request, deps.product_detail)
    # The body Redis renders, as readapi.fastpath serves it without X-Min-Position: the
    # same bytes, so the same ETag, whichever way a read comes.
    body = await deps.product_detail.view.product_json_async(str(product_id))
    if body is None:
        raise Problem(404, "not-found", "Not found", "no such product", consistency.headers())
    return public_json(body, consistency, request.headers.get("if-none-match"))
