"""Money in integer minor units with an ISO 4217 currency code; never floats."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import InvalidValue

MAX_MINOR_UNITS = 10**12


@dataclass(frozen=True)
class Money:
    """An amount in minor units (cents) of one currency."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise InvalidValue("money must be an integer number of minor units")
        if not 0 <= self.minor <= MAX_MINOR_UNITS:
            raise InvalidValue(f"amount must be between 0 and {MAX_MINOR_UNITS} minor units")
        code = self.currency
        if not (len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()):
            raise InvalidValue("currency must be a three-letter ISO 4217 code")

    def times(self, quantity: int) -> Money:
        """This amount multiplied by a whole quantity."""
        return Money(self.minor * quantity, self.currency)
