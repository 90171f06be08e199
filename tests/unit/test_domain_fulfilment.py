"""Fulfilment: opened per seller of a confirmed order; a label is attached once rendered."""

from __future__ import annotations

from domain.errors import InvalidValue
from domain.fulfilment import Fulfilment, fulfilment_id
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

ORDER, SELLER, CUSTOMER = uid(0x0D1), uid(0x5E1), uid(0xC0)
LINES = [{"product_id": str(uid(0x9D)), "title": "Teapot", "quantity": 2}]
TO = {
    "name": "Ada",
    "line1": "1 Loop Rd",
    "line2": "",
    "city": "Lyon",
    "postal_code": "69001",
    "country": "FR",
}
FROM = {**TO, "name": "Acme", "city": "Ghent", "country": "BE"}


def opened() -> Fulfilment:
    return given(
        Fulfilment, *history(Fulfilment.open(ORDER, SELLER, CUSTOMER, LINES, TO, FROM, CTX))
    )


def test_open_is_keyed_by_order_and_seller() -> None:
    outcome = when_created(Fulfilment.open, ORDER, SELLER, CUSTOMER, LINES, TO, None)
    then(
        outcome,
        event(
            Fulfilment.Opened,
            order_id=ORDER,
            seller_id=SELLER,
            customer_id=CUSTOMER,
            lines=LINES,
            ship_to=TO,
            ship_from=None,
        ),
    )
    assert outcome.aggregate is not None
    assert outcome.aggregate.id == fulfilment_id(ORDER, SELLER) != fulfilment_id(ORDER, CUSTOMER)


def test_open_needs_lines_and_good_addresses() -> None:
    then_error(when_created(Fulfilment.open, ORDER, SELLER, CUSTOMER, [], TO, None), InvalidValue)
    bad = {**TO, "country": "France"}
    then_error(
        when_created(Fulfilment.open, ORDER, SELLER, CUSTOMER, LINES, bad, None), InvalidValue
    )


def test_attach_label_once() -> None:
    fulfilment = opened()
    then(
        when(fulfilment, Fulfilment.attach_label, "labels/x.pdf", "application/pdf"),
        event(Fulfilment.LabelAttached, blob_key="labels/x.pdf", content_type="application/pdf"),
    )
    then(when(fulfilment, Fulfilment.attach_label, "labels/x.pdf", "application/pdf"))
    then_error(when(fulfilment, Fulfilment.attach_label, "labels/x.gif", "image/gif"), InvalidValue)
