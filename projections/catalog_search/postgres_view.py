"""The catalog-search view in PostgreSQL: products with a weighted tsvector, sellers, stock.

The tsvector uses the 'simple' configuration (lower-cased words, no stemming, no stop
words): it tokenises like OpenSearch's standard analyzer, so both views agree on what a word
is, and it does not mangle brand names, model numbers or non-English titles. Near forms
("lamps" for "lamp") and typos are matched through pg_trgm on the title instead.

The category index is a hash index: it serves the category filter (an equality) and holds a
category of any length, where a btree's row must fit in about 2.7 kB (a longer category, in an
event from before the command API bounded texts or from another writer, would fail its batch).

Every write of a batch and the batch's position commit in one transaction (PostgresView),
a few multi-row statements per batch; each row also keeps its aggregate's version and
ignores changes it has already seen.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any
from uuid import UUID

import orjson
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
    SearchHit,
    SearchQuery,
    SearchResult,
    counted_facets,
)
from projections.product_detail.projection import gallery
from projections.stores.postgres.unit import Columns, PostgresUnit, PostgresView
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
    gallery jsonb NOT NULL DEFAULT '{{}}'::jsonb,
    document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig, title), 'A')
        || setweight(to_tsvector('simple'::regconfig, description), 'B')
    ) STORED
);
ALTER TABLE catalog_search_products
    ADD COLUMN IF NOT EXISTS gallery jsonb NOT NULL DEFAULT '{{}}'::jsonb;
CREATE INDEX IF NOT EXISTS catalog_search_products_document
    ON catalog_search_products USING gin (document);
CREATE INDEX IF NOT EXISTS catalog_search_products_title_trgm
    ON catalog_search_products USING gin (title {trgm}.gin_trgm_ops);
CREATE INDEX IF NOT EXISTS catalog_search_products_price
    ON catalog_search_products (price_minor, id) WHERE NOT delisted;
CREATE INDEX IF NOT EXISTS catalog_search_products_newest
    ON catalog_search_products (listed_at DESC, id) WHERE NOT delisted;
CREATE INDEX IF NOT EXISTS catalog_search_products_category
    ON catalog_search_products USING hash (category) WHERE NOT delisted;
CREATE INDEX IF NOT EXISTS catalog_search_products_seller
    ON catalog_search_products (seller_id);
"""

EXTENSIONS = ("pg_trgm", "fuzzystrmatch")
EXTENSION_SCHEMA = """
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = %s
"""


SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
SEARCH_SETTINGS = {"pg_trgm.word_similarity_threshold": str(WORD_SIMILARITY)}


