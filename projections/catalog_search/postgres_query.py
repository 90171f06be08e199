"""SQL for answering a SearchQuery from the PostgreSQL catalog-search tables.

Each query word is one condition that GIN indexes can answer: the word is a lexeme of the
weighted tsvector (title A, description B), or - for words of MIN_FUZZY_LENGTH letters or
more - its pg_trgm word_similarity to the title reaches WORD_SIMILARITY (one typo in a word of
four or more letters stays above it). Relevance is ts_rank per word plus that similarity.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from projections.catalog_search.search import (
    MIN_FUZZY_LENGTH,
    PRICE_BUCKETS,
    SearchQuery,
    Sort,
)

TS_CONFIG = "simple"
WORD_SIMILARITY = 0.4
"""The pg_trgm.word_similarity_threshold a title must reach for a word to match by trigrams."""

MATCHED = """
SELECT p.id, p.title, p.price_minor, p.currency, p.category, p.seller_id,
       s.name AS seller_name, coalesce(st.available, 0) AS units_available, p.listed_at,
       {rank} AS rank
FROM catalog_search_products p
LEFT JOIN catalog_search_sellers s ON s.seller_id = p.seller_id
LEFT JOIN catalog_search_stock st ON st.stock_id = p.stock_id
WHERE {where}
"""

HITS = """
WITH matched AS ({matched})
SELECT id, title, price_minor, currency, category, seller_id, seller_name, units_available,
       listed_at
FROM matched ORDER BY {order} LIMIT %(limit)s OFFSET %(offset)s
"""

FACETS = """
WITH matched AS ({matched})
SELECT GROUPING(category, seller_id, bucket) AS grouping, category, seller_id::text, bucket,
       count(*)
FROM (SELECT category, seller_id, {bucket} AS bucket FROM matched) m
GROUP BY GROUPING SETS ((category), (seller_id), (bucket), ())
"""

ORDERS = {
    Sort.PRICE_ASC: "price_minor ASC, id ASC",
    Sort.PRICE_DESC: "price_minor DESC, id ASC",
    Sort.NEWEST: "listed_at DESC, id ASC",
}
RANKED = "rank DESC, id ASC"

GROUPED_BY_CATEGORY, GROUPED_BY_SELLER, GROUPED_BY_BUCKET, GROUPED_BY_NOTHING = 3, 5, 6, 7
"""GROUPING(category, seller_id, bucket) of each grouping set (a 1 bit: not grouped by it)."""


def search_statements(
    query: SearchQuery, trgm_schema: str
) -> tuple[sql.Composed, sql.Composed, dict[str, Any]]:
    """The hits statement, the facets statement and their shared parameters."""
    params: dict[str, Any] = {
        "limit": query.limit,
        "offset": query.offset,
        "text": " ".join(query.words),
    }
    trgm = sql.Identifier(trgm_schema)
    config = sql.Literal(TS_CONFIG)
    where: list[sql.Composable] = [sql.SQL("NOT p.delisted")]
    ranks = []
    for n, word in enumerate(query.words):
        params[f"w{n}"] = word
        lexeme = sql.SQL("p.document @@ plainto_tsquery({config}, %(w{n})s)").format(
            config=config, n=sql.SQL(str(n))
        )
        ranks.append(
            sql.SQL("ts_rank(p.document, plainto_tsquery({config}, %(w{n})s))").format(
                config=config, n=sql.SQL(str(n))
            )
        )
        if len(word) >= MIN_FUZZY_LENGTH:
            similar = sql.SQL("%(w{n})s OPERATOR({trgm}.<%%) p.title").format(
                n=sql.SQL(str(n)), trgm=trgm
            )
            lexeme = sql.SQL("({} OR {})").format(lexeme, similar)
        where.append(lexeme)
    where.extend(_filters(query, params))
    rank: sql.Composable = sql.SQL("0")
    if ranks:
        similarity = sql.SQL("{trgm}.word_similarity(%(text)s, p.title)").format(trgm=trgm)
        rank = sql.SQL(" + ").join([*ranks, similarity])
    matched = sql.SQL(MATCHED).format(rank=rank, where=sql.SQL(" AND ").join(where))
    order = RANKED if query.ranked else ORDERS.get(query.sort, ORDERS[Sort.NEWEST])
    hits = sql.SQL(HITS).format(matched=matched, order=sql.SQL(order))
    facets = sql.SQL(FACETS).format(matched=matched, bucket=_bucket_case())
    return hits, facets, params


def _filters(query: SearchQuery, params: dict[str, Any]) -> list[sql.Composable]:
    filters: list[sql.Composable] = []
    if query.category is not None:
        params["category"] = query.category
        filters.append(sql.SQL("p.category = %(category)s"))
    if query.seller_id is not None:
        params["seller_id"] = query.seller_id
        filters.append(sql.SQL("p.seller_id = %(seller_id)s"))
    if query.min_price_minor is not None:
        params["min_price"] = query.min_price_minor
        filters.append(sql.SQL("p.price_minor >= %(min_price)s"))
    if query.max_price_minor is not None:
        params["max_price"] = query.max_price_minor
        filters.append(sql.SQL("p.price_minor <= %(max_price)s"))
    if query.in_stock:
        filters.append(sql.SQL("coalesce(st.available, 0) > 0"))
    return filters


def _bucket_case() -> sql.Composable:
    """CASE mapping price_minor to the index of its bucket in PRICE_BUCKETS."""
    whens = [
        sql.SQL("WHEN price_minor < {high} THEN {n}").format(
            high=sql.Literal(bucket.high), n=sql.Literal(n)
        )
        for n, bucket in enumerate(PRICE_BUCKETS)
        if bucket.high is not None
    ]
    last = sql.Literal(len(PRICE_BUCKETS) - 1)
    return sql.SQL("CASE {} ELSE {} END").format(sql.SQL(" ").join(whens), last)
