"""Money in integer minor units with an ISO 4217 currency code; never floats.

The ISO 4217 list (the `iso4217` package, ISO's own table) says which codes exist and how
many decimal places each one's minor unit has: 2 for EUR, 0 for JPY, 3 for KWD. Codes with
no minor unit (gold, the SDR, the code for "no currency") cannot price anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from iso4217 import Currency

from domain.errors import InvalidValue

MAX_MINOR_UNITS = 10**12
MINOR_DIGITS: dict[str, int] = {
    currency.code: currency.exponent for currency in Currency if currency.exponent is not None
}
"""Every ISO 4217 currency one can price in, with the decimal places of its minor unit."""
CURRENCY_CODES: tuple[str, ...] = tuple(sorted(MINOR_DIGITS))


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
        if self.currency not in MINOR_DIGITS:
            raise InvalidValue(f"{self.currency!r} is not an ISO 4217 currency with a minor unit")

    def times(self, quantity: int) -> Money:
        """This amount multiplied by a whole quantity."""
        return Money(self.minor * quantity, self.currency)

    def shown(self) -> str:
        """The amount as people read it, in the currency's decimal places: `1234.50 EUR`."""
        digits = MINOR_DIGITS[self.currency]
        if digits == 0:
            return f"{self.minor} {self.currency}"
        whole, fraction = divmod(self.minor, 10**digits)
        return f"{whole}.{fraction:0{digits}d} {self.currency}"
