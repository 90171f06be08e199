"""SQL for answering a SearchQuery from the PostgreSQL catalog-search tables.

Each query word is one condition: the word is a lexeme of the weighted tsvector (title A,
description B), or - for words of MIN_FUZZY_LENGTH letters or more - a title lexeme with the
same first letter is within the typos the contract forgives (fuzzystrmatch's Levenshtein
distance to the word, or to the word with two neighbours swapped plus one typo fewer). Both
GIN indexes narrow the rows first: the tsvector's for the exact word, the title's trigrams
(word_similarity of at least WORD_SIMILARITY, which every forgiven typo keeps) for the rest.
Relevance is ts_rank per word (exact words only, title above description) plus the trigram
similarity of the whole query to the title (1 for a title that is the query itself).
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from projections.catalog_search.search import (
    MIN_FUZZY_LENGTH,
    MIN_TWO_TYPO_LENGTH,
    PRICE_BUCKETS,
    SearchQuery,
    Sort,
)

TS_CONFIG = "simple"
WORD_SIMILARITY = 0.12
"""The pg_trgm.word_similarity_threshold of the trigram prefilter: the worst forgiven typos (a
swap and a dropped letter in a seven-letter word) leave 1 of the word's 8 trigrams."""

TYPO = """
EXISTS (
    SELECT 1 FROM unnest(p.document) AS d, unnest(%(f{n})s::text[], %(e{n})s::int[]) AS f(form, k)
    WHERE 'A' = ANY(d.weights) AND left(d.lexeme, 1) = left(f.form, 1)
        AND {fuzzy}.levenshtein_less_equal(d.lexeme, f.form, f.k) <= f.k
)
"""
"""Whether a title lexeme is within f.k edits of one of the word's forms."""

MATCHED = """
SELECT p.id, p.title, p.price_minor, p.currency, p.category, p.seller_id,
       s.name AS seller_name, coalesce(st.available, 0) AS units_available, p.listed_at,
       p.gallery, {rank} AS rank
FROM catalog_search_products p
LEFT JOIN catalog_search_sellers s ON s.seller_id = p.seller_id
LEFT JOIN catalog_search_stock st ON st.stock_id = p.stock_id
WHERE {where}
"""

HITS = """
WITH matched AS ({matched})
SELECT id, title, price_minor, currency, category, seller_id, seller_name, units_available,
       listed_at, gallery
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
    query: SearchQuery, trgm_schema: str, fuzzy_schema: str
) -> tuple[sql.Composed, sql.Composed, dict[str, Any]]:
    """The hits statement, the facets statement and their shared parameters.

    trgm_schema and fuzzy_schema hold the pg_trgm and fuzzystrmatch extensions.
    """
    params: dict[str, Any] = {
        "limit": query.limit,
        "offset": query.offset,
        "text": " ".join(query.words),
    }
    trgm = sql.Identifier(trgm_schema)
    where: list[sql.Composable] = [sql.SQL("NOT p.delisted")]
    ranks = []
    for n, word in enumerate(query.words):
        params[f"w{n}"] = word
        number = sql.SQL(str(n))
        tsquery = sql.SQL("plainto_tsquery({}, %(w{})s)").format(sql.Literal(TS_CONFIG), number)
        ranks.append(sql.SQL("ts_rank(p.document, {})").format(tsquery))
        condition: sql.Composable = sql.SQL("p.document @@ {}").format(tsquery)
        forms = typo_forms(word)
        if forms:
            params[f"f{n}"], params[f"e{n}"] = list(forms), list(forms.values())
            similar = sql.SQL("%(w{})s OPERATOR({}.<%%) p.title").format(number, trgm)
            typo = sql.SQL(TYPO).format(n=number, fuzzy=sql.Identifier(fuzzy_schema))
            condition = sql.SQL("({} OR ({} AND {}))").format(condition, similar, typo)
        where.append(condition)
    where.extend(_filters(query, params))
    rank: sql.Composable = sql.SQL("0")
    if ranks:
        similarity = sql.SQL("{}.similarity(%(text)s, p.title)").format(trgm)
        rank = sql.SQL(" + ").join([*ranks, similarity])
    matched = sql.SQL(MATCHED).format(rank=rank, where=sql.SQL(" AND ").join(where))
    order = RANKED if query.ranked else ORDERS.get(query.sort, ORDERS[Sort.NEWEST])
    hits = sql.SQL(HITS).format(matched=matched, order=sql.SQL(order))
    facets = sql.SQL(FACETS).format(matched=matched, bucket=_bucket_case())
    return hits, facets, params


def typo_forms(word: str) -> dict[str, int]:
    """The forms a title word may be a few edits from to match word, and those edits.

    Empty for a word too short to forgive a typo; else the word with its allowed typos, and
    each swap of two neighbours (not the first letter) with one typo fewer.
    """
    if len(word) < MIN_FUZZY_LENGTH:
        return {}
    typos = 2 if len(word) >= MIN_TWO_TYPO_LENGTH else 1
    forms = {word: typos}
    for at in range(1, len(word) - 1):
        swapped = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        forms.setdefault(swapped, typos - 1)
    return forms


def _filters(query: SearchQuery, params: dict[str, Any]) -> list[sql.Composable]:
    filters: list[sql.Composable] = []
    for name, value, condition in (
        ("category", query.category, "p.category = %(category)s"),
        ("seller_id", query.seller_id, "p.seller_id = %(seller_id)s"),
        ("min_price", query.min_price_minor, "p.price_minor >= %(min_price)s"),
        ("max_price", query.max_price_minor, "p.price_minor <= %(max_price)s"),
    ):
        if value is not None:
            params[name] = value
            filters.append(sql.SQL(condition))
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
