"""Customer: registration and delivery addresses."""

from __future__ import annotations

from typing import Any

import pytest

from domain.customer import MAX_ADDRESSES, Customer
from domain.errors import InvalidValue, RuleViolated
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

CUSTOMER_ID = uid(0xC0FFEE)
HOME = uid(0xA1)
WORK = uid(0xA2)
ADDRESS: dict[str, str] = {
    "line1": "1 High Street",
    "line2": "",
    "city": "Leeds",
    "postal_code": "LS1 1AA",
    "country": "GB",
}


def registered(*steps: tuple) -> Customer:
    customer = Customer.register(CUSTOMER_ID, "Ada", "ada@example.test", CTX)
    return given(Customer, *history(customer, *steps))


def add(address_id: Any, **changes: str) -> tuple:
    return (Customer.add_address, address_id, *{**ADDRESS, **changes}.values())


def with_addresses(count: int) -> Customer:
    return registered(*[add(uid(0xA000 + n)) for n in range(count)])


def test_register() -> None:
    outcome = when_created(Customer.register, CUSTOMER_ID, " Ada ", " ada@example.test ")
    then(outcome, event(Customer.Registered, name="Ada", email="ada@example.test"))
    customer = outcome.aggregate
    assert (customer.id, customer.version, customer.addresses) == (CUSTOMER_ID, 0, {})


@pytest.mark.parametrize(
    ("name", "email"),
    [("", "ada@example.test"), ("n" * 121, "ada@example.test"), ("Ada", "ada.example.test")],
)
def test_register_refuses_bad_values(name: str, email: str) -> None:
    then_error(when_created(Customer.register, CUSTOMER_ID, name, email), InvalidValue)


def test_add_address() -> None:
    customer = registered()
    _, *values = add(HOME, line1=" 1 High Street ", line2=" Flat 2 ")
    then(
        when(customer, Customer.add_address, *values),
        event(Customer.AddressAdded, address_id=HOME, **{**ADDRESS, "line2": "Flat 2"}),
    )
    assert customer.addresses[HOME]["line2"] == "Flat 2"


def test_add_the_same_address_id_again_records_nothing() -> None:
    customer = registered(add(HOME))
    _, *values = add(HOME, city="York")
    then(when(customer, Customer.add_address, *values))
    assert customer.addresses[HOME]["city"] == "Leeds"


def test_add_up_to_the_address_limit() -> None:
    customer = with_addresses(MAX_ADDRESSES - 1)
    _, *values = add(WORK)
    then(
        when(customer, Customer.add_address, *values),
        event(Customer.AddressAdded, address_id=WORK, **ADDRESS),
    )
    assert len(customer.addresses) == MAX_ADDRESSES


def test_add_beyond_the_address_limit_is_refused() -> None:
    _, *values = add(WORK)
    then_error(
        when(with_addresses(MAX_ADDRESSES), Customer.add_address, *values), RuleViolated, "10"
    )


def test_readding_a_known_address_at_the_limit_records_nothing() -> None:
    _, *values = add(uid(0xA000))
    then(when(with_addresses(MAX_ADDRESSES), Customer.add_address, *values))


@pytest.mark.parametrize(
    "changes",
    [
        {"line1": ""},
        {"line1": "l" * 201},
        {"line2": "l" * 201},
        {"city": " "},
        {"city": "c" * 101},
        {"postal_code": ""},
        {"postal_code": "p" * 21},
        {"country": "gb"},
        {"country": "GBR"},
        {"country": "G"},
        {"country": "G1"},
        {"country": "ÉS"},
        {"country": "  "},
    ],
)
def test_add_address_refuses_bad_values(changes: dict[str, str]) -> None:
    _, *values = add(HOME, **changes)
    then_error(when(registered(), Customer.add_address, *values), InvalidValue)
