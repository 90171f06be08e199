"""Marketplace-wide figures for analysts (and admins): GMV, the cart funnel, top products.

Served from live PostgreSQL projections: GMV and the funnel from marketplace-figures (per
local day or hour in any IANA zone), top products from seller sales; figures are net of
cancellations and refunds. No customer appears in any answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from infra.auth import Principal
from infra.openapi import problem
from infra.web import Problem
from projections.marketplace_figures import reads as figures
from projections.marketplace_figures.postgres_view import PostgresMarketplaceFiguresView
from projections.marketplace_figures.projection import STAGES
from projections.marketplace_figures.reads import Bucket, Window
from projections.seller_sales.marketplace_reads import top_products
from readapi.caching import PRIVATE, private_json
from readapi.consistency import Consistency, consistency_for
from readapi.deps import ReadApiDeps, caller_as
from readapi.openapi import READS, private_read
from readapi.routers.orders import instant, price
from readapi.routers.sellers import as_utc

router = APIRouter(tags=["analytics"], responses=READS)

AnalystReader = Annotated[Principal, Depends(caller_as("analyst", "admin"))]
FORBIDDEN = problem("Neither an analyst nor an admin")
MAX_RANGE = timedelta(days=366)
MAX_ROWS = 10_000
Start = Annotated[datetime, Query(alias="from", description="ISO 8601; UTC if no offset")]
End = Annotated[datetime, Query(alias="to", description="ISO 8601, exclusive")]
KNOWN_ZONES = frozenset(available_timezones() | {"UTC"})
"""Read from the time zone database once, at import, not on every request."""
ZONES = sorted(KNOWN_ZONES)
Zone = Annotated[
    str,
    Query(
        max_length=64,
        description="IANA time zone of the days, e.g. Europe/Paris",
        json_schema_extra={"enum": ZONES},
    ),
]
ERRORS: dict[int | str, dict[str, Any]] = {
    403: FORBIDDEN,
    422: problem(
        "A malformed time, an unknown time zone, a malformed X-Min-Position, or more rows "
        "than one answer holds"
    ),
}
"""What an analytics route answers beside its 200, 401 and 503."""


def checked_range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """start and end in UTC, end at most MAX_RANGE after start (the answer's `to` says where
    it ends); a range whose end is not after its start holds nothing."""
    start, end = as_utc(start), as_utc(end)
    return start, start + MAX_RANGE if end - start > MAX_RANGE else end


def checked_zone(tz: str) -> str:
    """tz, if it names an IANA time zone; else a 422 problem."""
    if tz not in KNOWN_ZONES:
        raise Problem(422, "unknown-time-zone", "Unknown time zone", f"{tz!r} is no IANA zone")
    return tz


async def checked_window(
    start: Start, end: End, tz: Zone = "UTC", bucket: Bucket = Bucket.DAY
) -> Window:
    """The window a request asks for: its range checked_range'd, its zone checked."""
    start, end = checked_range(start, end)
    return Window(start, end, checked_zone(tz), bucket)


AskedWindow = Annotated[Window, Depends(checked_window)]


@router.get(
    "/v1/analytics/gmv",
    **private_read({}, ("marketplace_figures",), ERRORS),
)
async def gmv(caller: AnalystReader, request: Request, window: AskedWindow) -> Response:
    """Gross merchandise value per local day (or hour), seller, category and currency, net of
    cancellations and refunds.

    Buckets are local days or hours in `tz` (UTC by default) of the time each order was
    confirmed; an hour is named by its start with its offset. A product counts in the
    category it has now. One answer covers at most 366 days: its `to` says where it ends.
    """
    return await figures_answer(
        request,
        window,
        figures.gmv,
        lambda row: {
            "seller_id": str(row.seller_id),
            "category": row.category,
            "units": row.units,
            "gmv": price(row.gmv_minor, row.currency),
            "lines": row.lines,
        },
    )


@router.get(
    "/v1/analytics/funnel",
    **private_read({}, ("marketplace_figures",), ERRORS),
)
async def funnel(caller: AnalystReader, request: Request, window: AskedWindow) -> Response:
    """The cart funnel per local day (or hour): carts created, items added, checked out,
    confirmed and abandoned.

    Each stage counts in the bucket (in `tz`, UTC by default) of the event that reached it;
    a cart is abandoned if it still holds items a day after its last change, and counts in
    the bucket of that change. One answer covers at most 366 days: its `to` says where it
    ends.
    """
    now = datetime.now(UTC)
    return await figures_answer(
        request,
        window,
        lambda view, window, limit: figures.funnel(view, window, now, limit),
        lambda row: {stage: getattr(row, stage) for stage in STAGES},
    )


async def figures_answer(
    request: Request,
    window: Window,
    read: Callable[[PostgresMarketplaceFiguresView, Window, int], Sequence[Any]],
    fields: Callable[[Any], dict[str, Any]],
) -> Response:
    """The rows read over window, each named by its bucket then given its fields, in the
    answer's frame (a 422 if there are more than MAX_ROWS)."""
    deps: ReadApiDeps = request.app.state.deps
    consistency = await consistency_for(request, deps.marketplace_figures)
    found: Sequence[Any] = []
    if window.end > window.start:
        found = await run_in_threadpool(read, deps.marketplace_figures.view, window, MAX_ROWS + 1)
    document = windowed(window, consistency, found)
    document["rows"] = [
        {window.bucket.value: bucket_name(row.bucket, window.tz)} | fields(row) for row in found
    ]
    return private_json(document, consistency.headers())


def windowed(window: Window, consistency: Consistency, found: Sequence[Any]) -> dict[str, Any]:
    """The answer's frame (from, to, tz, bucket), or a 422 if found holds more than MAX_ROWS."""
    if len(found) > MAX_ROWS:
        headers = {**consistency.headers(), "Cache-Control": PRIVATE}
        detail = f"more than {MAX_ROWS} rows: ask for a shorter range or larger buckets"
        raise Problem(422, "too-many-rows", "Too many rows", detail, headers)
    return {
        "from": instant(window.start),
        "to": instant(window.end),
        "tz": window.tz,
        "bucket": window.bucket.value,
    }


def bucket_name(bucket: date | datetime, tz: str) -> str:
    """A day as YYYY-MM-DD; an hour as its local start with its offset, in tz."""
    if isinstance(bucket, datetime):
        return bucket.astimezone(ZoneInfo(tz)).isoformat()
    return bucket.isoformat()


@router.get(
    "/v1/analytics/top-products",
    **private_read({}, ("seller_sales",), ERRORS),
)
async def top(
    caller: AnalystReader,
    request: Request,
    start: Start,
    end: End,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """The products with the most net sales from `from` to `to`, per currency, best first.

    One answer covers at most 366 days: its `to` says where it ends.
    """
    start, end = checked_range(start, end)
    deps: ReadApiDeps = request.app.state.deps
    consistency = await consistency_for(request, deps.seller_sales)
    found = []
    if end > start:
        found = await run_in_threadpool(top_products, deps.seller_sales.view, start, end, limit)
    document = {
        "from": instant(start),
        "to": instant(end),
        "products": [
            {
                "product_id": str(row.product_id),
                "seller_id": str(row.seller_id),
                "units": row.units,
                "gmv": price(row.gmv_minor, row.currency),
            }
            for row in found
        ],
    }
    return private_json(document, consistency.headers())
