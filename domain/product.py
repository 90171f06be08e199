"""Product: an item a seller lists, with its details and price."""

from __future__ import annotations

from uuid import UUID

from domain.base import Context, MarketplaceAggregate
from domain.errors import InvalidValue, RuleViolated
from domain.money import Money
from domain.text import bounded

MAX_ATTRIBUTES = 30


class Product(MarketplaceAggregate):
    """A listed product; once delisted it cannot change again."""

    class Listed(MarketplaceAggregate.Created):
        seller_id: UUID
        title: str
        description: str
        category: str
        attributes: dict[str, str]
        price_minor: int
        currency: str

    class DetailsUpdated(MarketplaceAggregate.Event):
        title: str
        description: str
        category: str
        attributes: dict[str, str]

        def apply(self, product: Product) -> None:
            product.title = self.title
            product.description = self.description
            product.category = self.category
            product.attributes = dict(self.attributes)

    class PriceChanged(MarketplaceAggregate.Event):
        price_minor: int
        currency: str

        def apply(self, product: Product) -> None:
            product.price = Money(self.price_minor, self.currency)

    class Delisted(MarketplaceAggregate.Event):
        reason: str

        def apply(self, product: Product) -> None:
            product.delisted = True

    def __init__(
        self,
        seller_id: UUID,
        title: str,
        description: str,
        category: str,
        attributes: dict[str, str],
        price_minor: int,
        currency: str,
    ) -> None:
        self.seller_id = seller_id
        self.title = title
        self.description = description
        self.category = category
        self.attributes = dict(attributes)
        self.price = Money(price_minor, currency)
        self.delisted = False

    @classmethod
    def list(
        cls,
        product_id: UUID,
        seller_id: UUID,
        title: str,
        description: str,
        category: str,
        attributes: dict[str, str],
        price: Money,
        ctx: Context,
    ) -> Product:
        """List a new product for a seller at a positive price."""
        _require_positive(price)
        return cls._start(
            cls.Listed,
            product_id,
            ctx,
            seller_id=seller_id,
            price_minor=price.minor,
            currency=price.currency,
            **_details(title, description, category, attributes),
        )

    def update_details(
        self, title: str, description: str, category: str, attributes: dict[str, str], ctx: Context
    ) -> None:
        """Replace the product's descriptive details."""
        self._require_listed()
        self._emit(self.DetailsUpdated, ctx, **_details(title, description, category, attributes))

    def change_price(self, price: Money, ctx: Context) -> None:
        """Set a new positive price; the same price changes nothing."""
        self._require_listed()
        _require_positive(price)
        if price != self.price:
            self._emit(self.PriceChanged, ctx, price_minor=price.minor, currency=price.currency)

    def delist(self, reason: str, ctx: Context) -> None:
        """Take the product off sale; delisting twice changes nothing."""
        if not self.delisted:
            self._emit(self.Delisted, ctx, reason=bounded("reason", reason, 500, allow_empty=True))

    def _require_listed(self) -> None:
        if self.delisted:
            raise RuleViolated("product is delisted")


def _require_positive(price: Money) -> None:
    if price.minor <= 0:
        raise InvalidValue("price must be positive")


def _details(
    title: str, description: str, category: str, attributes: dict[str, str]
) -> dict[str, object]:
    if len(attributes) > MAX_ATTRIBUTES:
        raise InvalidValue(f"a product has at most {MAX_ATTRIBUTES} attributes")
    return {
        "title": bounded("title", title, 200),
        "description": bounded("description", description, 5000, allow_empty=True, multiline=True),
        "category": bounded("category", category, 80),
        "attributes": {
            bounded("attribute name", k, 50): bounded("attribute value", v, 200)
            for k, v in attributes.items()
        },
    }
