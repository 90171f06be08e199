"""The shapes of the query API's answers, for OpenAPI (the bodies are built with orjson)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from infra.auth import Role


class Answer(BaseModel):
    """Base of every answer's shape: the fields it lists and no others."""

    model_config = ConfigDict(extra="forbid")


class Price(Answer):
    """An amount in the currency's minor unit."""

    amount_minor: int
    currency: str


class SellerName(Answer):
    """Who sells a product."""

    id: UUID
    name: str | None


class ImageVariant(Answer):
    """One rendered size of an image: its pixels and the URL of each format."""

    width: int
    height: int
    webp: str
    """The WebP rendition's path on this API (`/images/<sha256>.webp`), cacheable for ever."""
    jpeg: str
    """The JPEG rendition, for clients without WebP."""


class ProductImage(Answer):
    """One of a product's images: `processing` until its variants are rendered (show none of
    them yet), `ready`, or `failed` (the original could not be rendered)."""

    id: UUID
    status: Literal["processing", "ready", "failed"]
    variants: dict[Literal["thumbnail", "card", "zoom"], ImageVariant]
    """The variants rendered so far: thumbnail (200 px), card (600 px), zoom (1600 px)."""


class ProductDetail(Answer):
    """A product as shoppers see it, with its seller's name and the units on sale."""

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
    images: list[ProductImage]
    """The product's images in display order."""
    version: int


class Me(Answer):
    """The caller a bearer token names."""

    sub: UUID
    role: Role


class FacetCount(Answer):
    """How many matches share one value."""

    key: str
    count: int


class SearchFacets(Answer):
    """Counts over the whole match set, not just the page."""

    categories: list[FacetCount]
    sellers: list[FacetCount]
    prices: list[FacetCount]


class SearchHit(Answer):
    """One product found."""

    id: UUID
    title: str
    category: str
    price: Price
    seller: SellerName
    units_available: int
    listed_at: str
    images: list[ProductImage]
    """The product's images in display order, as product detail shows them."""


class SearchPage(Answer):
    """One page of matches, how many match in all, and the facets."""

    total: int
    page: int
    page_size: int
    hits: list[SearchHit]
    facets: SearchFacets


class CartLine(Answer):
    """A product in a cart, priced from the product view.

    A line whose product is missing from the view or delisted is `unavailable` (with the
    reason), has no line total and counts toward no total.
    """

    product_id: UUID
    quantity: int
    title: str | None
    unit_price: Price | None
    line_total: Price | None
    unavailable: bool
    reason: str | None


class Cart(Answer):
    """A shopper's cart: its lines and a total per currency of the lines on sale."""

    id: UUID
    shopper_id: UUID
    version: int
    lines: list[CartLine]
    totals: list[Price]
