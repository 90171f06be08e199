"""Product: listing, details, price and delisting."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import InvalidValue, RuleViolated
from domain.money import Money
from domain.product import MAX_ATTRIBUTES, Product
from tests.unit.domain_support import (
    CTX,
    event,
    given,
    history,
    then,
    then_error,
    uid,
    when,
    when_created,
)

PRODUCT_ID = uid(0x9D)
SELLER_ID = uid(0x5E11E4)
PRICE = Money(1999, "EUR")
DETAILS: dict[str, Any] = {
    "title": "Teapot",
    "description": "Short and stout.",
    "category": "kitchen",
    "attributes": {"colour": "white"},
}


def listed(*steps: tuple) -> Product:
    product = Product.list(PRODUCT_ID, SELLER_ID, *DETAILS.values(), PRICE, CTX)
    return given(Product, *history(product, *steps))


def list_with(**changes: Any) -> Any:
    details = {**DETAILS, **changes}
    price = details.pop("price", PRICE)
    return when_created(
        Product.list,
        PRODUCT_ID,
        SELLER_ID,
        details["title"],
        details["description"],
        details["category"],
        details["attributes"],
        price,
    )


def test_list_records_every_detail_and_the_price() -> None:
    outcome = list_with(title=" Teapot ", attributes={" colour ": " white "})
    then(
        outcome,
        event(
            Product.Listed,
            seller_id=SELLER_ID,
            title="Teapot",
            description="Short and stout.",
            category="kitchen",
            attributes={"colour": "white"},
            price_minor=1999,
            currency="EUR",
        ),
    )
    product = outcome.aggregate
    assert (product.version, product.price, product.delisted) == (0, PRICE, False)


def test_list_refuses_a_zero_price() -> None:
    then_error(list_with(price=Money(0, "EUR")), InvalidValue, "positive")


def test_list_accepts_an_empty_description_and_no_attributes() -> None:
    outcome = list_with(description="", attributes={})
    assert outcome.error is None
    assert outcome.events[0].description == ""
    assert outcome.events[0].attributes == {}


@pytest.mark.parametrize(
    "changes",
    [
        {"title": ""},
        {"title": "t" * 201},
        {"description": "d" * 5001},
        {"category": " "},
        {"category": "c" * 81},
        {"attributes": {"": "v"}},
        {"attributes": {"k" * 51: "v"}},
        {"attributes": {"k": ""}},
        {"attributes": {"k": "v" * 201}},
        {"attributes": {f"k{i}": "v" for i in range(MAX_ATTRIBUTES + 1)}},
    ],
)
def test_list_refuses_details_out_of_bounds(changes: dict[str, Any]) -> None:
    then_error(list_with(**changes), InvalidValue)


def test_list_accepts_details_at_their_bounds() -> None:
    attributes = {f"{i:0>50}": "v" * 200 for i in range(MAX_ATTRIBUTES)}
    outcome = list_with(
        title="t" * 200, description="d" * 5000, category="c" * 80, attributes=attributes
    )
    assert outcome.error is None
    assert outcome.events[0].attributes == attributes


def test_update_details() -> None:
    product = listed()
    then(
        when(product, Product.update_details, "Big teapot", "", "tea", {"size": "L"}),
        event(
            Product.DetailsUpdated,
            title="Big teapot",
            description="",
            category="tea",
            attributes={"size": "L"},
        ),
    )
    assert product.attributes == {"size": "L"}


def test_update_details_refuses_too_many_attributes() -> None:
    attributes = {f"k{i}": "v" for i in range(MAX_ATTRIBUTES + 1)}
    then_error(
        when(listed(), Product.update_details, "T", "", "c", attributes),
        InvalidValue,
        "attributes",
    )


def test_change_price() -> None:
    product = listed()
    then(
        when(product, Product.change_price, Money(2500, "EUR")),
        event(Product.PriceChanged, price_minor=2500, currency="EUR"),
    )
    assert product.price == Money(2500, "EUR")


def test_change_price_to_another_currency_is_a_change() -> None:
    then(
        when(listed(), Product.change_price, Money(1999, "USD")),
        event(Product.PriceChanged, price_minor=1999, currency="USD"),
    )


def test_change_price_to_the_same_price_records_nothing() -> None:
    then(when(listed(), Product.change_price, Money(1999, "EUR")))


def test_change_price_back_after_an_earlier_change_is_recorded() -> None:
    product = listed((Product.change_price, Money(1, "EUR")))
    then(
        when(product, Product.change_price, PRICE),
        event(Product.PriceChanged, price_minor=1999, currency="EUR"),
    )


def test_change_price_refuses_zero() -> None:
    then_error(when(listed(), Product.change_price, Money(0, "EUR")), InvalidValue, "positive")


def test_delist() -> None:
    product = listed()
    then(
        when(product, Product.delist, "discontinued"),
        event(Product.Delisted, reason="discontinued"),
    )
    assert product.delisted


def test_delist_allows_an_empty_reason() -> None:
    then(when(listed(), Product.delist, ""), event(Product.Delisted, reason=""))


def test_delist_refuses_a_reason_that_is_too_long() -> None:
    then_error(when(listed(), Product.delist, "r" * 501), InvalidValue)


def test_delist_twice_records_nothing() -> None:
    then(when(listed((Product.delist, "gone")), Product.delist, "again"))


def test_delisted_product_cannot_change_price() -> None:
    product = listed((Product.delist, "gone"))
    then_error(when(product, Product.change_price, Money(5, "EUR")), RuleViolated, "delisted")


def test_delisted_product_cannot_change_details() -> None:
    product = listed((Product.delist, "gone"))
    then_error(when(product, Product.update_details, "T", "", "c", {}), RuleViolated, "delisted")


def test_delisted_product_refuses_even_the_same_price() -> None:
    product = listed((Product.delist, "gone"))
    then_error(when(product, Product.change_price, PRICE), RuleViolated)
