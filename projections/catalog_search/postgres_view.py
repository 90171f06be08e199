"""The catalog-search view in PostgreSQL: products with a weighted tsvector, sellers, stock.

The tsvector uses the 'simple' configuration (lower-cased words, no stemming, no stop
words): it tokenises like OpenSearch's standard analyzer, so both views agree on what a word
is, and it does not mangle brand names, model numbers or non-English titles. Near forms
("lamps" for "lamp") and typos are matched through pg_trgm on the title instead.

Every write of a batch and the batch's position commit in one transaction (PostgresView);
each row also keeps its aggregate's version and ignores changes it has already seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from domain.inventory import stock_item_id
from projections.catalog_search.postgres_query import (
    GROUPED_BY_BUCKET,
    GROUPED_BY_CATEGORY,
    GROUPED_BY_NOTHING,
    GROUPED_BY_SELLER,
    WORD_SIMILARITY,
    search_statements,
)
from projections.catalog_search.projection import Listing
from projections.catalog_search.search import (
    PRICE_BUCKETS,
    FacetBucket,
    Facets,
    SearchHit,
    SearchQuery,
    SearchResult,
    top_buckets,
)
from projections.postgres_unit import PostgresUnit, PostgresView
from projections.versions import WRITERS

TABLES = """
CREATE TABLE IF NOT EXISTS catalog_search_sellers (
    seller_id uuid PRIMARY KEY,
    version integer NOT NULL,
    name text NOT NULL
);
CREATE TABLE IF NOT EXISTS catalog_search_stock (
    stock_id uuid PRIMARY KEY,
    version integer NOT NULL,
    received bigint NOT NULL DEFAULT 0,
    reserved bigint NOT NULL DEFAULT 0,
    sold bigint NOT NULL DEFAULT 0,
    available bigint GENERATED ALWAYS AS (received - reserved - sold) STORED
);
CREATE TABLE IF NOT EXISTS catalog_search_products (
    id uuid PRIMARY KEY,
    version integer NOT NULL,
    seller_id uuid NOT NULL,
    stock_id uuid NOT NULL,
    title text NOT NULL,
    description text NOT NULL,
    category text NOT NULL,
    price_minor bigint NOT NULL,
    currency text NOT NULL,
    listed_at timestamptz NOT NULL,
    delisted boolean NOT NULL DEFAULT false,
    document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, title), 'A')
        || setweight(to_tsvector('simple'::regconfig, description), 'B')
    ) STORED
);
CREATE INDEX IF NOT EXISTS catalog_search_products_document
    ON catalog_search_products USING gin (document);
CREATE INDEX IF NOT EXISTS catalog_search_products_title_trgm
    ON catalog_search_products USING gin (title {trgm}.gin_trgm_ops);
CREATE INDEX IF NOT EXISTS catalog_search_products_price
    ON catalog_search_products (price_minor, id) WHERE NOT delisted;
CREATE INDEX IF NOT EXISTS catalog_search_products_newest
    ON catalog_search_products (listed_at DESC, id) WHERE NOT delisted;
CREATE INDEX IF NOT EXISTS catalog_search_products_category
    ON catalog_search_products (category) WHERE NOT delisted;
CREATE INDEX IF NOT EXISTS catalog_search_products_seller
    ON catalog_search_products (seller_id);
