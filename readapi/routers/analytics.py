"""Marketplace-wide figures for analysts (and admins): GMV per day and seller, top products.

Served from the live seller-sales projection in PostgreSQL, net of cancellations and refunds.
No customer appears in any answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from infra.auth import Principal
from infra.openapi import problem
from infra.web import Problem
from projections.seller_sales.marketplace_reads import gmv_by_day, top_products
from readapi.caching import PRIVATE, private_json
from readapi.consistency import consistency_for
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
ROUTE = private_read(
    {},
    ("seller_sales",),
    {
        403: FORBIDDEN,
        422: problem(
            "A malformed time, an unknown time zone, a malformed X-Min-Position, or more rows "
            "than one answer holds"
        ),
    },
)
"""The keywords of every analytics route."""


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


@router.get("/v1/analytics/gmv", **ROUTE)
async def gmv(
    caller: AnalystReader, request: Request, start: Start, end: End, tz: Zone = "UTC"
) -> Response:
    """Gross merchandise value per day, seller and currency, net of cancellations and refunds.

    Days are local days in `tz` (UTC by default) of the hour each order was confirmed in.
    One answer covers at most 366 days: its `to` says where it ends.
    """
    start, end = checked_range(start, end)
    zone = checked_zone(tz)
    deps: ReadApiDeps = request.app.state.deps
    consistency = await consistency_for(request, deps.seller_sales)
    view = deps.seller_sales.view
    days = []
    if end > start:
        days = await run_in_threadpool(gmv_by_day, view, start, end, zone, MAX_ROWS + 1)
    if len(days) > MAX_ROWS:
        headers = {**consistency.headers(), "Cache-Control": PRIVATE}
        detail = f"more than {MAX_ROWS} rows: ask for a shorter range"
        raise Problem(422, "too-many-rows", "Too many rows", detail, headers)
    document = {
        "from": instant(start),
        "to": instant(end),
        "tz": zone,
        "days": [
            {
                "day": row.day.isoformat(),
                "seller_id": str(row.seller_id),
                "units": row.units,
                "gmv": price(row.gmv_minor, row.currency),
                "orders": row.orders,
            }
            for row in days
        ],
    }
    return private_json(document, consistency.headers())


@router.get("/v1/analytics/top-products", **ROUTE)
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
