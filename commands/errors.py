"""Errors the command handlers raise beside the domain's own."""

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
    """The projected availability already shows none of a product left (refused early)."""
