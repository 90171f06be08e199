"""Customers context: shoppers' profiles and addresses."""

from __future__ import annotations

from typing import Protocol, runtime_checkable
from uuid import UUID

from commands.access import require_owner
from commands.base import ContextApplication, Outcome
from domain.base import Context
from domain.customer import Customer
from domain.errors import RuleViolated


@runtime_checkable
class Shredder(Protocol):
    """The event store's mapper when it seals personal data: it can erase a person's key."""

    def erase(self, person: str) -> None:
        """Delete the person's data key for good."""

    def forget(self, person: str) -> None:
        """Drop any copy of the person's key held in this process."""


class CustomersApplication(ContextApplication):
    """Registers customers and records their addresses."""

    name = "customers"

    def register_customer(self, customer_id: UUID, name: str, email: str, ctx: Context) -> Outcome:
        """Register the acting shopper as a customer."""
        require_owner(ctx, customer_id)
        return self.create(Customer.register(customer_id, name, email, ctx))

    def add_address(
        self,
        customer_id: UUID,
        address_id: UUID,
        address: dict[str, str],
        ctx: Context,
        expected_version: int | None,
    ) -> Outcome:
        """Add a delivery address to a customer."""
        require_owner(ctx, customer_id)
        return self.change(
            customer_id,
            Customer,
            lambda c: c.add_address(address_id, ctx=ctx, **address),
            expected_version,
        )

    def erase(self, customer_id: UUID, ctx: Context) -> Outcome:
        """Delete the customer's data key, then record the erasure; erasing twice is harmless.

        The key goes first: if the append then fails, a retry finds the key gone and appends.
        """
        require_owner(ctx, customer_id)
        self.load(customer_id, Customer)
        mapper = self.mapper
        if not isinstance(mapper, Shredder):
            raise RuleViolated("this event store keeps no personal-data keys: nothing to erase")
        mapper.erase(str(customer_id))
        return self.change(customer_id, Customer, lambda c: c.erase(ctx))
