"""Customers context: shoppers' profiles and addresses."""

from __future__ import annotations

from uuid import UUID

from commands.access import require_owner
from commands.base import ContextApplication, Outcome
from domain.base import Context
from domain.customer import Customer


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
