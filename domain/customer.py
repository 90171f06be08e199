"""Customer: a shopper's profile and delivery addresses, until their personal data is erased."""

from __future__ import annotations

from uuid import UUID

from domain.base import Context, MarketplaceAggregate
from domain.errors import InvalidValue, RuleViolated
from domain.text import bounded, iso_country

MAX_ADDRESSES = 10
ERASED = "erased"
"""What an erased customer's personal data reads as (domain.personal.ERASED)."""


class Customer(MarketplaceAggregate):
    """A registered customer with up to MAX_ADDRESSES addresses."""

    class Registered(MarketplaceAggregate.Created):
        name: str
        email: str

    class AddressAdded(MarketplaceAggregate.Event):
        address_id: UUID
        line1: str
        line2: str
        city: str
        postal_code: str
        country: str

        def apply(self, customer: Customer) -> None:
            customer.addresses[self.address_id] = {
                "line1": self.line1,
                "line2": self.line2,
                "city": self.city,
                "postal_code": self.postal_code,
                "country": self.country,
            }

    class Erased(MarketplaceAggregate.Event):
        """The customer's data key was deleted: their personal data reads ERASED everywhere.

        It holds no personal data itself; views that copied some remove it when it arrives.
        """

        def apply(self, customer: Customer) -> None:
            customer.erased = True
            customer.name = customer.email = ERASED
            for address in customer.addresses.values():
                address.update({key: ERASED for key in address if key != "country"})

    def __init__(self, name: str, email: str) -> None:
        self.name = name
        self.email = email
        self.addresses: dict[UUID, dict[str, str]] = {}
        self.erased = False

    @classmethod
    def register(cls, customer_id: UUID, name: str, email: str, ctx: Context) -> Customer:
        """Register a customer under the given id."""
        if "@" not in email:
            raise InvalidValue("email is not a valid address")
        return cls._start(
            cls.Registered,
            customer_id,
            ctx,
            name=bounded("name", name, 120),
            email=bounded("email", email, 254),
        )

    def add_address(
        self,
        address_id: UUID,
        line1: str,
        line2: str,
        city: str,
        postal_code: str,
        country: str,
        ctx: Context,
    ) -> None:
        """Add a delivery address; adding the same address id again changes nothing."""
        if address_id in self.addresses:
            return
        self._require_not_erased()
        if len(self.addresses) >= MAX_ADDRESSES:
            raise RuleViolated(f"a customer has at most {MAX_ADDRESSES} addresses")
        self._emit(
            self.AddressAdded,
            ctx,
            address_id=address_id,
            line1=bounded("line1", line1, 200),
            line2=bounded("line2", line2, 200, allow_empty=True),
            city=bounded("city", city, 100),
            postal_code=bounded("postal_code", postal_code, 20),
            country=iso_country(country),
        )

    def erase(self, ctx: Context) -> None:
        """Record that the customer's personal data is erased; erasing twice changes nothing.

        The caller deletes their data key first (the event store's business, not the domain's).
        """
        if not self.erased:
            self._emit(self.Erased, ctx)

    def _require_not_erased(self) -> None:
        if self.erased:
            raise RuleViolated("the customer's personal data is erased")
