"""Money: integer minor units and an ISO 4217 currency code."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import InvalidValue
from domain.money import MAX_MINOR_UNITS, Money


def test_money_holds_minor_units_and_currency() -> None:
    money = Money(1999, "EUR")
    assert (money.minor, money.currency) == (1999, "EUR")
    assert money == Money(1999, "EUR")
    assert money != Money(1999, "USD")


@pytest.mark.parametrize("minor", [0, 1, MAX_MINOR_UNITS])
def test_money_accepts_amounts_in_bounds(minor: int) -> None:
    assert Money(minor, "USD").minor == minor


@pytest.mark.parametrize("minor", [19.99, 1.0, True, False, "100", None])
def test_money_refuses_anything_but_an_int(minor: Any) -> None:
    with pytest.raises(InvalidValue, match="integer"):
        Money(minor, "EUR")


@pytest.mark.parametrize("minor", [-1, MAX_MINOR_UNITS + 1])
def test_money_refuses_amounts_out_of_bounds(minor: int) -> None:
    with pytest.raises(InvalidValue, match="between"):
        Money(minor, "EUR")


@pytest.mark.parametrize("currency", ["", "EU", "EURO", "eur", "Eur", "E1R", "US$", "ÄBC", "E R"])
def test_money_refuses_a_currency_that_is_not_three_capital_letters(currency: str) -> None:
    with pytest.raises(InvalidValue, match="currency"):
        Money(100, currency)


def test_money_is_immutable() -> None:
    money = Money(1, "EUR")
    with pytest.raises(AttributeError):
        money.minor = 2  # type: ignore[misc]


def test_times() -> None:
    assert Money(250, "GBP").times(3) == Money(750, "GBP")
    assert Money(250, "GBP").times(0) == Money(0, "GBP")


def test_times_keeps_the_bounds() -> None:
    with pytest.raises(InvalidValue):
        Money(250, "GBP").times(-1)
    with pytest.raises(InvalidValue):
        Money(MAX_MINOR_UNITS, "GBP").times(2)
    with pytest.raises(InvalidValue):
        Money(250, "GBP").times(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("money", "shown"),
    [
        (Money(123456, "EUR"), "1234.56 EUR"),
        (Money(5, "USD"), "0.05 USD"),
        (Money(1500, "JPY"), "1500 JPY"),
        (Money(1500, "KWD"), "1.500 KWD"),
        (Money(7, "CLF"), "0.0007 CLF"),
    ],
)
def test_amounts_are_shown_in_the_currencys_own_decimal_places(money: Money, shown: str) -> None:
    assert money.shown() == shown


@pytest.mark.parametrize("code", ["ABC", "XXX", "XAU", "eur", "EURO", ""])
def test_only_iso_4217_currencies_with_a_minor_unit_price_anything(code: str) -> None:
    with pytest.raises(InvalidValue, match="ISO 4217"):
        Money(100, code)
