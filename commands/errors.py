"""Errors the command handlers raise beside the domain's own."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from domain.errors import RuleViolated


class Forbidden(Exception):
    """The actor may not change this aggregate."""


class StaleVersion(Exception):
    """The client's expected version no longer matches the aggregate."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"expected version {expected}, aggregate is at version {actual}")
        self.expected = expected
        self.actual = actual


class TooMuchContention(Exception):
    """Optimistic concurrency kept conflicting until the retry budget ran out."""


class SoldOut(RuleViolated):
    """The projected stock, less what other checkouts claimed, cannot cover a product of the
    cart (refused early)."""

    @classmethod
    def of(cls, product_ids: Iterable[UUID]) -> SoldOut:
        """The refusal naming these products."""
        return cls(f"sold out: {', '.join(sorted(map(str, product_ids)))}")
