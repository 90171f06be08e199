"""Public catalog search."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from infra.openapi import problem, unavailable
from infra.web import Problem
from projections.catalog_search.search import (
    MAX_CATEGORY_LENGTH,
    MAX_PAGE_SIZE,
    MAX_PRICE_MINOR,
    MAX_TEXT_LENGTH,
    MAX_WINDOW,
    MAX_WORDS,
    FacetBucket,
    Facets,
    InvalidSearch,
    SearchHit,
    SearchQuery,
    SearchResult,
    Sort,
)
from readapi.caching import SEARCH, public_json
from readapi.consistency import consistency_for
from readapi.deps import ReadApiDeps
from readapi.openapi import READS, public_read
from readapi.schemas import SearchPage

router = APIRouter(tags=["search"], responses=READS)

WORDS_PATTERN = rf"^[\W_]*(?:[^\W_]+(?:[\W_]+|$)){{0,{MAX_WORDS}}}$"
"""At most MAX_WORDS runs of letters and digits, as SearchQuery counts words."""
Price = Annotated[int | None, Query(ge=0, le=MAX_PRICE_MINOR, description="Minor units")]


def hit(found: SearchHit) -> dict[str, Any]:
    """The public shape of one hit."""
    return {
        "id": str(found.id),
        "title": found.title,
        "category": found.category,
        "price": {"amount_minor": found.price_minor, "currency": found.currency},
        "seller": {"id": str(found.seller_id), "name": found.seller_name},
        "units_available": found.units_available,
        "listed_at": found.listed_at.astimezone(UTC).isoformat(),
        "images": found.images,
    }


def counts(buckets: tuple[FacetBucket, ...]) -> list[dict[str, Any]]:
    """Facet buckets as key and count."""
    return [{"key": str(bucket.key), "count": bucket.count} for bucket in buckets]


def page_body(result: SearchResult, page: int, page_size: int) -> bytes:
    """The answer's exact bytes (its ETag is their hash)."""
    return orjson.dumps(
        {
            "total": result.total,
            "page": page,
            "page_size": page_size,
            "hits": [hit(found) for found in result.hits],
            "facets": {
                "categories": counts(result.facets.categories),
                "sellers": counts(result.facets.sellers),
                "prices": counts(result.facets.prices),
            },
        }
    )


@router.get(
    "/v1/search",
    **public_read(
        SearchPage,
        SEARCH,
        ("catalog_search",),
        {
            422: problem(
                "A parameter out of bounds, a page past the result window, "
                "a malformed X-Min-Position, or a log this view does not follow"
            ),
            503: unavailable(
                "The search store does not answer (store-unavailable), or the view is being "
                "built or rebuilt from empty (view-incomplete); see Retry-After"
            ),
        },
    ),
)
async def search(
    request: Request,
    q: Annotated[
        str,
        Query(
            max_length=MAX_TEXT_LENGTH,
            description=f"Words to find, at most {MAX_WORDS}",
            json_schema_extra={"pattern": WORDS_PATTERN},
        ),
    ] = "",
    category: Annotated[str | None, Query(min_length=1, max_length=MAX_CATEGORY_LENGTH)] = None,
    seller_id: UUID | None = None,
    min_price: Price = None,
    max_price: Price = None,
    in_stock: bool = False,
    sort: Sort = Sort.RELEVANCE,
    page: Annotated[int, Query(ge=1, le=MAX_WINDOW)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 20,
) -> Response:
    """Products matching words (one typo forgiven in longer title words) and filters.

    Every word (at most 10) must match; delisted products are never found. Facets count the
    whole match set. Pages stop at 10 000 results: a page past them, or a price range with
    min_price over max_price, finds nothing. Public and cacheable for 30 seconds.
    """
    offset = (page - 1) * page_size
    past_window = offset + page_size > MAX_WINDOW
    empty_range = min_price is not None and max_price is not None and min_price > max_price
    try:
        query = SearchQuery(
            text=q,
            category=category,
            seller_id=seller_id,
            min_price_minor=max_price if empty_range else min_price,
            max_price_minor=max_price,
            in_stock=in_stock,
            sort=sort,
            limit=page_size,
            offset=0 if past_window else offset,
        )
    except InvalidSearch as error:
        raise Problem(422, "invalid-search", "Invalid search", str(error)) from None
    deps: ReadApiDeps = request.app.state.deps
    consistency = await consistency_for(request, deps.catalog_search)
    if empty_range:
        result = SearchResult((), 0, Facets((), (), ()))
    else:
        result = await run_in_threadpool(deps.catalog_search.view.search, query)
    if past_window:
        result = replace(result, hits=())
    body = page_body(result, page, page_size)
    return public_json(body, consistency, request.headers.get("if-none-match"), SEARCH)
