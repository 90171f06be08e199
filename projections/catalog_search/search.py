"""The catalog-search contract: the query a reader may ask, the answer every backend gives.

Matching: every word of the query must occur in the title or description, or be a typo
away from a word of the title: one typo (a letter added, dropped, changed, or two neighbours
swapped) in a word of MIN_FUZZY_LENGTH letters or more, two in a word of MIN_TWO_TYPO_LENGTH or
more, never in the first letter. A plural or singular with one letter more or less is such a
typo ("shoe" finds "shoes"); a word sharing only its first letters is not ("shoe" never
finds "shampoo", "shirt" or "shears"). A backend may forgive more (OpenSearch also forgives
typos in descriptions, and two swaps in a long word), never less. Relevance ranks exact
words above forgiven ones, the title above the description, and a title that is the query
itself above a longer one. Delisted products are never found. Facets count
the whole filtered match set, not just the page. Prices are in minor units, filters include
both bounds, and the price buckets assume a currency with two decimals (1000 = 10.00).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID

MAX_PAGE_SIZE = 100
MAX_WINDOW = 10_000
"""offset + limit may not pass this (OpenSearch's default index.max_result_window)."""
MAX_TEXT_LENGTH = 200
MAX_WORDS = 10
MAX_CATEGORY_LENGTH = 80
MAX_PRICE_MINOR = 10**12
MIN_FUZZY_LENGTH = 4
MIN_TWO_TYPO_LENGTH = 7
FACET_SIZE = 50
"""At most this many categories and sellers are counted, largest first, then by key."""

WORD = re.compile(r"[^\W_]+")


class InvalidSearch(ValueError):
    """A search query outside the bounds the contract accepts."""


class Sort(StrEnum):
    """Result orders; ties are broken by product id so pages never overlap.

    RELEVANCE without any words orders as NEWEST (listed_at, latest first).
    """

    RELEVANCE = "relevance"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"
    NEWEST = "newest"


@dataclass(frozen=True)
class PriceBucket:
    """A fixed price range [low, high) in minor units; None leaves that side open."""

    key: str
    low: int | None
    high: int | None


PRICE_BUCKETS: tuple[PriceBucket, ...] = (
    PriceBucket("<10", None, 10_00),
    PriceBucket("10-50", 10_00, 50_00),
    PriceBucket("50-100", 50_00, 100_00),
    PriceBucket("100-500", 100_00, 500_00),
    PriceBucket(">=500", 500_00, None),
)


@dataclass(frozen=True)
class SearchQuery:
    """What a shopper asks for; out-of-bounds values raise InvalidSearch on construction."""

    text: str = ""
    category: str | None = None
    seller_id: UUID | None = None
    min_price_minor: int | None = None
    max_price_minor: int | None = None
    in_stock: bool = False
    sort: Sort = Sort.RELEVANCE
    limit: int = 20
    offset: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or len(self.text) > MAX_TEXT_LENGTH:
            raise InvalidSearch(f"text must be a string of at most {MAX_TEXT_LENGTH} characters")
        if len(WORD.findall(self.text)) > MAX_WORDS:
            raise InvalidSearch(f"text may hold at most {MAX_WORDS} words")
        if self.category is not None and not 0 < len(self.category) <= MAX_CATEGORY_LENGTH:
            raise InvalidSearch(f"category must be 1 to {MAX_CATEGORY_LENGTH} characters")
        if self.seller_id is not None and not isinstance(self.seller_id, UUID):
            raise InvalidSearch("seller_id must be a UUID")
        for name in ("min_price_minor", "max_price_minor"):
            _require_int(name, getattr(self, name), 0, MAX_PRICE_MINOR, optional=True)
        low, high = self.min_price_minor, self.max_price_minor
        if low is not None and high is not None and low > high:
            raise InvalidSearch("min_price_minor must not exceed max_price_minor")
        if not isinstance(self.in_stock, bool):
            raise InvalidSearch("in_stock must be a boolean")
        try:
            object.__setattr__(self, "sort", Sort(self.sort))
        except ValueError:
            raise InvalidSearch(f"sort must be one of {[s.value for s in Sort]}") from None
        _require_int("limit", self.limit, 1, MAX_PAGE_SIZE)
        _require_int("offset", self.offset, 0, MAX_WINDOW - self.limit)

    @property
    def words(self) -> tuple[str, ...]:
        """The query's distinct lower-case words (letters and digits), in order."""
        return tuple(dict.fromkeys(w.lower() for w in WORD.findall(self.text)))

    @property
    def ranked(self) -> bool:
        """Whether results are ordered by relevance (a relevance sort with some words)."""
        return self.sort is Sort.RELEVANCE and bool(self.words)


@dataclass(frozen=True)
class SearchHit:
    """One product found."""

    id: UUID
    title: str
    price_minor: int
    currency: str
    category: str
    seller_id: UUID
    seller_name: str | None
    units_available: int
    listed_at: datetime
    images: list[dict[str, Any]]
    """The product's images as product detail shows them, each processing, ready or failed
    (projections.product_detail.projection.gallery)."""


@dataclass(frozen=True)
class FacetBucket:
    """How many matching products share one value."""

    key: str
    count: int


@dataclass(frozen=True)
class Facets:
    """Counts over the whole match set: per category, per seller id, per price bucket."""

    categories: tuple[FacetBucket, ...]
    sellers: tuple[FacetBucket, ...]
    prices: tuple[FacetBucket, ...]


@dataclass(frozen=True)
class SearchResult:
    """One page of hits, the total number of matches, and the facets."""

    hits: tuple[SearchHit, ...]
    total: int
    facets: Facets


class CatalogSearch(Protocol):
    """Answers catalog searches from a view."""

    def search(self, query: SearchQuery) -> SearchResult:
        """The page of products matching query, with total and facets."""


def top_buckets(counts: dict[str, int]) -> tuple[FacetBucket, ...]:
    """The FACET_SIZE largest counts, largest first, ties by key (as OpenSearch terms order)."""
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(FacetBucket(key, count) for key, count in ordered[:FACET_SIZE] if count > 0)


def _require_int(name: str, value: object, low: int, high: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidSearch(f"{name} must be a whole number from {low} to {high}")


def counted_facets(
    categories: dict[str, int], sellers: dict[str, int], prices: dict[str, int]
) -> Facets:
    """The facets of the counts per category, per seller id and per price bucket key: the
    top buckets of the first two, and every price bucket in order (0 where none is counted)."""
    return Facets(
        categories=top_buckets(categories),
        sellers=top_buckets(sellers),
        prices=tuple(FacetBucket(b.key, prices.get(b.key, 0)) for b in PRICE_BUCKETS),
    )