NAME_SELLERS = """
INSERT INTO catalog_search_sellers AS s (seller_id, version, name)
SELECT * FROM unnest(%b::uuid[], %b::integer[], %b::text[])
ON CONFLICT (seller_id) DO UPDATE SET name = excluded.name, version = excluded.version
WHERE s.version < excluded.version
"""
LIST_PRODUCTS = """
INSERT INTO catalog_search_products (id, version, seller_id, stock_id, title, description,
    category, price_minor, currency, listed_at)
SELECT * FROM unnest(%b::uuid[], %b::integer[], %b::uuid[], %b::uuid[], %b::text[], %b::text[],
    %b::text[], %b::bigint[], %b::text[], %b::timestamptz[])
ON CONFLICT (id) DO NOTHING
"""
CHANGE_PRODUCTS = """
UPDATE catalog_search_products AS p
SET title = coalesce(d.title, p.title), description = coalesce(d.description, p.description),
    category = coalesce(d.category, p.category),
    price_minor = coalesce(d.price_minor, p.price_minor),
    currency = coalesce(d.currency, p.currency), delisted = coalesce(d.delisted, p.delisted),
    gallery = p.gallery || coalesce(d.gallery, '{}'::jsonb), version = d.version
FROM (
    SELECT e.id, max(e.version) AS version,
        (array_agg(e.title ORDER BY e.version DESC) FILTER (WHERE e.title IS NOT NULL))[1]
            AS title,
        (array_agg(e.description ORDER BY e.version DESC)
            FILTER (WHERE e.description IS NOT NULL))[1] AS description,
        (array_agg(e.category ORDER BY e.version DESC) FILTER (WHERE e.category IS NOT NULL))[1]
            AS category,
        (array_agg(e.price_minor ORDER BY e.version DESC)
            FILTER (WHERE e.price_minor IS NOT NULL))[1] AS price_minor,
        (array_agg(e.currency ORDER BY e.version DESC) FILTER (WHERE e.currency IS NOT NULL))[1]
            AS currency,
        (array_agg(e.delisted ORDER BY e.version DESC) FILTER (WHERE e.delisted IS NOT NULL))[1]
            AS delisted,
        jsonb_object_agg(e.field, e.value::jsonb ORDER BY e.version)
            FILTER (WHERE e.field IS NOT NULL) AS gallery
    FROM unnest(%b::uuid[], %b::integer[], %b::text[], %b::text[], %b::text[], %b::bigint[],
            %b::text[], %b::boolean[], %b::text[], %b::text[])
        AS e(id, version, title, description, category, price_minor, currency, delisted, field,
            value)
    JOIN catalog_search_products AS c ON c.id = e.id AND e.version > c.version
    GROUP BY e.id
) AS d
WHERE p.id = d.id
"""
"""Each field takes its value from the latest of the batch's events that set it, among those
above the row's version: what applying them one by one, each only above the version, gives.
The gallery takes each field's latest value (jsonb_object_agg keeps a key's last value)."""
OPEN_STOCK = """
INSERT INTO catalog_search_stock (stock_id, version)
SELECT * FROM unnest(%b::uuid[], %b::integer[])
ON CONFLICT (stock_id) DO NOTHING
"""
MOVE_STOCK = """
UPDATE catalog_search_stock AS s
SET received = s.received + d.received, reserved = s.reserved + d.reserved,
    sold = s.sold + d.sold, version = d.version
FROM (
    SELECT e.stock_id, max(e.version) AS version, sum(e.received) AS received,
        sum(e.reserved) AS reserved, sum(e.sold) AS sold
    FROM unnest(%b::uuid[], %b::integer[], %b::bigint[], %b::bigint[], %b::bigint[])
        AS e(stock_id, version, received, reserved, sold)
    JOIN catalog_search_stock AS c ON c.stock_id = e.stock_id AND e.version > c.version
    GROUP BY e.stock_id
) AS d
WHERE s.stock_id = d.stock_id
"""
"""The deltas of the batch's moves above the row's version, added up per stock item."""


class PostgresCatalogSearchUnit(PostgresUnit):
    """One batch's catalog-search writes, collected per kind and written when the unit closes.

    flush() writes them in a few multi-row statements (sellers, new products, product changes,
    new stock items, stock moves, in that order), each equal to applying the events one by
    one: a row takes an event only if the event's version is above the row's.
    """

    def __init__(self, view: str, cursor: psycopg.Cursor[tuple[object, ...]]) -> None:
        super().__init__(view, cursor)
        self.sellers: dict[UUID, tuple[int, str]] = {}
        self.listed = Columns(10)
        self.changed = Columns(10)
        self.opened = Columns(2)
        self.moved = Columns(5)

    def name_seller(self, seller_id: UUID, name: str, version: int) -> None:
        """Record a seller's display name (read by a join, so a rename shows at once)."""
        known = self.sellers.get(seller_id)
        if known is None or known[0] < version:
            self.sellers[seller_id] = (version, name)

    def list_product(self, listing: Listing, version: int) -> None:
        """Insert a product's row."""
        self.listed.add(
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
        )

    def describe_product(
        self, product_id: UUID, title: str, description: str, category: str, version: int
    ) -> None:
        """Replace a product's details (its tsvector follows, being generated)."""
        self.changed.add(
            product_id, version, title, description, category, None, None, None, None, None
        )

    def reprice_product(
        self, product_id: UUID, price_minor: int, currency: str, version: int
    ) -> None:
        """Set a product's price."""
        self.changed.add(
            product_id, version, None, None, None, price_minor, currency, None, None, None
        )

    def delist_product(self, product_id: UUID, version: int) -> None:
        """Mark a product delisted; searches skip it."""
        self.changed.add(product_id, version, None, None, None, None, None, True, None, None)

    def show_images(self, product_id: UUID, fields: dict[str, Any], version: int) -> None:
        """Merge gallery fields into the product's, one row per field."""
        for name, value in fields.items():
            text = orjson.dumps(value).decode()
            self.changed.add(product_id, version, None, None, None, None, None, None, name, text)

    def open_stock(self, stock_id: UUID, product_id: UUID, version: int) -> None:
        """Create a stock item's counters at zero (products find it by stock_item_id)."""
        self.opened.add(stock_id, version)

    def move_stock(
        self, stock_id: UUID, version: int, *, received: int = 0, reserved: int = 0, sold: int = 0
    ) -> None:
        """Add deltas to a stock item's counters."""
        self.moved.add(stock_id, version, received, reserved, sold)

    def flush(self) -> None:
        """Write what the batch collected."""
        if self.sellers:
            ids = list(self.sellers)
            versions, names = zip(*self.sellers.values(), strict=True)
            self.cursor.execute(NAME_SELLERS, (ids, list(versions), list(names)))
        for statement, rows in (
            (LIST_PRODUCTS, self.listed),
            (CHANGE_PRODUCTS, self.changed),
            (OPEN_STOCK, self.opened),
            (MOVE_STOCK, self.moved),
        ):
            if rows:
                self.cursor.execute(statement, rows.columns)


