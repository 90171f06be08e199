"""Seller: registration, profile updates and suspension."""

from __future__ import annotations

import pytest

from domain.errors import InvalidValue, RuleViolated
from domain.seller import Seller
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

SELLER_ID = uid(0x5E11E4)


def registered(*steps: tuple) -> Seller:
    return given(
        Seller, *history(Seller.register(SELLER_ID, "Acme", "sales@acme.test", CTX), *steps)
    )


def test_register_records_stripped_name_and_email() -> None:
    outcome = when_created(Seller.register, SELLER_ID, "  Acme Ltd ", " sales@acme.test ")
    then(outcome, event(Seller.Registered, name="Acme Ltd", email="sales@acme.test"))
    seller = outcome.aggregate
    assert (seller.id, seller.version, seller.suspended) == (SELLER_ID, 0, False)


@pytest.mark.parametrize(
    ("name", "email"),
    [
        ("", "sales@acme.test"),
        ("   ", "sales@acme.test"),
        ("x" * 121, "sales@acme.test"),
        ("Acme", ""),
        ("Acme", "no-at-sign.test"),
        ("Acme", "@acme.test"),
        ("Acme", "sales@localhost"),
        ("Acme", "sa les@acme.test"),
        ("Acme", "a@" + "b" * 250 + ".test"),
    ],
)
def test_register_refuses_bad_name_or_email(name: str, email: str) -> None:
    then_error(when_created(Seller.register, SELLER_ID, name, email), InvalidValue)


def test_register_accepts_name_at_its_bound() -> None:
    then(
        when_created(Seller.register, SELLER_ID, "x" * 120, "a@b.test"),
        event(Seller.Registered, name="x" * 120, email="a@b.test"),
    )


def test_update_profile() -> None:
    seller = registered()
    outcome = when(seller, Seller.update_profile, " Acme Two ", "hello@acme.test")
    then(outcome, event(Seller.ProfileUpdated, name="Acme Two", email="hello@acme.test"))
    assert (seller.name, seller.email) == ("Acme Two", "hello@acme.test")


def test_update_profile_after_an_earlier_update() -> None:
    seller = registered((Seller.update_profile, "Acme Two", "two@acme.test"))
    then(
        when(seller, Seller.update_profile, "Acme Three", "three@acme.test"),
        event(Seller.ProfileUpdated, name="Acme Three", email="three@acme.test"),
    )
    assert seller.version == 2


def test_update_profile_refuses_bad_email() -> None:
    then_error(when(registered(), Seller.update_profile, "Acme", "nope"), InvalidValue)


def test_suspended_seller_cannot_update_profile() -> None:
    seller = registered((Seller.suspend, "fraud"))
    then_error(
        when(seller, Seller.update_profile, "Acme", "x@acme.test"), RuleViolated, "suspended"
    )


def test_suspend() -> None:
    seller = registered()
    then(
        when(seller, Seller.suspend, " chargebacks "), event(Seller.Suspended, reason="chargebacks")
    )
    assert seller.suspended


def test_suspend_twice_records_one_event() -> None:
    seller = registered((Seller.suspend, "fraud"))
    then(when(seller, Seller.suspend, "again"))
    assert seller.version == 1


@pytest.mark.parametrize("reason", ["", "  ", "r" * 501])
def test_suspend_refuses_bad_reason(reason: str) -> None:
    then_error(when(registered(), Seller.suspend, reason), InvalidValue)


WAREHOUSE = {
    "name": "Acme dispatch",
    "line1": "2 Dock St",
    "line2": "",
    "city": "Ghent",
    "postal_code": "9000",
    "country": "BE",
}


def test_set_address_records_the_checked_address_once() -> None:
    seller = registered()
    then(
        when(seller, Seller.set_address, {**WAREHOUSE, "city": " Ghent "}),
        event(Seller.AddressSet, address=WAREHOUSE),
    )
    assert seller.address == WAREHOUSE
    then(when(seller, Seller.set_address, WAREHOUSE))


def test_set_address_refuses_a_bad_address_or_a_suspended_seller() -> None:
    then_error(
        when(registered(), Seller.set_address, {**WAREHOUSE, "country": "BEL"}), InvalidValue
    )
    suspended = registered((Seller.suspend, "fraud"))
    then_error(when(suspended, Seller.set_address, WAREHOUSE), RuleViolated, "suspended")
