"""Seller: a business that lists products and stock on the marketplace."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from domain.address import checked_address
from domain.base import Context, MarketplaceAggregate
from domain.errors import InvalidValue, RuleViolated
from domain.text import bounded


class Seller(MarketplaceAggregate):
    """A registered seller; a suspended seller can no longer list or restock."""

    class Registered(MarketplaceAggregate.Created):
        name: str
        email: str

    class ProfileUpdated(MarketplaceAggregate.Event):
        name: str
        email: str

        def apply(self, seller: Seller) -> None:
            seller.name = self.name
            seller.email = self.email

    class AddressSet(MarketplaceAggregate.Event):
        address: dict[str, str]

        def apply(self, seller: Seller) -> None:
            seller.address = dict(self.address)

    class Suspended(MarketplaceAggregate.Event):
        reason: str

        def apply(self, seller: Seller) -> None:
            seller.suspended = True

    def __init__(self, name: str, email: str) -> None:
        self.name = name
        self.email = email
        self.suspended = False
        self.address: dict[str, str] | None = None

    @classmethod
    def register(cls, seller_id: UUID, name: str, email: str, ctx: Context) -> Seller:
        """Register a new seller under the given id."""
        return cls._start(
            cls.Registered, seller_id, ctx, name=bounded("name", name, 120), email=_email(email)
        )

    def update_profile(self, name: str, email: str, ctx: Context) -> None:
        """Change the seller's display name and contact email."""
        self._require_active()
        self._emit(self.ProfileUpdated, ctx, name=bounded("name", name, 120), email=_email(email))

    def set_address(self, address: Mapping[str, str], ctx: Context) -> None:
        """Set the address the seller ships from; setting the same address changes nothing."""
        self._require_active()
        checked = checked_address(address)
        if checked != self.address:
            self._emit(self.AddressSet, ctx, address=checked)

    def suspend(self, reason: str, ctx: Context) -> None:
        """Suspend the seller; suspending twice changes nothing."""
        if not self.suspended:
            self._emit(self.Suspended, ctx, reason=bounded("reason", reason, 500))

    def _require_active(self) -> None:
        if self.suspended:
            raise RuleViolated("seller is suspended")


def _email(value: str) -> str:
    value = bounded("email", value, 254)
    local, _, domain = value.partition("@")
    if not local or "." not in domain or " " in value:
        raise InvalidValue("email is not a valid address")
    return value
