"""Strict request bodies: unknown fields are refused and every size is bounded."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    WithJsonSchema,
)

from domain.money import CURRENCY_CODES, MINOR_DIGITS

ADMINS_ONLY = "admins only; defaults to the caller"


CONTROL = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
"""Characters no single-line text may hold: C0 and C1 controls, line and paragraph separators."""
BLANK = r"\x20\xa0\u1680\u2000-\u200a\u202f\u205f\u3000"
"""The spaces a text may hold inside but not at either end."""
MULTILINE_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
"""Controls a multi-line text may not hold (tab, line feed and carriage return are allowed)."""
SINGLE_LINE = f"^[^{CONTROL}{BLANK}](?:[^{CONTROL}]*[^{CONTROL}{BLANK}])?$"
OPTIONAL_SINGLE_LINE = f"^(?:[^{CONTROL}{BLANK}](?:[^{CONTROL}]*[^{CONTROL}{BLANK}])?)?$"
EMAIL_PART = f"[^@{CONTROL}{BLANK}]+"


def _whole(value: object) -> object:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WHOLE = BeforeValidator(_whole)
"""Goes last on a strict, bounded int: a whole number as JSON Schema's `integer` allows it
(10 or 10.0), never a string or a bool."""


def text(min_length: int, max_length: int) -> StringConstraints:
    """A strict one-line string: no control characters, no blanks at either end.

    Nothing is trimmed, so the lengths checked are those the OpenAPI document states.
    """
    pattern = SINGLE_LINE if min_length else OPTIONAL_SINGLE_LINE
    return StringConstraints(
        strict=True, min_length=min_length, max_length=max_length, pattern=pattern
    )


Name = Annotated[str, text(1, 120)]
Email = Annotated[
    str,
    StringConstraints(
        strict=True,
        min_length=3,
        max_length=254,
        pattern=f"^{EMAIL_PART}@{EMAIL_PART}\\.{EMAIL_PART}$",
    ),
]
Title = Annotated[str, text(1, 200)]
Description = Annotated[
    str,
    StringConstraints(strict=True, max_length=5000, pattern=f"^[^{MULTILINE_CONTROL}]*$"),
    Field(description="free text; may hold tabs and line breaks"),
]
Category = Annotated[str, text(1, 80)]
Reason = Annotated[str, text(1, 500)]


def _iso_currency(code: str) -> str:
    if code not in MINOR_DIGITS:
        raise ValueError(f"{code!r} is not an ISO 4217 currency with a minor unit")
    return code


Currency = Annotated[
    str,
    Strict(),
    AfterValidator(_iso_currency),
    WithJsonSchema(
        {
            "type": "string",
            "enum": list(CURRENCY_CODES),
            "description": "ISO 4217 code; amounts are in its minor unit (JPY 0, EUR 2, KWD 3)",
        }
    ),
]
AttributeName = Annotated[str, text(1, 50)]
AttributeValue = Annotated[str, text(1, 200)]
AddressLine = Annotated[str, text(1, 200)]
OptionalAddressLine = Annotated[str, text(0, 200)]
City = Annotated[str, text(1, 100)]
PostalCode = Annotated[str, text(1, 20)]
Country = Annotated[
    str,
    StringConstraints(strict=True, pattern=r"^[A-Z]{2}$"),
    Field(description="ISO 3166-1 alpha-2 code, upper case"),
]
Attributes = Annotated[
    dict[AttributeName, AttributeValue],
    Field(max_length=30),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": 30,
            "propertyNames": TypeAdapter(AttributeName).json_schema(),
            "additionalProperties": TypeAdapter(AttributeValue).json_schema(),
        }
    ),
]
"""Up to 30 named values; every name and value is a one-line text."""
PriceMinor = Annotated[
    int, Strict(), Field(gt=0, le=10**12, description="price in minor units (cents)"), WHOLE
]


class Body(BaseModel):
    """Base of every request body: no unknown fields; numbers and strings are never coerced."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(Body):
    """Base of a body naming someone and their email address."""

    name: Name
    email: Email


class RegisterSeller(Contact):
    seller_id: UUID | None = Field(default=None, description=ADMINS_ONLY)


class UpdateSellerProfile(Contact):
    pass


class SuspendSeller(Body):
    reason: Reason


class RegisterCustomer(Contact):
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


class ProductText(Body):
    """Base of a body describing a product: what shoppers read and search."""

    title: Title
    description: Description = ""
    category: Category
    attributes: Attributes = Field(default_factory=dict)


class ListProduct(ProductText):
    price: Price
    seller_id: UUID | None = Field(default=None, description=ADMINS_ONLY)


class UpdateProduct(ProductText):
    pass


class Delist(Body):
    reason: Annotated[str, text(0, 500)] = ""


class ReceiveStock(Body):
    quantity: Annotated[int, Strict(), Field(ge=1, le=1_000_000), WHOLE]


class PurchaseLimit(Body):
    limit: Annotated[int, Strict(), Field(ge=1, le=10_000), WHOLE] | None = Field(
        description="units one buyer may hold or buy; null lifts the cap"
    )


class AdjustStock(Body):
    delta: Annotated[int, Strict(), Field(ge=-1_000_000, le=1_000_000), WHOLE]
    reason: Reason


class AddCartItem(Body):
    product_id: UUID
    quantity: Annotated[int, Strict(), Field(ge=1, le=99), WHOLE]


class ChangeCartQuantity(Body):
    quantity: Annotated[int, Strict(), Field(ge=1, le=99), WHOLE]


class Checkout(Body):
    address_id: UUID = Field(description="one of the customer's delivery addresses")


class CancelOrder(Body):
    reason: Reason


class SellerPart(Body):
    seller_id: UUID | None = Field(
        default=None,
        description="the seller whose part shipped or arrived; defaults to the calling "
        "seller, or for an admin to the order's only seller (409 if it has several)",
    )


def _each_once(ids: list[UUID]) -> list[UUID]:
    if len(set(ids)) != len(ids):
        raise ValueError("name each image once")
    return ids


class ReorderImages(Body):
    image_ids: Annotated[
        list[UUID],
        Field(min_length=1, max_length=100, json_schema_extra={"uniqueItems": True}),
        AfterValidator(_each_once),
    ]
    """Every image of the product, each once, in the order to show them."""


class UploadedImage(Body):
    """What an upload's Idempotency-Key is checked against: the bytes' SHA-256."""

    content_hash: str
