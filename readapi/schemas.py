"""The shapes of the query API's answers, for OpenAPI (the bodies are built with orjson)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from infra.auth import Role


class Price(BaseModel):
    """An amount in the currency's minor unit."""

    model_config = ConfigDict(extra="forbid")

    amount_minor: int
    currency: str


class SellerName(BaseModel):
    """Who sells a product."""

    model_config = ConfigDict(extra="forbid")

    id: UUID
    name: str | None


class ProductDetail(BaseModel):
    """A product as shoppers see it, with its seller's name and the units on sale."""

    model_config = ConfigDict(extra="forbid")

    id: UUID
    title: str
    description: str
    category: str
    attributes: dict[str, Any]
    price: Price
    seller: SellerName
    units_available: int
    delisted: bool
    listed_at: str
    version: int


class Me(BaseModel):
    """The caller a bearer token names."""

    model_config = ConfigDict(extra="forbid")

    sub: UUID
    role: Role


class FacetCount(BaseModel):
    """How many matches share one value."""

    model_config = ConfigDict(extra="forbid")

    key: str
    count: int


class SearchFacets(BaseModel):
    """Counts over the whole match set, not just the page."""

    model_config = ConfigDict(extra="forbid")

    categories: list[FacetCount]
    sellers: list[FacetCount]
    prices: list[FacetCount]


class SearchHit(BaseModel):
    """One product found."""

    model_config = ConfigDict(extra="forbid")

    id: UUID
    title: str
    category: str
    price: Price
    seller: SellerName
    units_available: int
    listed_at: str


class SearchPage(BaseModel):
    """One page of matches, how many match in all, and the facets."""

    model_config = ConfigDict(extra="forbid")

    total: int
    page: int
    page_size: int
    hits: list[SearchHit]
    facets: SearchFacets


class CartLine(BaseModel):
    """A product in a cart, priced from the product view.

    A line whose product is missing from the view or delisted is `unavailable` (with the
    reason), has no line total and counts toward no total.
    """

    model_config = ConfigDict(extra="forbid")

    product_id: UUID
    quantity: int
    title: str | None
    unit_price: Price | None
    line_total: Price | None
    unavailable: bool
    reason: str | None


class Cart(BaseModel):
    """A shopper's cart: its lines and a total per currency of the lines on sale."""

    model_config = ConfigDict(extra="forbid")

    id: UUID
    shopper_id: UUID
    version: int
    lines: list[CartLine]
    totals: list[Price]
