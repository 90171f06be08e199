"""Strict request bodies: unknown fields are refused and every size is bounded."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints

ADMINS_ONLY = "admins only; defaults to the caller"


def text(min_length: int, max_length: int) -> StringConstraints:
    """A strict string constraint with surrounding blanks removed."""
    return StringConstraints(
        strict=True, strip_whitespace=True, min_length=min_length, max_length=max_length
    )


Name = Annotated[str, text(1, 120)]
Email = Annotated[
    str,
    StringConstraints(
        strict=True,
        strip_whitespace=True,
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    ),
]
Title = Annotated[str, text(1, 200)]
Description = Annotated[str, StringConstraints(strict=True, max_length=5000)]
Category = Annotated[str, text(1, 80)]
Reason = Annotated[str, text(1, 500)]
Currency = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Z]{3}$")]
AttributeName = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=50)]
AttributeValue = Annotated[str, StringConstraints(strict=True, min_length=1, max_length=200)]
AddressLine = Annotated[str, text(1, 200)]
OptionalAddressLine = Annotated[str, StringConstraints(strict=True, max_length=200)]
City = Annotated[str, text(1, 100)]
PostalCode = Annotated[str, text(1, 20)]
Country = Annotated[
    str,
    StringConstraints(strict=True, pattern=r"^[A-Z]{2}$"),
    Field(description="ISO 3166-1 alpha-2 code, upper case"),
]
PriceMinor = Annotated[
    int, Strict(), Field(gt=0, le=10**12, description="price in minor units (cents)")
]


class Body(BaseModel):
    """Base of every request body: no unknown fields; numbers and strings are never coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterSeller(Body):
    name: Name
    email: Email
    seller_id: UUID | None = Field(default=None, description=ADMINS_ONLY)


class UpdateSellerProfile(Body):
    name: Name
    email: Email


class SuspendSeller(Body):
    reason: Reason


class RegisterCustomer(Body):
    name: Name
    email: Email
    customer_id: UUID | None = Field(default=None, description=ADMINS_ONLY)


class AddAddress(Body):
    line1: AddressLine
    line2: OptionalAddressLine = ""
    city: City
    postal_code: PostalCode
    country: Country


class SellerAddress(Body):
    name: Name
    line1: AddressLine
    line2: OptionalAddressLine = ""
    city: City
    postal_code: PostalCode
    country: Country


class Price(Body):
    amount_minor: PriceMinor
    currency: Currency


class ListProduct(Body):
    title: Title
    description: Description = ""
    category: Category
    attributes: dict[AttributeName, AttributeValue] = Field(default_factory=dict, max_length=30)
    price: Price
    seller_id: UUID | None = Field(default=None, description=ADMINS_ONLY)


class UpdateProduct(Body):
    title: Title
    description: Description = ""
    category: Category
    attributes: dict[AttributeName, AttributeValue] = Field(default_factory=dict, max_length=30)


class Delist(Body):
    reason: Annotated[str, StringConstraints(strict=True, max_length=500)] = ""


class ReceiveStock(Body):
    quantity: Annotated[int, Strict(), Field(ge=1, le=1_000_000)]


class PurchaseLimit(Body):
    limit: Annotated[int, Strict(), Field(ge=1, le=10_000)] | None = Field(
        description="units one buyer may hold or buy; null lifts the cap"
    )


class AdjustStock(Body):
    delta: Annotated[int, Strict(), Field(ge=-1_000_000, le=1_000_000)]
    reason: Reason


class AddCartItem(Body):
    product_id: UUID
    quantity: Annotated[int, Strict(), Field(ge=1, le=99)]


class ChangeCartQuantity(Body):
    quantity: Annotated[int, Strict(), Field(ge=1, le=99)]


class Checkout(Body):
    address_id: UUID = Field(description="one of the customer's delivery addresses")


class CancelOrder(Body):
    reason: Reason


class SellerPart(Body):
    seller_id: UUID | None = Field(
        default=None,
        description="the seller whose part shipped or arrived; defaults to the caller, "
        "and an admin must give it",
    )
