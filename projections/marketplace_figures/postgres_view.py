"""PostgresMarketplaceFiguresView: the analysts' live figures in PostgreSQL.

`figures_orders` and `figures_sales` are seller sales' two tables at quarter-hour grain,
written by the same unit (projections.seller_sales.postgres_view). `figures_products` holds
each product's category, `figures_funnel` the funnel's counts per quarter hour and stage,
`figures_carts` each cart's lines, units and last change. A batch is applied in memory and
written in a few statements, its position with it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, ClassVar, cast
from uuid import UUID

import orjson
import psycopg
from psycopg.types.json import Jsonb, set_json_loads

from projections.seller_sales.postgres_view import PostgresSellerSalesUnit, SalesStatements
from projections.stores.postgres.reads import PostgresReadView
from projections.stores.postgres.unit import Columns

TABLES = """
CREATE TABLE IF NOT EXISTS figures_orders (
    order_id uuid PRIMARY KEY,
    version integer NOT NULL,
    currency text NOT NULL,
    lines jsonb NOT NULL,
    confirmed_quarter timestamptz
);
CREATE TABLE IF NOT EXISTS figures_sales (
    seller_id uuid NOT NULL,
    quarter timestamptz NOT NULL,
    product_id uuid NOT NULL,
    currency text NOT NULL,
    units bigint NOT NULL,
    revenue_minor bigint NOT NULL,
    orders integer NOT NULL,
    PRIMARY KEY (seller_id, quarter, product_id, currency)
);
CREATE INDEX IF NOT EXISTS figures_sales_quarter ON figures_sales (quarter);
CREATE TABLE IF NOT EXISTS figures_products (product_id uuid PRIMARY KEY, category text NOT NULL);
CREATE TABLE IF NOT EXISTS figures_funnel (
    quarter timestamptz NOT NULL,
    stage text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (quarter, stage)
);
CREATE TABLE IF NOT EXISTS figures_carts (
    cart_id uuid PRIMARY KEY,
    lines jsonb NOT NULL,
    units integer NOT NULL,
    last_change timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS figures_carts_held ON figures_carts (last_change) WHERE units > 0;
"""
CATEGORISE = """
INSERT INTO figures_products AS p (product_id, category)
SELECT * FROM unnest(%b::uuid[], %b::text[])
ON CONFLICT (product_id) DO UPDATE SET category = excluded.category
"""
COUNT = """
INSERT INTO figures_funnel AS f (quarter, stage, n)
SELECT * FROM unnest(%b::timestamptz[], %b::text[], %b::bigint[])
ON CONFLICT (quarter, stage) DO UPDATE SET n = f.n + excluded.n
"""
CARTS = "SELECT cart_id, lines FROM figures_carts WHERE cart_id = ANY(%b)"
SAVE_CARTS = """
INSERT INTO figures_carts AS c (cart_id, lines, units, last_change)
SELECT c.cart_id, c.lines, c.units, c.last_change
FROM jsonb_to_recordset(%s) AS c(cart_id uuid, lines jsonb, units integer, last_change timestamptz)
ON CONFLICT (cart_id) DO UPDATE
SET lines = excluded.lines, units = excluded.units, last_change = excluded.last_change
"""


class PostgresMarketplaceFiguresUnit(PostgresSellerSalesUnit):
    """One batch's figures, collected in log order and written when the unit closes."""

    statements: ClassVar[SalesStatements] = SalesStatements.on(
        "figures_orders", "figures_sales", "quarter"
    )

    def __init__(self, view: str, cursor: psycopg.Cursor[tuple[object, ...]]) -> None:
        super().__init__(view, cursor)
        self.categories: dict[UUID, str] = {}
        self.stages: dict[tuple[datetime, str], int] = {}
        self.carts: list[tuple[UUID, datetime, UUID | None, int, bool]] = []

    def categorise(self, product_id: UUID, category: str) -> None:
        """The product's category from now on."""
        self.categories[product_id] = category

    def count_stage(self, stage: str, quarter: datetime) -> None:
        """One more of a funnel stage in the quarter hour."""
        key = (quarter, stage)
        self.stages[key] = self.stages.get(key, 0) + 1

    def change_cart(
        self, cart_id: UUID, at: datetime, product_id: UUID | None, quantity: int, add: bool
    ) -> None:
        """The cart changed at (see MarketplaceFiguresUnit.change_cart)."""
        self.carts.append((cart_id, at, product_id, quantity, add))

    def flush(self) -> None:
        """Write what the batch collected."""
        super().flush()
        if self.categories:
            named = Columns(2)
            for product, category in self.categories.items():
                named.add(product, category)
            self.cursor.execute(CATEGORISE, named.columns)
        if self.stages:
            counted = Columns(3)
            for (quarter, stage), n in self.stages.items():
                counted.add(quarter, stage, n)
            self.cursor.execute(COUNT, counted.columns)
        if self.carts:
            self.cursor.execute(SAVE_CARTS, (Jsonb(self.changed_carts()),))

    def changed_carts(self) -> list[dict[str, Any]]:
        """The batch's carts as they stand after it: lines, units and last change."""
        ids = list({change[0] for change in self.carts})
        set_json_loads(orjson.loads, self.cursor)
        found = self.cursor.execute(CARTS, (ids,), binary=True).fetchall()
        lines: dict[Any, dict[str, int]] = {
            row[0]: dict(cast("dict[str, int]", row[1])) for row in found
        }
        last: dict[UUID, datetime] = {}
        for cart, at, product, quantity, add in self.carts:
            held = lines.setdefault(cart, {})
            last[cart] = at
            if product is None:
                held.clear()
            elif add:
                held[str(product)] = held.get(str(product), 0) + quantity
            elif quantity > 0:
                held[str(product)] = quantity
            else:
                held.pop(str(product), None)
        return [
            {
                "cart_id": str(cart),
                "lines": lines[cart],
                "units": sum(lines[cart].values()),
                "last_change": at.isoformat(),
            }
            for cart, at in last.items()
        ]


class PostgresMarketplaceFiguresView(PostgresReadView):
    """The analysts' live figures, on the pool's schema."""

    tables = (
        "figures_orders",
        "figures_sales",
        "figures_products",
        "figures_funnel",
        "figures_carts",
    )
    """The tables of one version (what dropping the unversioned layout removes)."""

    default_name = "marketplace-figures"

    create_statements = (TABLES,)

    def unit_of_work(self) -> AbstractContextManager[PostgresMarketplaceFiguresUnit]:
        """A unit whose writes and position commit in one transaction."""
        return self.batch(PostgresMarketplaceFiguresUnit)
