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