"""

TRIGRAM_SCHEMA = """
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_trgm'
"""


SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
SEARCH_SETTINGS = {"pg_trgm.word_similarity_threshold": str(WORD_SIMILARITY)}


class PostgresCatalogSearchUnit(PostgresUnit):
    """One batch's catalog-search writes, in the batch's transaction."""

    def name_seller(self, seller_id: UUID, name: str, version: int) -> None:
        """Record a seller's display name (read by a join, so a rename shows at once)."""
        self.cursor.execute(
            "INSERT INTO catalog_search_sellers AS s (seller_id, version, name) "
            "VALUES (%s, %s, %s) ON CONFLICT (seller_id) DO UPDATE "
            "SET name = excluded.name, version = excluded.version "
            "WHERE s.version < excluded.version",
            (seller_id, version, name),
        )

    def list_product(self, listing: Listing, version: int) -> None:
        """Insert a product's row."""
        self.cursor.execute(
            "INSERT INTO catalog_search_products (id, version, seller_id, stock_id, title, "
            "description, category, price_minor, currency, listed_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (
                listing.product_id,
                version,
                listing.seller_id,
                stock_item_id(listing.product_id),
                listing.title,
                listing.description,
                listing.category,
                listing.price_minor,
                listing.currency,
                listing.listed_at,
            ),
        )

    def describe_product(
        self, product_id: UUID, title: str, description: str, category: str, version: int
    ) -> None:
        """Replace a product's details (its tsvector follows, being generated)."""
        self._update_product(
            product_id, version, title=title, description=description, category=category
        )

    def reprice_product(
        self, product_id: UUID, price_minor: int, currency: str, version: int
    ) -> None:
        """Set a product's price."""
        self._update_product(product_id, version, price_minor=price_minor, currency=currency)

    def delist_product(self, product_id: UUID, version: int) -> None:
        """Mark a product delisted; searches skip it."""
        self._update_product(product_id, version, delisted=True)

    def open_stock(self, stock_id: UUID, product_id: UUID, version: int) -> None:
        """Create a stock item's counters at zero (products find it by stock_item_id)."""
        self.cursor.execute(
            "INSERT INTO catalog_search_stock (stock_id, version) VALUES (%s, %s) "
            "ON CONFLICT (stock_id) DO NOTHING",
            (stock_id, version),
        )

    def move_stock(
        self, stock_id: UUID, version: int, *, received: int = 0, reserved: int = 0, sold: int = 0
    ) -> None:
        """Add deltas to a stock item's counters."""
        self.cursor.execute(
            "UPDATE catalog_search_stock SET received = received + %s, "
            "reserved = reserved + %s, sold = sold + %s, version = %s "
            "WHERE stock_id = %s AND version < %s",
            (received, reserved, sold, version, stock_id, version),
        )

    def _update_product(self, product_id: UUID, version: int, **fields: Any) -> None:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = %s").format(sql.Identifier(name)) for name in fields
        )
        self.cursor.execute(
            sql.SQL(
                "UPDATE catalog_search_products SET {}, version = %s WHERE id = %s AND version < %s"
            ).format(assignments),
            (*fields.values(), version, product_id, version),
        )


class PostgresCatalogSearch(PostgresView):
    """Writes and answers catalog searches from PostgreSQL tables on the pool's schema.

    The tables of version N >= 1 are in a schema of their own (projections.postgres_versions);
    the view follows the version readers or writers use, or is pinned to one.
    """

    tables = ("catalog_search_products", "catalog_search_stock", "catalog_search_sellers")
    """The tables of one version (what dropping the unversioned layout removes)."""

    def __init__(
        self,
        pool: ConnectionPool,
        name: str = "catalog-search",
        *,
        follows: str = WRITERS,
        version: int | None = None,
    ) -> None:
        super().__init__(pool, name, versioned=True, follows=follows, version=version)
        self._trgm_schema: str | None = None

    def create(self) -> None:
        """Create pg_trgm (in public, unless it already exists elsewhere) and the tables."""
        schema = self.trgm_schema()
        self.create_tables(sql.SQL(TABLES).format(trgm=sql.Identifier(schema)).as_string())

    def trgm_schema(self) -> str:
        """The schema that holds pg_trgm, creating the extension there if needed."""
        if self._trgm_schema is None:
            with self.pool.connection() as conn:
                found = conn.execute(TRIGRAM_SCHEMA).fetchone()
                if found is None:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
                    found = conn.execute(TRIGRAM_SCHEMA).fetchone()
            assert found is not None
            self._trgm_schema = str(found[0])
        return self._trgm_schema

    @contextmanager
    def unit_of_work(self) -> Iterator[PostgresCatalogSearchUnit]:
        """A unit whose writes and position commit in one transaction."""
        with self.transaction() as unit:
            yield PostgresCatalogSearchUnit(unit.view, unit.cursor)

    def search(self, query: SearchQuery) -> SearchResult:
        """One page of matches with total and facets, read from one snapshot."""
        hits_sql, facets_sql, params = search_statements(query, self.trgm_schema())

        def read(conn: psycopg.Connection[Any]) -> SearchResult:
            rows = conn.execute(hits_sql, params).fetchall()
            groups = conn.execute(facets_sql, params).fetchall()
            return _result(tuple(SearchHit(*row) for row in rows), groups)

        return self.run(read, SEARCH_SETTINGS, SNAPSHOT)


def _result(hits: tuple[SearchHit, ...], groups: list[tuple[Any, ...]]) -> SearchResult:
    categories: dict[str, int] = {}
    sellers: dict[str, int] = {}
    prices = [0] * len(PRICE_BUCKETS)
    total = 0
    for grouping, category, seller_id, bucket, count in groups:
        if grouping == GROUPED_BY_CATEGORY:
            categories[category] = count
        elif grouping == GROUPED_BY_SELLER:
            sellers[seller_id] = count
        elif grouping == GROUPED_BY_BUCKET:
            prices[bucket] = count
        elif grouping == GROUPED_BY_NOTHING:
            total = count
    facets = Facets(
        categories=top_buckets(categories),
        sellers=top_buckets(sellers),
        prices=tuple(FacetBucket(b.key, n) for b, n in zip(PRICE_BUCKETS, prices, strict=True)),
    )
    return SearchResult(hits=hits, total=total, facets=facets)
