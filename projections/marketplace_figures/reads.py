"""The analysts' questions to the marketplace figures: GMV and the cart funnel per local bucket.

A bucket is a local day or a local hour in an IANA time zone. The view keeps quarter hours,
and every zone's offset is a whole number of quarter hours, so each lands in one bucket
exactly (Asia/Kolkata's hours start at half past the UTC hour, Asia/Kathmandu's at a quarter
to). An hour bucket is named by the instant it starts, so the two 01:00s of a night that
turns the clocks back stay apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from projections.marketplace_figures.postgres_view import PostgresMarketplaceFiguresView

ABANDONED_AFTER = timedelta(hours=24)
"""A cart still holding items this long after its last change is abandoned (in the bucket of
that change)."""


class Bucket(StrEnum):
    """How finely figures are grouped in local time."""

    DAY = "day"
    HOUR = "hour"


def bucketed(column: str, bucket: Bucket) -> sql.Composed:
    """SQL for the local bucket (in %(tz)s) of a timestamptz column: a date, or the instant
    the local hour starts."""
    at = sql.Identifier(column)
    if bucket is Bucket.DAY:
        return sql.SQL("({} AT TIME ZONE %(tz)s)::date").format(at)
    return sql.SQL(
        "{at} - (({at} AT TIME ZONE %(tz)s) - date_trunc('hour', {at} AT TIME ZONE %(tz)s))"
    ).format(at=at)


GMV = """
SELECT {bucket} AS bucket, s.seller_id, coalesce(p.category, '') AS category, s.currency,
    sum(s.units)::bigint AS units, sum(s.revenue_minor)::bigint AS gmv_minor,
    sum(s.orders)::bigint AS lines
FROM figures_sales AS s LEFT JOIN figures_products AS p USING (product_id)
WHERE s.quarter >= %(start)s AND s.quarter < %(end)s
GROUP BY 1, 2, 3, 4
HAVING sum(s.units) <> 0 OR sum(s.revenue_minor) <> 0
ORDER BY 1, 2, 3, 4
LIMIT %(limit)s
"""
FUNNEL = """
WITH stages AS (
    SELECT {counted} AS bucket, stage, n FROM figures_funnel
    WHERE quarter >= %(start)s AND quarter < %(end)s
    UNION ALL
    SELECT {left} AS bucket, 'abandoned', count(*) FROM figures_carts
    WHERE units > 0 AND last_change < %(abandoned_before)s
        AND last_change >= %(start)s AND last_change < %(end)s
    GROUP BY 1
)
SELECT bucket,
    coalesce(sum(n) FILTER (WHERE stage = 'carts_created'), 0)::bigint AS carts_created,
    coalesce(sum(n) FILTER (WHERE stage = 'items_added'), 0)::bigint AS items_added,
    coalesce(sum(n) FILTER (WHERE stage = 'checked_out'), 0)::bigint AS checked_out,
    coalesce(sum(n) FILTER (WHERE stage = 'confirmed'), 0)::bigint AS confirmed,
    coalesce(sum(n) FILTER (WHERE stage = 'abandoned'), 0)::bigint AS abandoned
FROM stages GROUP BY bucket ORDER BY bucket LIMIT %(limit)s
"""


@dataclass(frozen=True)
class BucketGmv:
    """A seller's net sales of one category in one currency within one local bucket.

    bucket is a date (day buckets) or the instant the local hour starts (hour buckets);
    lines counts the order lines behind the figures (net of cancellations).
    """

    bucket: date | datetime
    seller_id: UUID
    category: str
    currency: str
    units: int
    gmv_minor: int
    lines: int


@dataclass(frozen=True)
class FunnelBucket:
    """The cart funnel within one local bucket.

    abandoned counts the carts whose last change falls in the bucket, still holding items
    ABANDONED_AFTER before the read.
    """

    bucket: date | datetime
    carts_created: int
    items_added: int
    checked_out: int
    confirmed: int
    abandoned: int


@dataclass(frozen=True)
class Window:
    """What a read covers: from start to end (UTC instants), bucketed in the IANA zone tz."""

    start: datetime
    end: datetime
    tz: str
    bucket: Bucket = Bucket.DAY

    def params(self, limit: int) -> dict[str, Any]:
        """The query parameters of this window."""
        return {"start": self.start, "end": self.end, "tz": self.tz, "limit": limit}


def gmv(view: PostgresMarketplaceFiguresView, window: Window, limit: int) -> list[BucketGmv]:
    """Up to limit rows of net sales per local bucket, seller, category and currency."""
    query = sql.SQL(GMV).format(bucket=bucketed("quarter", window.bucket))
    return view.read(lambda conn: rows(conn, BucketGmv, query, window.params(limit)))


def funnel(
    view: PostgresMarketplaceFiguresView, window: Window, now: datetime, limit: int
) -> list[FunnelBucket]:
    """Up to limit local buckets of the cart funnel, as it stands at now."""
    query = sql.SQL(FUNNEL).format(
        counted=bucketed("quarter", window.bucket), left=bucketed("last_change", window.bucket)
    )
    params = window.params(limit) | {"abandoned_before": now - ABANDONED_AFTER}
    return view.read(lambda conn: rows(conn, FunnelBucket, query, params))


def rows(
    conn: psycopg.Connection[Any], cls: type[Any], query: sql.Composed, params: dict[str, Any]
) -> Any:
    """The query's rows as cls."""
    with conn.cursor(row_factory=class_row(cls)) as cursor:
        return cursor.execute(query, params).fetchall()
