"""The OpenSearch request body for a SearchQuery, and the SearchResult read from its answer.

Words match with multi_match (every word required, typos forgiven as FUZZINESS and
PREFIX_LENGTH say) over the title (boost 3), the description and their copy in search_text,
so the words of one query may be spread over both fields. Two optional clauses only rank:
the words as typed (an exact word outranks a forgiven typo or plural) and the words as a
phrase of the title. Facets are terms and range aggregations over the same filtered set.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from projections.catalog_search.search import (
    FACET_SIZE,
    MIN_FUZZY_LENGTH,
    MIN_TWO_TYPO_LENGTH,
    PRICE_BUCKETS,
    SearchHit,
    SearchQuery,
    SearchResult,
    Sort,
    counted_facets,
)
from projections.product_detail.projection import gallery

TITLE_BOOST = 3
FUZZINESS = f"AUTO:{MIN_FUZZY_LENGTH},{MIN_TWO_TYPO_LENGTH}"
"""No typo forgiven below MIN_FUZZY_LENGTH letters, one up to MIN_TWO_TYPO_LENGTH, then two."""
PREFIX_LENGTH = 1
"""A forgiven typo never touches a word's first letter (no "pruning" for "running")."""
HIT_FIELDS = [
    "id",
    "title",
    "price_minor",
    "currency",
    "category",
    "seller_id",
    "seller_name",
    "units_available",
    "listed_at",
    "gallery",
]
ORDERS: dict[Sort, list[Any]] = {
    Sort.PRICE_ASC: [{"price_minor": {"order": "asc"}}, {"id": {"order": "asc"}}],
    Sort.PRICE_DESC: [{"price_minor": {"order": "desc"}}, {"id": {"order": "asc"}}],
    Sort.NEWEST: [{"listed_at": {"order": "desc"}}, {"id": {"order": "asc"}}],
}
RANKED: list[Any] = [{"_score": {"order": "desc"}}, {"id": {"order": "asc"}}]


def search_body(query: SearchQuery) -> dict[str, Any]:
    """The body of the _search request that answers query."""
    must: list[Any] = [{"match_all": {}}]
    should: list[Any] = []
    if query.words:
        text = " ".join(query.words)
        fields = [f"title^{TITLE_BOOST}", "description", "search_text"]
        must = [
            {
                "multi_match": {
                    "query": text,
                    "fields": fields,
                    "type": "best_fields",
                    "operator": "and",
                    "fuzziness": FUZZINESS,
                    "prefix_length": PREFIX_LENGTH,
                }
            }
        ]
        should = [
            {"multi_match": {"query": text, "fields": fields}},
            {"match_phrase": {"title": {"query": text, "boost": TITLE_BOOST}}},
        ]
    return {
        "query": {"bool": {"must": must, "should": should, "filter": _filters(query)}},
        "sort": RANKED if query.ranked else ORDERS.get(query.sort, ORDERS[Sort.NEWEST]),
        "from": query.offset,
        "size": query.limit,
        "track_total_hits": True,
        "_source": HIT_FIELDS,
        "aggs": {
            "categories": {"terms": {"field": "category", "size": FACET_SIZE}},
            "sellers": {"terms": {"field": "seller_id", "size": FACET_SIZE}},
            "prices": {"range": {"field": "price_minor", "ranges": _price_ranges()}},
        },
    }


def search_result(response: dict[str, Any]) -> SearchResult:
    """The SearchResult of a _search response to search_body."""
    hits = tuple(_hit(item["_source"]) for item in response["hits"]["hits"])
    aggs = response["aggregations"]
    facets = counted_facets(
        _counts(aggs["categories"]), _counts(aggs["sellers"]), _counts(aggs["prices"])
    )
    return SearchResult(hits=hits, total=int(response["hits"]["total"]["value"]), facets=facets)


def _filters(query: SearchQuery) -> list[Any]:
    filters: list[Any] = [
        {"term": {"kind": "product"}},
        {"term": {"listed": True}},
        {"term": {"delisted": False}},
    ]
    if query.category is not None:
        filters.append({"term": {"category": query.category}})
    if query.seller_id is not None:
        filters.append({"term": {"seller_id": str(query.seller_id)}})
    price: dict[str, int] = {}
    if query.min_price_minor is not None:
        price["gte"] = query.min_price_minor
    if query.max_price_minor is not None:
        price["lte"] = query.max_price_minor
    if price:
        filters.append({"range": {"price_minor": price}})
    if query.in_stock:
        filters.append({"range": {"units_available": {"gt": 0}}})
    return filters


def _price_ranges() -> list[dict[str, Any]]:
    ranges = []
    for bucket in PRICE_BUCKETS:
        bounds: dict[str, Any] = {"key": bucket.key}
        if bucket.low is not None:
            bounds["from"] = bucket.low
        if bucket.high is not None:
            bounds["to"] = bucket.high
        ranges.append(bounds)
    return ranges


def _counts(aggregation: dict[str, Any]) -> dict[str, int]:
    return {str(b["key"]): int(b["doc_count"]) for b in aggregation["buckets"]}


def _hit(source: dict[str, Any]) -> SearchHit:
    return SearchHit(
        id=UUID(source["id"]),
        title=source["title"],
        price_minor=int(source["price_minor"]),
        currency=source["currency"],
        category=source["category"],
        seller_id=UUID(source["seller_id"]),
        seller_name=source.get("seller_name"),
        units_available=int(source["units_available"]),
        listed_at=datetime.fromisoformat(source["listed_at"]),
        images=gallery(source.get("gallery") or {}),
    )