class PostgresCatalogSearchView(PostgresView):
    """Writes and answers catalog searches from PostgreSQL tables on the pool's schema.

    The tables of version N >= 1 are in a schema of their own
    (projections.stores.postgres.versions); the view follows the version readers or writers
    use, or is pinned to one.
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
        self._extension_schemas: tuple[str, str] | None = None

    def create(self) -> None:
        """Create pg_trgm and fuzzystrmatch (in public, unless elsewhere already), the tables."""
        schema = self.extension_schemas()[0]
        self.create_tables(sql.SQL(TABLES).format(trgm=sql.Identifier(schema)).as_string())

    def extension_schemas(self) -> tuple[str, str]:
        """The schemas that hold pg_trgm and fuzzystrmatch, creating either if needed."""
        if self._extension_schemas is None:
            schemas = []
            with self.pool.connection() as conn:
                for extension in EXTENSIONS:
                    found = conn.execute(EXTENSION_SCHEMA, (extension,)).fetchone()
                    if found is None:
                        create = sql.SQL("CREATE EXTENSION IF NOT EXISTS {} SCHEMA public")
                        conn.execute(create.format(sql.Identifier(extension)))
                        found = conn.execute(EXTENSION_SCHEMA, (extension,)).fetchone()
                    assert found is not None
                    schemas.append(str(found[0]))
            self._extension_schemas = (schemas[0], schemas[1])
        return self._extension_schemas

    def unit_of_work(self) -> AbstractContextManager[PostgresCatalogSearchUnit]:
        """A unit whose writes and position commit in one transaction."""
        return self.batch(PostgresCatalogSearchUnit)

    def search(self, query: SearchQuery) -> SearchResult:
        """One page of matches with total and facets, read from one snapshot.

        ViewIncomplete if that snapshot's version is not complete (projections.completeness).
        """
        hits_sql, facets_sql, params = search_statements(query, *self.extension_schemas())

        def read(conn: psycopg.Connection[Any]) -> SearchResult:
            self.require_complete(conn)
            rows = conn.execute(hits_sql, params).fetchall()
            groups = conn.execute(facets_sql, params).fetchall()
            return _result(tuple(_hit(*row) for row in rows), groups)

        return self.run(read, SEARCH_SETTINGS, SNAPSHOT)


def _hit(*row: Any) -> SearchHit:
    """A hit from a row of HITS: its columns in SearchHit's order, the gallery fields last."""
    product, title, price, currency, category, seller, name, units, listed_at, fields = row
    images = gallery(fields)
    return SearchHit(
        product, title, price, currency, category, seller, name, units, listed_at, images
    )


def _result(hits: tuple[SearchHit, ...], groups: list[tuple[Any, ...]]) -> SearchResult:
    categories: dict[str, int] = {}
    sellers: dict[str, int] = {}
    prices: dict[str, int] = {}
    total = 0
    for grouping, category, seller_id, bucket, count in groups:
        if grouping == GROUPED_BY_CATEGORY:
            categories[category] = count
        elif grouping == GROUPED_BY_SELLER:
            sellers[seller_id] = count
        elif grouping == GROUPED_BY_BUCKET:
            prices[PRICE_BUCKETS[bucket].key] = count
        elif grouping == GROUPED_BY_NOTHING:
            total = count
    return SearchResult(hits=hits, total=total, facets=counted_facets(categories, sellers, prices))
